"""The benchmark's blob proxy counts storage operations by kind from the requests on the wire alone."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bench.delay_proxy import DelayProxy, RequestHeads, blob_op_kind

BLOB = "/devstoreaccount1/singleton-locks/testhubname/ab12"


def test_a_lease_action_header_makes_a_lease_op() -> None:
    assert blob_op_kind("PUT", f"{BLOB}?comp=lease", {"x-ms-lease-action": "acquire"}) == "lease"


def test_creating_the_lock_blob_is_a_lease_op() -> None:
    assert blob_op_kind("PUT", BLOB, {"x-ms-blob-type": "BlockBlob", "if-none-match": "*"}) == "lease"


def test_metadata_write_and_properties_read_are_record_ops() -> None:
    assert blob_op_kind("PUT", f"{BLOB}?comp=metadata", {"x-ms-meta-key": "k"}) == "record"
    assert blob_op_kind("HEAD", BLOB, {}) == "record"


def test_creating_the_container_is_another_op() -> None:
    assert blob_op_kind("PUT", "/devstoreaccount1/singleton-locks?restype=container", {}) == "other"


def test_request_heads_split_across_chunks_with_bodies_are_counted_once_each() -> None:
    ops: Counter[str] = Counter()
    heads = RequestHeads(ops)
    first = f"PUT {BLOB}?comp=metadata HTTP/1.1\r\nContent-Length: 4\r\nx-ms-meta-a: b\r\n\r\nbody".encode()
    second = f"PUT {BLOB}?comp=lease HTTP/1.1\r\nx-ms-lease-action: release\r\nContent-Length: 0\r\n\r\n".encode()
    stream = first + second

    for start in range(0, len(stream), 7):
        heads.feed(stream[start : start + 7])

    assert ops == {"record": 1, "lease": 1}


@pytest.mark.asyncio
async def test_proxy_forwards_every_chunk_in_order_counts_each_request_and_passes_the_answer_back() -> None:
    received: list[bytes] = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(1024):
            received.append(chunk)
        writer.write(b"answer")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    proxy = DelayProxy(server.sockets[0].getsockname()[1], 0.01)
    port = await proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        requests = [f"HEAD {BLOB} HTTP/1.1\r\nContent-Length: 0\r\n\r\n".encode() for _ in range(3)]
        for request in requests:
            writer.write(request)
            await writer.drain()
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        await proxy.stop()
        server.close()

    assert b"".join(received) == b"".join(requests)
    assert answer == b"answer"
    assert proxy.ops == {"record": 3}
