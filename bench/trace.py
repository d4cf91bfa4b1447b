"""Which of the project's modules one start request passes through, and how often it moves between them.

One POST of the start route with the default settings, for an ID with no instance, is run in-process (as
the worker calls HttpStartSingle) against Azurite and the Durable API stand-in, after one warm-up POST for
another ID, so that only the request's own work is traced (clients are made once per process). Every call
of a function defined in a project file is seen (`sys.setprofile`); a move is such a call whose nearest
project caller is in another file. A coroutine resumed by the event loop is not a call.

    python -m bench.trace        prints the modules, with the calls into each, and the moves between them
"""

from __future__ import annotations

import asyncio
import dis
import functools
import inspect
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# What a trace leaves out: the tools that drive the request, not the app.
NOT_THE_APP = ("tests/", "bench/", "simulation/")


def project_module(frame: FrameType) -> str | None:
    """The project file a frame runs code of, relative to the root; None for anything else."""
    path = frame.f_code.co_filename
    if not path.startswith(str(ROOT)):
        return None
    relative = path[len(str(ROOT)) + 1 :]
    if relative.startswith(NOT_THE_APP) or "/site-packages/" in relative or relative.startswith("."):
        return None
    return relative


@dataclass
class Trace:
    """The project modules one request ran code in, and the moves between them."""

    calls: Counter[str] = field(default_factory=Counter)
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    # The function each move entered, by move: what a reader follows from one file into the next.
    entered: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @property
    def modules(self) -> list[str]:
        return sorted(self.calls)

    @property
    def move_count(self) -> int:
        return sum(self.moves.values())

    def profile(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call":
            return
        module = project_module(frame)
        if module is None or _resumed(frame):
            return
        self.calls[module] += 1
        caller = frame.f_back
        while caller is not None and project_module(caller) is None:
            caller = caller.f_back
        if caller is not None:
            source = project_module(caller)
            if source is not None and source != module:
                self.moves[(source, module)] += 1
                self.entered[(source, module, frame.f_code.co_qualname)] += 1

    def lines(self) -> list[str]:
        out = [f"{len(self.modules)} modules, {self.move_count} moves between them"]
        out += [f"  {self.calls[module]:4} calls  {module}" for module in self.modules]
        out.append("moves (from -> to: count):")
        for (source, target), count in sorted(self.moves.items()):
            names = sorted(name for (s, t, name) in self.entered if (s, t) == (source, target))
            out.append(f"  {source} -> {target}: {count} ({', '.join(names)})")
        return out


def _resumed(frame: FrameType) -> bool:
    """Whether a 'call' event is not the start of a call: a coroutine or generator is counted once, when it first
    runs (it stands at its code's first RESUME instruction), not when it is made nor when it is resumed."""
    code = frame.f_code
    if not code.co_flags & (inspect.CO_COROUTINE | inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR):
        return False
    return frame.f_lasti != _first_resume(code)


@functools.cache
def _first_resume(code: CodeType) -> int:
    return next((i.offset for i in dis.get_instructions(code) if i.opname == "RESUME"), 0)


async def trace_request(post: Callable[[str], Awaitable[Any]]) -> Trace:
    """Trace one POST for a new ID, after one warm-up POST."""
    await post(f"warm-{uuid.uuid4().hex[:8]}")
    trace = Trace()
    sys.setprofile(trace.profile)
    try:
        await post(f"traced-{uuid.uuid4().hex[:8]}")
    finally:
        sys.setprofile(None)
    # Background work of the request (the lease given back) is the request's too.
    sys.setprofile(trace.profile)
    try:
        await asyncio.sleep(0.2)
    finally:
        sys.setprofile(None)
    return trace


async def main() -> None:
    """Trace one default POST for a new ID against a private Azurite and the Durable API stand-in."""
    import os

    from tests.support.azurite import Azurite
    from tests.support.durable_standin import DurableStandin
    from tests.support.worker import close_loaded, invoke, load_function, start_request

    azurite = Azurite()
    azurite.start()
    durable = DurableStandin(task_hub="TraceHub")
    await durable.start()
    try:
        os.environ["AzureWebJobsStorage"] = azurite.connection_string
        function = load_function("HttpStartSingle")

        async def post(instance_id: str) -> None:
            request = start_request("SingletonOrchestrator", instance_id)
            response = await invoke(function, req=request, starter=durable.starter_binding())
            assert response.status_code == 202, response.get_body()

        print("\n".join((await trace_request(post)).lines()))
        await close_loaded()
    finally:
        await durable.stop()
        azurite.stop()


if __name__ == "__main__":
    asyncio.run(main())
