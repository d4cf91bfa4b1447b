"""The starts under way in this worker process, so that concurrent requests for one ID share them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress

from .status import Observed


class StartsInFlight:
    """The starts under way in this worker process, by task hub and instance ID.

    Concurrent requests for an ID this process is already starting wait here, and are all woken at
    once when that start ends, instead of each polling the lease in storage. The lease still
    decides between processes and hosts.
    """

    def __init__(self) -> None:
        self._ended: dict[tuple[str, str], asyncio.Event] = {}
        self._reads: dict[tuple[str, str], asyncio.Future[Observed]] = {}

    async def wait_for(self, flight: tuple[str, str], timeout: float) -> bool:
        """Wait, bounded, for a start of this ID under way here; False when there is none."""
        ended = self._ended.get(flight)
        if ended is None:
            return False
        with suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), timeout)
        return True

    async def shared_read(self, flight: tuple[str, str], read: Callable[[], Awaitable[Observed]]) -> Observed:
        """One status read for all the requests woken by the same start: they would all read the same."""
        pending = self._reads.get(flight)
        if pending is None:
            pending = self._reads[flight] = asyncio.ensure_future(read())
            pending.add_done_callback(lambda _: self._reads.pop(flight, None))
        return await asyncio.shield(pending)

    @contextmanager
    def lead(self, flight: tuple[str, str]) -> Iterator[None]:
        """Mark this ID as being started here, unless another request already did; cleared on every exit."""
        if flight in self._ended:
            yield
            return
        ended = self._ended[flight] = asyncio.Event()
        try:
            yield
        finally:
            del self._ended[flight]
            ended.set()
