"""The backend's reading of the extension's answers: by HTTP status, never by what the SDK made of them."""

from __future__ import annotations

import socket

import pytest

from singleton_start.adapters.durable_http import DurableBackend, DurableHttp
from singleton_start.core.errors import AlreadyExists, InDoubt, Refused, Unavailable
from singleton_start.core.status import InstanceState
from tests.support.durable_standin import DurableStandin

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORCHESTRATOR = "SingletonOrchestrator"
TIMEOUT = 5.0


async def test_an_empty_500_on_a_status_read_is_unavailable_not_missing(
    backend: DurableBackend, durable: DurableStandin
) -> None:
    durable.add_instance("job", ORCHESTRATOR, "Completed")
    durable.inject_fault("status", "empty_500")
    with pytest.raises(Unavailable, match="empty body"):
        await backend.read("job", TIMEOUT)
    assert (await backend.read("job", TIMEOUT)).state is InstanceState.ENDED


async def test_a_404_on_a_status_read_is_missing(backend: DurableBackend) -> None:
    assert (await backend.read("nobody", TIMEOUT)).state is InstanceState.MISSING


async def test_an_empty_500_on_a_start_leaves_its_outcome_unknown(
    backend: DurableBackend, durable: DurableStandin
) -> None:
    durable.inject_fault("start", "empty_500")
    with pytest.raises(InDoubt):
        await backend.start(ORCHESTRATOR, "job", {"n": 1}, TIMEOUT)


async def test_a_connection_dropped_after_the_start_was_written_leaves_its_outcome_unknown(
    backend: DurableBackend, durable: DurableStandin
) -> None:
    durable.inject_fault("start", "drop_after")
    with pytest.raises(InDoubt):
        await backend.start(ORCHESTRATOR, "job", {"n": 1}, TIMEOUT)
    assert [entry[0] for entry in durable.enqueued_starts] == ["job"]


async def test_a_start_without_an_answer_in_time_leaves_its_outcome_unknown(
    backend: DurableBackend, durable: DurableStandin
) -> None:
    durable.inject_fault("start", "timeout")
    with pytest.raises(InDoubt, match=r"no answer within 0\.2 seconds"):
        await backend.start(ORCHESTRATOR, "job", {"n": 1}, 0.2)


async def test_a_refused_argument_is_a_refusal_that_is_not_already_exists(
    backend: DurableBackend, durable: DurableStandin
) -> None:
    with pytest.raises(Refused) as refusal:
        await backend.start(ORCHESTRATOR, "@entity", {"n": 1}, TIMEOUT)
    assert not isinstance(refusal.value, AlreadyExists)
    assert durable.enqueued_starts == []


async def test_a_start_that_cannot_connect_is_unavailable_and_was_not_sent(durable: DurableStandin) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    starter = durable.starter_binding().replace(f"127.0.0.1:{durable.port}/", f"127.0.0.1:{port}/")
    http = DurableHttp()
    try:
        with pytest.raises(Unavailable, match="could not be opened"):
            await DurableBackend(http, starter).start(ORCHESTRATOR, "job", {"n": 1}, TIMEOUT)
    finally:
        await http.close()


async def test_an_accepted_start_returns(backend: DurableBackend, durable: DurableStandin) -> None:
    await backend.start(ORCHESTRATOR, "job", {"n": 1}, TIMEOUT)
    assert [entry[0] for entry in durable.effective_starts] == ["job"]
