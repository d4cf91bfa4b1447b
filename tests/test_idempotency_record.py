"""The Idempotency-Key record is written before the start: a keyed retry after a lost answer gets the
replay even when the record could not be completed, and no start is sent without a record."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from azure.storage.blob.aio import BlobLeaseClient

from singleton_start.adapters.blob_lease import lock_blob_name
from singleton_start.core.idempotency import entry_name
from tests.conftest import TASK_HUB, LoadApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import key_state, lease_state, poll_until, started_inputs
from tests.support.storage_proxy import StorageProxy, is_lease_release, is_metadata_write
from tests.test_idempotency import KEY, assert_replayed
from tests.test_policies import CONFLICT_POLICIES

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("conflict", CONFLICT_POLICIES)
async def test_keyed_retry_gets_the_replay_when_the_record_could_not_be_completed_after_the_start(
    load_app: LoadApp, durable: DurableStandin, conflict: str
) -> None:
    """The lease is broken while the start is on its way, so the holder can no longer write the record:
    only the "starting" record written before the start is left, and it must be enough."""
    app = await load_app(SINGLETON_CONFLICT_POLICY=conflict)
    durable.race_window_seconds = 0.5
    instance_id = new_instance_id()
    lock_blob = app.endpoint.locks.container.get_blob_client(lock_blob_name(TASK_HUB, instance_id))

    first = asyncio.create_task(app.post(instance_id, {"n": 1}, headers=KEY))
    await poll_until(lambda: bool(durable.enqueued_starts))
    await BlobLeaseClient(lock_blob).break_lease(lease_break_period=0)
    first_response = await first
    await app.endpoint.locks.drain()  # the record is completed (here: tried) after the answer
    durable.set_status(instance_id, "Running")
    record = (await lock_blob.get_blob_properties()).metadata

    retry = await app.post(instance_id, {"n": 1}, headers=KEY)

    assert first_response.status_code == 202
    assert_replayed(retry, first_response)
    assert key_state(record, KEY["Idempotency-Key"]) == "starting"
    assert durable.calls["start"] == 1
    assert durable.calls["terminate"] == 0
    assert started_inputs(durable, instance_id) == [{"n": 1}]


async def test_keyed_request_whose_record_cannot_be_written_starts_nothing_and_gets_503(
    load_app: LoadApp, durable: DurableStandin, storage_proxy: StorageProxy
) -> None:
    app = await load_app(AzureWebJobsStorage=storage_proxy.connection_string)
    # The storage client tries a failed call twice.
    storage_proxy.refuse(is_metadata_write, times=2)
    instance_id = new_instance_id()

    response = await app.post(instance_id, {"n": 1}, headers=KEY)

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert durable.calls["start"] == 0
    # A write whose answer failed may still have been made: its "starting" entry counts on no one starting
    # before the lease ends, so the lease is left to expire.
    await app.endpoint.locks.drain()
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "leased"


async def test_keyed_start_whose_status_cannot_be_read_after_it_is_still_202_and_replays(
    load_app: LoadApp, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start was accepted; only the read that would complete the record fails. The caller must be
    told 202, and its keyed retry must still get the replay from the "starting" record."""
    app = await load_app(SINGLETON_START_ATTEMPTS="3")
    original = durable._handle_start

    async def start_then_fail_reads(request: web.Request, function_name: str, instance_id: str) -> web.StreamResponse:
        response = await original(request, function_name, instance_id)
        durable.inject_fault("status", "error", times=3)
        return response

    monkeypatch.setattr(durable, "_handle_start", start_then_fail_reads)
    instance_id = new_instance_id()

    first = await app.post(instance_id, {"n": 1}, headers=KEY)
    await app.endpoint.locks.drain()  # the record is completed (here: tried) after the answer
    durable.clear_faults()
    retry = await app.post(instance_id, {"n": 1}, headers=KEY)

    assert first.status_code == 202
    assert_replayed(retry, first)
    assert started_inputs(durable, instance_id) == [{"n": 1}]


def is_record_completion(request: web.Request) -> bool:
    """The write that marks the key's entry started (the entries are written whole, as metadata)."""
    entry = request.headers.get("x-ms-meta-" + entry_name(KEY["Idempotency-Key"]), "")
    return is_metadata_write(request) and entry.startswith("started;")


async def test_keyed_start_answers_before_its_record_is_completed_and_completes_it_before_the_release(
    load_app: LoadApp, durable: DurableStandin, storage_proxy: StorageProxy
) -> None:
    """The "starting" record written before the start already replays, so the answer need not wait for the
    completed one; it is still written under the lease, before the lease is given back."""
    app = await load_app(AzureWebJobsStorage=storage_proxy.connection_string)
    completion = storage_proxy.delay_request(is_record_completion, seconds=1.0)
    release = storage_proxy.delay_answer(is_lease_release, seconds=0)
    instance_id = new_instance_id()
    lock_blob = app.endpoint.locks.container.get_blob_client(lock_blob_name(TASK_HUB, instance_id))

    response = await app.post(instance_id, {"n": 1}, headers=KEY)
    record_at_answer = (await lock_blob.get_blob_properties()).metadata
    await app.endpoint.locks.drain()
    record = (await lock_blob.get_blob_properties()).metadata

    assert response.status_code == 202
    assert key_state(record_at_answer, KEY["Idempotency-Key"]) == "starting"
    assert key_state(record, KEY["Idempotency-Key"]) == "started"
    assert completion.seen[0] < release.seen[0]
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "available"
