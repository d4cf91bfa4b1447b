"""The benchmark's blob proxy counts storage operations by kind from the requests on the wire alone."""

from __future__ import annotations

from collections import Counter

from bench.delay_proxy import RequestHeads, blob_op_kind

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
