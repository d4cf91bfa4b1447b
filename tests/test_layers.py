"""The layers hold: the core imports no SDK, and one start request stays within the modules and moves the house
allows (bench/trace.py measures both; `python -m bench.trace` prints them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.trace import trace_request
from tests.conftest import StartApp

ROOT = Path(__file__).resolve().parents[1]
FOREIGN = ("azure", "aiohttp", "grpc", "durabletask", "google")
MAX_MODULES = 10
MAX_MOVES = 25


def loaded_after(*modules: str) -> list[str]:
    """The top-level packages a fresh interpreter has loaded after importing `modules`."""
    code = f"import sys; import {', '.join(modules)}; print(__import__('json').dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return sorted({name.split(".")[0] for name in json.loads(result.stdout)})


def test_the_core_imports_no_sdk_no_aiohttp_and_no_grpc() -> None:
    core = [f"singleton_start.core.{name.stem}" for name in (ROOT / "singleton_start/core").glob("*.py")]
    loaded = loaded_after("singleton_start.settings", *core)
    assert [name for name in loaded if name in FOREIGN] == []


def test_the_use_cases_import_no_sdk_either() -> None:
    loaded = loaded_after(
        "singleton_start.service.start", "singleton_start.service.commands", "singleton_start.service.signal"
    )
    assert [name for name in loaded if name in FOREIGN] == []


@pytest.mark.asyncio(loop_scope="session")
async def test_one_start_for_a_new_id_passes_through_at_most_10_modules_and_25_moves(app: StartApp) -> None:
    async def post(instance_id: str) -> None:
        assert (await app.post(instance_id)).status_code == 202

    trace = await trace_request(post)

    assert len(trace.modules) <= MAX_MODULES, trace.lines()
    assert trace.move_count <= MAX_MOVES, trace.lines()
    assert "singleton_start/service/start.py" in trace.modules  # the trace saw the start at all
