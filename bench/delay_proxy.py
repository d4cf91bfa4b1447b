"""A TCP delay line in front of Azurite's blob port: every request of the app's blob calls pays one storage latency.

Each client-to-server chunk is forwarded at its arrival time plus the delay, in order, so the chunks of
one request cost one delay, not one each; answers come back at once. The proxy also reads the request
heads going by and counts the blob operations by kind, from the wire alone, so the counts do not depend
on how the app makes its calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from urllib.parse import parse_qs, urlsplit

CHUNK_BYTES = 64 * 1024


def blob_op_kind(method: str, target: str, headers: dict[str, str]) -> str:
    """The kind of one blob request: the lock (its blob and lease), its record (metadata), or other."""
    query = parse_qs(urlsplit(target).query)
    comp = query.get("comp", [""])[0].lower()
    if "x-ms-lease-action" in headers:
        return "lease"
    if comp == "metadata":
        return "record"
    if query.get("restype", [""])[0].lower() == "container":
        return "other"
    if method == "PUT" and not comp:
        return "lease"  # creating the blob the lease lives on
    if method in ("HEAD", "GET") and not comp:
        return "record"  # the blob's properties carry the record
    return "other"


class RequestHeads:
    """Finds the request heads in one connection's client-to-server bytes (bodies by Content-Length)."""

    def __init__(self, ops: Counter[str]) -> None:
        self._ops = ops
        self._buffer = b""
        self._body_left = 0
        self._lost = False

    def feed(self, data: bytes) -> None:
        if self._lost:
            return
        self._buffer += data
        while True:
            if self._body_left:
                taken = min(self._body_left, len(self._buffer))
                self._buffer, self._body_left = self._buffer[taken:], self._body_left - taken
                if self._body_left:
                    return
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self._buffer = self._buffer[:end].decode("latin-1"), self._buffer[end + 4 :]
            self._count(head)

    def _count(self, head: str) -> None:
        request_line, *lines = head.split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        self._ops[blob_op_kind(method, target, headers)] += 1
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._ops["unparsed"] += 1  # no body length to skip: stop reading this connection
            self._lost = True
        self._body_left = int(headers.get("content-length", "0"))


class DelayProxy:
    """Listens on 127.0.0.1 and forwards each connection to the upstream port through a delay line."""

    def __init__(self, upstream_port: int, delay_seconds: float) -> None:
        self.upstream_port = upstream_port
        self.delay_seconds = delay_seconds
        self.ops: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Start listening; returns the port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            self._connections.discard(task)
            return
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        try:
            await asyncio.gather(
                self._read_requests(client_reader, line),
                self._forward_late(line, server_writer),
                self._answer(server_reader, client_writer),
            )
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a connection ends however its peers or the proxy's stop end it
        finally:
            for writer in (server_writer, client_writer):
                writer.close()
            self._connections.discard(task)

    async def _read_requests(self, reader: asyncio.StreamReader, line: asyncio.Queue[tuple[float, bytes]]) -> None:
        loop = asyncio.get_running_loop()
        heads = RequestHeads(self.ops)
        while chunk := await reader.read(CHUNK_BYTES):
            heads.feed(chunk)
            line.put_nowait((loop.time() + self.delay_seconds, chunk))
        line.put_nowait((loop.time() + self.delay_seconds, b""))

    async def _forward_late(self, line: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, chunk = await line.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not chunk:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(CHUNK_BYTES):
            writer.write(chunk)
            await writer.drain()
        writer.close()
