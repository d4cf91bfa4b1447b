"""Instance IDs holding a percent escape would reach the extension as another ID, so they are refused."""

from __future__ import annotations

import pytest

from tests.conftest import StartApp, body_of, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import started_inputs

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize(("escaped", "alias"), [("a%41", "aA"), ("order%201", "order 1"), ("%C3%A9", "é")])
async def test_an_id_with_a_percent_escape_gets_400_naming_the_id_it_would_become(
    app: StartApp, durable: DurableStandin, escaped: str, alias: str
) -> None:
    suffix = new_instance_id("-")
    response = await app.post(escaped + suffix)
    assert response.status_code == 400
    body = body_of(response)
    assert body["error"] == "invalid_instance_id"
    assert "decodes percent escapes" in body["message"]
    assert repr(alias + suffix) in body["message"]
    assert sum(durable.calls.values()) == 0
    assert durable.enqueued_starts == []


@pytest.mark.parametrize("percent_id", ["50%", "100%zz", "a%4", "%g1"])
async def test_a_percent_without_two_hex_digits_reaches_the_backend_unchanged(
    app: StartApp, durable: DurableStandin, percent_id: str
) -> None:
    instance_id = percent_id + new_instance_id("-")
    response = await app.post(instance_id, {"n": 1})
    assert response.status_code == 202
    assert body_of(response)["id"] == instance_id
    assert started_inputs(durable, instance_id) == [{"n": 1}]
    assert (await app.post(instance_id, {"n": 2})).status_code == 409


async def test_a_plus_reaches_the_backend_as_a_plus_not_a_space(app: StartApp, durable: DurableStandin) -> None:
    instance_id = new_instance_id("a+b")
    assert (await app.post(instance_id, {"n": 1})).status_code == 202
    assert started_inputs(durable, instance_id) == [{"n": 1}]
    assert durable.instance(instance_id.replace("+", " ")) is None
