"""HttpStartSingle end to end in-process: real Azurite, the Durable API stand-in, the real SDK client."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from singleton_start.adapters.blob_lease import LeaseLocks
from tests.conftest import TASK_HUB, LoadApp, StartApp, body_of, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import (
    ACTIVE_STATES,
    ENDED_STATES,
    MANAGEMENT_KEYS,
    assert_check_status_answer,
    lease_state,
    started_inputs,
)
from tests.support.worker import app_defining, invoke, start_request

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_new_instance_id_starts_with_the_body_as_input_and_answers_202(
    app: StartApp, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    response = await app.post(instance_id, {"workItems": 2})

    body = assert_check_status_answer(response, instance_id)
    assert body["statusQueryGetUri"] == f"http://localhost:7071/api/orchestrators/SingletonOrchestrator/{instance_id}"
    assert started_inputs(durable, instance_id) == [{"workItems": 2}]
    assert durable.row(instance_id)["name"] == "SingletonOrchestrator"


async def test_empty_body_starts_with_no_input(app: StartApp, durable: DurableStandin) -> None:
    instance_id = new_instance_id()
    response = await app.post(instance_id)
    assert response.status_code == 202
    assert started_inputs(durable, instance_id) == [None]


async def test_202_in_extension_mode_matches_what_create_check_status_response_makes(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    from azure.durable_functions import DurableOrchestrationClient

    app = await load_app(SINGLETON_MANAGEMENT_LINKS="extension")
    instance_id = new_instance_id()
    response = await app.post(instance_id)
    reference = DurableOrchestrationClient(durable.starter_binding()).create_check_status_response(
        start_request("SingletonOrchestrator", instance_id), instance_id
    )
    assert json.loads(response.get_body()) == json.loads(reference.get_body())
    for header in ("Location", "Retry-After", "Content-Type"):
        assert response.headers[header] == reference.headers[header]


async def test_instance_ids_with_url_special_characters_reach_the_backend_unchanged(
    app: StartApp, durable: DurableStandin
) -> None:
    instance_id = f"job 50% ü & + = {new_instance_id()}"
    response = await app.post(instance_id)
    assert response.status_code == 202
    assert body_of(response)["id"] == instance_id
    assert started_inputs(durable, instance_id) == [None]
    assert "50%25" in body_of(response)["statusQueryGetUri"]
    second = await app.post(instance_id)
    assert second.status_code == 409


@pytest.mark.parametrize("runtime_status", ACTIVE_STATES)
async def test_second_start_while_active_returns_409_and_starts_nothing(
    app: StartApp, durable: DurableStandin, runtime_status: str
) -> None:
    instance_id = new_instance_id()
    assert (await app.post(instance_id, {"n": 1})).status_code == 202
    durable.set_status(instance_id, runtime_status)
    calls_before = durable.calls["start"]

    response = await app.post(instance_id, {"n": 2})

    assert response.status_code == 409
    body = body_of(response)
    assert body["error"] == "conflict"
    assert instance_id in body["message"]
    assert body["instanceId"] == instance_id
    assert body["runtimeStatus"] == runtime_status
    assert body["createdTime"].endswith("Z")
    assert body["lastUpdatedTime"].endswith("Z")
    assert MANAGEMENT_KEYS - {"id"} <= set(body)
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert durable.calls["start"] == calls_before
    assert started_inputs(durable, instance_id) == [{"n": 1}]


@pytest.mark.parametrize("runtime_status", ENDED_STATES)
async def test_ended_instance_is_replaced_by_a_new_start(
    app: StartApp, durable: DurableStandin, runtime_status: str
) -> None:
    instance_id = new_instance_id()
    assert (await app.post(instance_id, {"n": 1})).status_code == 202
    first_created = durable.row(instance_id)["createdTime"]
    durable.set_status(instance_id, runtime_status)

    response = await app.post(instance_id, {"n": 2})

    assert response.status_code == 202
    assert started_inputs(durable, instance_id) == [{"n": 1}, {"n": 2}]
    assert durable.row(instance_id)["runtimeStatus"] == "Pending"
    assert durable.row(instance_id)["createdTime"] > first_created


@pytest.mark.parametrize("name", ["SampleActivity", "HttpStartSingle", "NoSuchThing", "Singleton"])
async def test_names_not_configured_get_404_and_reach_no_backend(
    app: StartApp, durable: DurableStandin, name: str
) -> None:
    response = await app.post(new_instance_id(), function_name=name)
    assert response.status_code == 404
    body = body_of(response)
    assert body["error"] == "unknown_orchestrator"
    assert name in body["message"]
    assert sum(durable.calls.values()) == 0


async def test_case_variant_of_an_allowed_name_starts_the_configured_spelling(
    app: StartApp, durable: DurableStandin
) -> None:
    instance_id = new_instance_id()
    response = await app.post(instance_id, function_name="singletonORCHESTRATOR")
    assert response.status_code == 202
    assert durable.effective_starts == [(instance_id, "SingletonOrchestrator", None)]


async def test_configured_orchestrator_list_is_the_allow_list(
    load_app: LoadApp, durable: DurableStandin, tmp_path: Path
) -> None:
    app = await load_app(
        SINGLETON_ORCHESTRATORS="Monitor, SyncLoop",
        AzureWebJobsScriptRoot=app_defining(tmp_path, "Monitor", "SyncLoop"),
    )
    assert (await app.post(new_instance_id(), function_name="syncloop")).status_code == 202
    assert (await app.post(new_instance_id(), function_name="SingletonOrchestrator")).status_code == 404
    assert [name for _, name, _ in durable.effective_starts] == ["SyncLoop"]


@pytest.mark.parametrize("instance_id", ["@entity", "a\\b", "a#b", "a?b", "a\tb", "x" * 257, "a/b"])
async def test_invalid_instance_id_gets_400_before_any_io(
    app: StartApp, durable: DurableStandin, instance_id: str
) -> None:
    response = await app.post(instance_id, {"n": 1})
    assert response.status_code == 400
    assert body_of(response)["error"] == "invalid_instance_id"
    assert sum(durable.calls.values()) == 0
    assert sum(app.endpoint.locks.calls.values()) == 0


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {}, 400, "invalid_json"),
        (b"NaN", {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (b"a=1", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        (b"x" * 2049, {"Content-Type": "application/json"}, 413, "payload_too_large"),
    ],
)
async def test_bad_bodies_get_their_4xx_and_start_nothing(
    load_app: LoadApp, durable: DurableStandin, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    app = await load_app(SINGLETON_MAX_INPUT_BYTES="2048")
    response = await app.post(new_instance_id(), body, headers=headers)
    assert response.status_code == status
    payload = body_of(response)
    assert payload["error"] == code
    assert payload["message"]
    assert sum(durable.calls.values()) == 0


async def test_body_at_the_size_limit_is_accepted(load_app: LoadApp, durable: DurableStandin) -> None:
    app = await load_app(SINGLETON_MAX_INPUT_BYTES="2048")
    text = json.dumps("x" * 2046).encode()
    assert len(text) == 2048
    assert (await app.post(new_instance_id(), text)).status_code == 202


async def test_backend_that_keeps_failing_gets_503_with_retry_after_and_starts_nothing(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    app = await load_app(SINGLETON_START_ATTEMPTS="3")
    durable.inject_fault("status", "error", times=3)
    instance_id = new_instance_id()
    response = await app.post(instance_id)
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert body_of(response)["error"] == "unavailable"
    assert durable.calls["status"] == 3
    assert durable.calls["start"] == 0
    assert (await app.post(instance_id)).status_code == 202


@pytest.mark.parametrize("mode", ["drop_after", "error_after"])
async def test_start_that_went_through_but_lost_its_answer_is_202_and_not_started_again(
    app: StartApp, durable: DurableStandin, mode: str
) -> None:
    """A keyed start reads the status under the lease, so its lost answer is settled by that read."""
    durable.inject_fault("start", mode)
    instance_id = new_instance_id()
    response = await app.post(instance_id, {"n": 1}, headers={"Idempotency-Key": f"lost-{mode}"})
    assert response.status_code == 202
    assert durable.calls["start"] == 1
    assert started_inputs(durable, instance_id) == [{"n": 1}]


async def test_lease_is_released_after_a_start(app: StartApp, durable: DurableStandin) -> None:
    instance_id = new_instance_id()
    assert (await app.post(instance_id)).status_code == 202
    await app.endpoint.locks.drain()  # the release goes on after the answer
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "available"
    assert app.endpoint.locks.calls["lease_release"] == 1


async def test_duplicate_of_an_active_instance_answers_from_one_status_read_and_gives_an_early_lease_back(
    app: StartApp, durable: DurableStandin
) -> None:
    """The lease is asked for while the status read is on its way; a duplicate answers from the read alone
    and gives the lease back in the background."""
    instance_id = new_instance_id()
    assert (await app.post(instance_id)).status_code == 202
    durable.calls.clear()

    for _ in range(5):
        assert (await app.post(instance_id)).status_code == 409

    assert durable.calls == {"status": 5}
    await app.endpoint.flights.drain()
    assert await lease_state(app.endpoint.locks.container, TASK_HUB, instance_id) == "available"


async def test_lock_held_past_the_wait_budget_gets_503_and_starts_nothing(
    load_app: LoadApp, durable: DurableStandin
) -> None:
    app = await load_app(SINGLETON_LOCK_WAIT_SECONDS="0.3")
    instance_id = new_instance_id()
    other_holder = LeaseLocks(app.endpoint.locks.container, 15)
    lease = await other_holder.try_acquire(TASK_HUB, instance_id, timeout=5)
    assert lease is not None
    try:
        response = await app.post(instance_id)
    finally:
        await other_holder.release(lease)
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert durable.calls["start"] == 0
    assert (await app.post(instance_id)).status_code == 202


async def test_waiter_answers_409_as_soon_as_the_holder_has_started(load_app: LoadApp, durable: DurableStandin) -> None:
    app = await load_app(SINGLETON_LOCK_WAIT_SECONDS="10")
    instance_id = new_instance_id()
    other_holder = LeaseLocks(app.endpoint.locks.container, 15)
    lease = await other_holder.try_acquire(TASK_HUB, instance_id, timeout=5)
    assert lease is not None
    waiter = asyncio.create_task(app.post(instance_id))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    durable.add_instance(instance_id, "SingletonOrchestrator", "Running")
    response = await asyncio.wait_for(waiter, 5)
    await other_holder.release(lease)
    assert response.status_code == 409
    assert durable.calls["start"] == 0


async def test_two_concurrent_starts_in_the_backend_race_window_give_one_202_and_one_409(
    app: StartApp, durable: DurableStandin
) -> None:
    durable.race_window_seconds = 0.2
    instance_id = new_instance_id()
    first, second = await asyncio.gather(app.post(instance_id, {"n": 1}), app.post(instance_id, {"n": 2}))
    assert sorted([first.status_code, second.status_code]) == [202, 409]
    winner_input = {"n": 1} if first.status_code == 202 else {"n": 2}
    assert started_inputs(durable, instance_id) == [winner_input]
    assert durable.accepted_starts == 1


async def test_broken_starter_binding_is_a_logged_500_without_a_stack_trace(
    app: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    instance_id = new_instance_id()
    with caplog.at_level(logging.INFO, logger="singleton_start"):
        response = await invoke(app.function, req=start_request("SingletonOrchestrator", instance_id), starter="{}")
    assert response.status_code == 500
    body = body_of(response)
    assert body["error"] == "internal"
    assert "Traceback" not in response.get_body().decode()
    assert set(body) == {"error", "message"}
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert errors and instance_id in errors[0].getMessage()


async def test_one_structured_log_line_per_request(
    app: StartApp, durable: DurableStandin, caplog: pytest.LogCaptureFixture
) -> None:
    instance_id = new_instance_id()
    with caplog.at_level(logging.INFO, logger="singleton_start"):
        await app.post(instance_id)
        await app.post(instance_id)
        await app.post("@bad")
    lines = [json.loads(record.getMessage()) for record in caplog.records if record.levelno == logging.INFO]
    assert [(line["outcome"], line["status"]) for line in lines] == [
        ("started", 202),
        ("conflict", 409),
        ("invalid", 400),
    ]
    fields = {"event", "route", "instanceId", "orchestrator", "outcome", "status", "durationMs"}
    # The lock and start figures come from the start use case, which an invalid request never reaches.
    assert [set(line) for line in lines] == [fields | {"lockWaitMs", "startAttempts"}] * 2 + [fields]
    for line in lines:
        assert line["route"] == "POST orchestrators/{functionName}/{instanceId}"
        assert line["durationMs"] >= 0
    assert lines[0]["instanceId"] == instance_id


async def test_a_request_logs_its_one_line_and_nothing_from_the_storage_sdk(
    app: StartApp, durable: DurableStandin, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert (await app.post(new_instance_id())).status_code == 202
    assert [record.name for record in caplog.records if record.levelno >= logging.INFO] == ["singleton_start"]


async def test_lost_answer_of_a_start_over_an_instance_created_in_the_same_second_is_still_202(
    app: StartApp, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The status API gives createdTime to the second: the old and the new instance look alike but for
    # their state and input.
    moment = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    monkeypatch.setattr(durable, "_now", lambda: moment)
    instance_id = new_instance_id()
    durable.add_instance(instance_id, "SingletonOrchestrator", "Completed", json.dumps({"n": 1}))
    durable.inject_fault("start", "drop_after")

    # Keyed, so the status is read under the lease and the lost answer settled against that read.
    response = await app.post(instance_id, {"n": 2}, headers={"Idempotency-Key": "same-second"})

    assert response.status_code == 202
    assert durable.calls["start"] == 1
    assert started_inputs(durable, instance_id) == [{"n": 2}]


async def test_storage_client_is_made_once_when_the_function_loads_not_per_request(
    load_app: LoadApp, durable: DurableStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.blob.aio import BlobServiceClient

    made: list[object] = []
    real_factory = BlobServiceClient.from_connection_string.__func__  # type: ignore[attr-defined]

    def counting_factory(cls: type[BlobServiceClient], /, *args: object, **kwargs: object) -> BlobServiceClient:
        client: BlobServiceClient = real_factory(cls, *args, **kwargs)
        made.append(client)
        return client

    monkeypatch.setattr(BlobServiceClient, "from_connection_string", classmethod(counting_factory))
    app = await load_app()
    for _ in range(3):
        assert (await app.post(new_instance_id())).status_code == 202
    assert len(made) == 1
