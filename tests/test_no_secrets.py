"""No secret reaches an answer or a log line: not the storage account key, not the connection
string, not the caller's function key, whatever the outcome."""

from __future__ import annotations

import logging
import secrets
import traceback
from typing import TYPE_CHECKING
from urllib.parse import quote

import azure.functions as func
import pytest

from singleton_start.adapters.blob_lease import STORAGE_CONNECTION
from singleton_start.settings import SettingsError
from tests.conftest import LoadApp, StartApp, new_instance_id
from tests.support.azurite import Azurite, free_port
from tests.support.durable_standin import DurableStandin
from tests.support.worker import PUBLIC_BASE_URL, invoke, load_function

if TYPE_CHECKING:
    from tests.support.scenario_report import ScenarioReport

pytest_plugins = ["tests.support.scenario_report"]
pytestmark = pytest.mark.asyncio(loop_scope="session")

FUNCTION_KEY = secrets.token_urlsafe(32)


class Caller:
    """Sends requests as a client in Azure does, with the function key in the header and the query."""

    def __init__(self, app: StartApp, answers: list[func.HttpResponse]) -> None:
        self.app = app
        self.answers = answers

    async def post(
        self,
        instance_id: str,
        body: bytes = b"",
        *,
        function_name: str = "SingletonOrchestrator",
        headers: dict[str, str] | None = None,
        starter: str | None = None,
    ) -> int:
        path = f"api/orchestrators/{quote(function_name, safe='')}/{quote(instance_id, safe='')}"
        request = func.HttpRequest(
            "POST",
            f"{PUBLIC_BASE_URL}/{path}?code={FUNCTION_KEY}",
            headers={"x-functions-key": FUNCTION_KEY, "Content-Type": "application/json", **(headers or {})},
            params={"code": FUNCTION_KEY},
            route_params={"functionName": function_name, "instanceId": instance_id},
            body=body,
        )
        starter = self.app.durable.starter_binding() if starter is None else starter
        response = await invoke(self.app.function, req=request, starter=starter)
        self.answers.append(response)
        status_code: int = response.status_code
        return status_code


def written_forms(secret: str) -> set[str]:
    """A secret as it could be written: as it is, or escaped into a URL."""
    return {secret, quote(secret, safe=""), quote(secret)}


async def test_no_secret_in_any_answer_or_log_line_of_any_outcome(
    load_app: LoadApp,
    azurite: Azurite,
    durable: DurableStandin,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    scenario_report: ScenarioReport,
) -> None:
    """One request per outcome, every log record of every logger at DEBUG and every answer searched."""
    caplog.set_level(logging.DEBUG)
    # The app turns the storage SDK's per-call HTTP log down; a host's logging settings can turn it up.
    caplog.set_level(logging.DEBUG, logger="azure.core.pipeline.policies.http_logging_policy")
    answers: list[func.HttpResponse] = []
    caller = Caller(await load_app(SINGLETON_MAX_INPUT_BYTES="1024", SINGLETON_START_ATTEMPTS="2"), answers)
    instance_id, keyed_id = new_instance_id(), new_instance_id()
    outcomes = {
        "started": await caller.post(instance_id, b'{"n": 1}'),
        "conflict": await caller.post(instance_id, b'{"n": 2}'),
        "invalid ID": await caller.post("@entity"),
        "invalid JSON": await caller.post(new_instance_id(), b"{"),
        "invalid key": await caller.post(new_instance_id(), headers={"Idempotency-Key": "k" * 300}),
        "unknown name": await caller.post(new_instance_id(), function_name="SampleActivity"),
        "too large": await caller.post(new_instance_id(), b"1" * 2048),
        "media type": await caller.post(new_instance_id(), b"{}", headers={"Content-Type": "text/plain"}),
        "keyed start": await caller.post(keyed_id, b'{"n": 1}', headers={"Idempotency-Key": "key-1"}),
        "key reused": await caller.post(keyed_id, b'{"n": 2}', headers={"Idempotency-Key": "key-1"}),
        "broken binding": await caller.post(new_instance_id(), starter="{}"),
    }
    durable.inject_fault("status", "error", times=10)  # every read of the request fails
    outcomes["backend down"] = await caller.post(new_instance_id())

    # Storage that refuses connections, addressed with the real account key.
    dead_storage = azurite.connection_string.replace(f":{azurite.port}/", f":{free_port()}/")
    monkeypatch.setenv(STORAGE_CONNECTION, dead_storage)
    storage_down = StartApp(load_function("HttpStartSingle"), durable)
    try:
        outcomes["storage down"] = await Caller(storage_down, answers).post(new_instance_id())
    finally:
        await storage_down.endpoint.close()

    # A connection string the app cannot use fails the load; the worker logs that error.
    monkeypatch.setenv(STORAGE_CONNECTION, f"AccountKey={azurite.account_key}")
    with pytest.raises(SettingsError) as refused:
        load_function("HttpStartSingle")
    load_error = "".join(traceback.format_exception(refused.value))

    scenario_report.record(
        "one request per outcome, carrying a function key", outcomes.values(), len(durable.effective_starts)
    )
    assert outcomes == {
        "started": 202,
        "conflict": 409,
        "invalid ID": 400,
        "invalid JSON": 400,
        "invalid key": 400,
        "unknown name": 404,
        "too large": 413,
        "media type": 415,
        "keyed start": 202,
        "key reused": 422,
        "broken binding": 500,
        "backend down": 503,
        "storage down": 503,
    }
    assert any(record.name.startswith("azure.") for record in caplog.records), "the storage SDK's logs were searched"

    searched = [
        load_error,
        caplog.text,
        *(record.getMessage() for record in caplog.records),
        *(response.get_body().decode("utf-8", errors="replace") for response in answers),
        *(f"{name}: {value}" for response in answers for name, value in response.headers.items()),
    ]
    secrets_searched = {
        "Durable extension system key": durable.system_key,
        "storage account key": azurite.account_key,
        "connection string": azurite.connection_string,
        "unreachable connection string": dead_storage,
        "function key": FUNCTION_KEY,
    }
    for name, secret in secrets_searched.items():
        for form in written_forms(secret):
            leaks = [text[:120] for text in searched if form in text]
            assert not leaks, f"the {name} appears in {leaks}"
