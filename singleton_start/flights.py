"""The starts under way in this worker process, so that concurrent requests for one ID share them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
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
        self._background: set[asyncio.Task[None]] = set()

    def in_background(self, work: Coroutine[None, None, None]) -> None:
        """Run bounded work after the answer (an early lease given back), kept until done so `drain` can wait."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for the work left in the background, e.g. before the clients it uses are closed."""
        if self._background:
            await asyncio.wait(set(self._background))

    def claim(self, flight: tuple[str, str]) -> bool:
        """Mark this ID as being started here before the request knows it will start: True when this request
        now leads (it must then `lead(flight, claimed=True)` or `give_up(flight)`), False when another does."""
        if flight in self._ended:
            return False
        self._ended[flight] = asyncio.Event()
        return True

    def give_up(self, flight: tuple[str, str]) -> None:
        """End a claim whose request answered without starting; whoever waits on it is woken."""
        self._ended.pop(flight).set()

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
    def lead(self, flight: tuple[str, str], *, claimed: bool = False) -> Iterator[None]:
        """Mark this ID as being started here, unless another request already did (or this one `claim`ed it);
        cleared on every exit."""
        if claimed:
            ended = self._ended[flight]
        elif flight in self._ended:
            yield
            return
        else:
            ended = self._ended[flight] = asyncio.Event()
        try:
            yield
        finally:
            del self._ended[flight]
            ended.set()
