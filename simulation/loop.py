"""A deterministic asyncio event loop on virtual time.

`loop.time()` is a counter; when nothing is ready, the selector moves it to the next timer instead of
blocking, so a run of minutes takes milliseconds and the same callbacks run in the same order every time.
There is no real I/O: no self-pipe, no sockets, no threads.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Mapping
from typing import Any


class Stuck(Exception):
    """Nothing is ready and no timer is due: every task waits on something that will never happen."""


class _VirtualSelector(selectors.BaseSelector):
    """A selector with nothing to watch: select() advances the loop's clock by its timeout."""

    def __init__(self) -> None:
        self.now = 0.0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        raise NotImplementedError("the virtual loop does no I/O")

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        raise NotImplementedError("the virtual loop does no I/O")

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise Stuck("no task can make progress and no timer is due")
        self.now += timeout
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return {}

    def close(self) -> None:
        pass


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when every task waits for a timer."""

    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)
        # Timers due within this much of now run together; asyncio's default is the real clock's resolution.
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual.now

    def _make_self_pipe(self) -> None:
        pass

    def _close_self_pipe(self) -> None:
        pass

    def _write_to_self(self) -> None:
        pass

    def _process_self_data(self, data: bytes) -> None:
        pass


class LoopScheduler:
    """The model's Scheduler on a virtual loop: the model's events are the loop's timers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()

    def at(self, when: float, callback: Callable[[], None]) -> None:
        self._loop.call_at(when, callback)
