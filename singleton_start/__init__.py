"""Start a Durable Functions orchestrator as exactly one instance per instance ID.

The layers, each a folder: `core` (pure: statuses, decisions, outcomes, errors, ports, the answers of both SDK
lines), `service` (the use cases over the ports: holding an ID, the start, terminate and signal), `adapters` (the
Durable extension over HTTP and gRPC, the blob lease, the clock) and `http` (the contract, the one HTTP adapter,
the routes, the Blueprint); settings at the top. A decorator-model app takes the routes as one Blueprint:
`from singleton_start import singleton_start_blueprint`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .http.blueprint import singleton_start_blueprint as singleton_start_blueprint


def __getattr__(name: str) -> Any:
    # Imported on first use, so that importing the core loads no SDK.
    if name == "singleton_start_blueprint":
        from .http.blueprint import singleton_start_blueprint

        return singleton_start_blueprint
    raise AttributeError(f"module 'singleton_start' has no attribute {name!r}")
