"""The 2.x adapter against durabletask's in-memory sidecar, through the 2.x SDK's own client made from the
binding the extension hands over: each answer is classified as the Backend port says."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("durabletask", reason="azure-functions-durable 2.x (Python 3.13+) is not installed")

import pytest_asyncio
from azure.durable_functions.client import DurableFunctionsClient

from singleton_start.adapters.durable_grpc import GrpcBackend
from singleton_start.core.errors import AlreadyExists, InDoubt, NoInstance, Unavailable
from singleton_start.core.status import MISSING, InstanceState
from tests.support.azurite import free_port
from tests.support.grpc_peer import (
    STOP_EVENT,
    TASK_HUB,
    WAITER,
    AnswerDroppingProxy,
    Sidecar,
    client_binding,
    running_sidecar,
)
from tests.support.observe import poll_until

pytestmark = pytest.mark.asyncio(loop_scope="session")
TIMEOUT = 5.0


sidecar = pytest.fixture(scope="module", name="sidecar")(running_sidecar)


@pytest_asyncio.fixture(loop_scope="session")
async def backend(sidecar: Sidecar) -> AsyncIterator[GrpcBackend]:
    client = DurableFunctionsClient(client_binding(sidecar.address))
    yield GrpcBackend(client)
    await client.close()


def new_id() -> str:
    return f"grpc-{uuid.uuid4().hex[:12]}"


async def state_of(backend: GrpcBackend, instance_id: str, runtime_status: str) -> None:
    async def reached() -> bool:
        return (await backend.read(instance_id, TIMEOUT)).runtime_status == runtime_status

    await poll_until(reached)


async def test_the_task_hub_comes_from_the_binding(backend: GrpcBackend) -> None:
    assert backend.task_hub == TASK_HUB


async def test_start_then_read_shows_the_instance_running_with_its_input(backend: GrpcBackend) -> None:
    instance_id = new_id()
    await backend.start(WAITER, instance_id, {"workItems": 2}, TIMEOUT)
    await state_of(backend, instance_id, "Running")
    observed = await backend.read(instance_id, TIMEOUT, with_input=True)
    assert observed.state is InstanceState.ACTIVE
    assert observed.has_input({"workItems": 2})
    status = await backend.read(instance_id, TIMEOUT, with_input=False)
    assert status.name == WAITER and status.input is None


async def test_a_second_start_of_a_running_instance_is_refused_as_already_existing(backend: GrpcBackend) -> None:
    instance_id = new_id()
    await backend.start(WAITER, instance_id, None, TIMEOUT)
    with pytest.raises(AlreadyExists):
        await backend.start(WAITER, instance_id, None, TIMEOUT)


async def test_an_unknown_id_reads_as_missing(backend: GrpcBackend) -> None:
    instance_id = new_id()
    assert not (await backend.read(instance_id, TIMEOUT)).exists
    assert await backend.read(instance_id, TIMEOUT) == MISSING


async def test_an_event_to_an_unknown_id_is_not_found(backend: GrpcBackend) -> None:
    with pytest.raises(NoInstance):
        await backend.raise_event(new_id(), STOP_EVENT, None, TIMEOUT)


async def test_the_stop_event_ends_the_instance_with_the_event_data_as_output(backend: GrpcBackend) -> None:
    instance_id = new_id()
    await backend.start(WAITER, instance_id, None, TIMEOUT)
    await state_of(backend, instance_id, "Running")
    await backend.raise_event(instance_id, STOP_EVENT, {"by": "test"}, TIMEOUT)
    await state_of(backend, instance_id, "Completed")
    status = await backend.read(instance_id, TIMEOUT)
    assert status.output == {"by": "test"}


async def test_terminate_ends_the_instance_with_the_reason_as_output(backend: GrpcBackend) -> None:
    instance_id = new_id()
    await backend.start(WAITER, instance_id, None, TIMEOUT)
    await state_of(backend, instance_id, "Running")
    await backend.terminate(instance_id, "Terminated on request.", TIMEOUT)
    await state_of(backend, instance_id, "Terminated")
    status = await backend.read(instance_id, TIMEOUT)
    assert status.output == "Terminated on request."


async def test_a_start_replaces_an_ended_instance_as_non_running_states_allow(backend: GrpcBackend) -> None:
    instance_id = new_id()
    await backend.start(WAITER, instance_id, {"run": 1}, TIMEOUT)
    await backend.terminate(instance_id, "done", TIMEOUT)
    await state_of(backend, instance_id, "Terminated")
    await backend.start(WAITER, instance_id, {"run": 2}, TIMEOUT)
    await state_of(backend, instance_id, "Running")
    assert (await backend.read(instance_id, TIMEOUT, with_input=True)).has_input({"run": 2})


async def test_a_start_to_a_closed_port_is_unavailable_and_certainly_not_sent() -> None:
    client = DurableFunctionsClient(client_binding(f"localhost:{free_port()}"))
    try:
        with pytest.raises(Unavailable):
            await GrpcBackend(client).start(WAITER, new_id(), None, TIMEOUT)
        with pytest.raises(Unavailable):
            await GrpcBackend(client).read(new_id(), TIMEOUT)
    finally:
        await client.close()


async def test_a_start_whose_answer_is_lost_after_it_arrived_is_unknown_and_did_land(
    sidecar: Sidecar, backend: GrpcBackend
) -> None:
    proxy = AnswerDroppingProxy(sidecar.port)
    await proxy.start()
    client = DurableFunctionsClient(client_binding(proxy.address))
    instance_id = new_id()
    try:
        proxy.drop_answer_to(instance_id)
        with pytest.raises(InDoubt):
            await GrpcBackend(client).start(WAITER, instance_id, None, TIMEOUT)
        assert proxy.dropped.is_set()
        # Why "unknown" and not "failed": the start the client saw fail is there. Read while the proxy still
        # holds its connection to the sidecar open: closing it first may cancel the call before it is handled.
        await state_of(backend, instance_id, "Running")
    finally:
        await client.close()
        await proxy.stop()
