"""What a valid start request asks for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .contract import NO_INPUT
from .idempotency import IdempotencyClaim


@dataclass(frozen=True)
class StartCommand:
    orchestrator: str
    instance_id: str
    input: Any
    idempotency: IdempotencyClaim | None = None

    @property
    def input_value(self) -> Any:
        return None if self.input is NO_INPUT else self.input
