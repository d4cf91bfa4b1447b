"""One dropped connection to the extension disturbs only the call it was on.

The SDK's own session is shared by the process and closed on any client error, which fails every
call in flight on it; the app's session is never closed because of one call.
"""

from __future__ import annotations

import asyncio
import collections
import json

import pytest

from singleton_start.adapters.durable_http import DurableBackend
from singleton_start.core.errors import InDoubt
from tests.conftest import StartApp, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import enqueued_inputs, started_inputs, status_codes

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORCHESTRATOR = "SingletonOrchestrator"
CONCURRENT = 40
SHARED_IDS = 2
CALLERS_PER_SHARED_ID = 5
# Long enough that every call is in flight on the stand-in when the first one is dropped.
LATENCY_SECONDS = 0.3


async def test_one_dropped_start_among_40_concurrent_calls_fails_only_itself(
    backend: DurableBackend, durable: DurableStandin
) -> None:
    durable.latency_seconds = LATENCY_SECONDS
    durable.inject_fault("start", "drop")
    starts = [backend.start(ORCHESTRATOR, new_instance_id(), {"n": 1}, 10) for _ in range(CONCURRENT // 2)]
    reads = [backend.read(new_instance_id(), 10) for _ in range(CONCURRENT // 2)]

    results = await asyncio.gather(*starts, *reads, return_exceptions=True)

    failures = [result for result in results if isinstance(result, BaseException)]
    assert len(failures) == 1
    assert isinstance(failures[0], InDoubt)


async def test_one_dropped_start_among_40_concurrent_requests_queues_no_second_input_and_answers_no_500(
    app: StartApp, durable: DurableStandin
) -> None:
    durable.latency_seconds = LATENCY_SECONDS
    durable.inject_fault("start", "drop_after")
    single_ids = [new_instance_id() for _ in range(CONCURRENT - SHARED_IDS * CALLERS_PER_SHARED_ID)]
    shared_ids = [new_instance_id("shared") for _ in range(SHARED_IDS)]
    calls = [(instance_id, {"caller": 0}) for instance_id in single_ids] + [
        (instance_id, {"caller": caller}) for instance_id in shared_ids for caller in range(CALLERS_PER_SHARED_ID)
    ]

    responses = await asyncio.gather(*(app.post(instance_id, body) for instance_id, body in calls))

    assert set(status_codes(responses)) <= {202, 409, 503}
    # A single ID's start whose answer is dropped in the second its lease was granted may still run: 503.
    assert all(response.status_code in (202, 503) for response in responses[: len(single_ids)])
    told_202 = collections.Counter(
        instance_id for (instance_id, _), response in zip(calls, responses, strict=True) if response.status_code == 202
    )
    for instance_id in single_ids + shared_ids:
        queued = {json.dumps(value, sort_keys=True) for value in enqueued_inputs(durable, instance_id)}
        assert len(queued) <= 1, f"two inputs queued for {instance_id}"
        assert len(started_inputs(durable, instance_id)) <= 1
        assert told_202[instance_id] <= 1


async def test_a_dropped_start_leaves_the_apps_one_session_open(app: StartApp, durable: DurableStandin) -> None:
    session = app.endpoint.durable_http.session()
    durable.inject_fault("start", "drop_after")

    assert (await app.post(new_instance_id(), {"n": 1})).status_code in (202, 503)

    assert app.endpoint.durable_http.session() is session
    assert not session.closed
