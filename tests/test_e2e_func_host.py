"""The app on a real Functions host (`func start`) with Azurite: starts, 409s, Stop events, restarts.

The host tests need Azure Functions Core Tools on PATH and are skipped without it; the helpers that
stage the app and its settings are checked here either way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from sample_job.job import STOP_EVENT_NAME
from tests.conftest import new_instance_id
from tests.support.func_host import (
    APP_ROOT,
    VENV_BIN,
    AzuriteServices,
    FuncHost,
    Reply,
    call,
    host_environment,
    host_settings,
    new_hub_name,
    poll,
    stage_app,
)

FUNC = shutil.which("func")
requires_func = pytest.mark.skipif(
    FUNC is None,
    reason="Azure Functions Core Tools (func) is not on PATH; this test needs a real Functions host",
)

# The first start downloads the extension bundle, which can take minutes on a slow link.
HOST_READY_SECONDS = 240
JOB_SECONDS = 90
ORCHESTRATOR = "SingletonOrchestrator"
ETERNAL_JOB = {"eternal": True, "intervalSeconds": 60, "workItems": 2}
ENDED = {"Completed", "Failed", "Terminated", "Canceled"}
ACTIVE = {"Pending", "Running"}


@pytest.fixture(scope="module")
def func_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuncHost]:
    """Azurite with every service, and `func start` on a staged copy of the app with its own task hub."""
    assert FUNC is not None
    azurite = AzuriteServices()
    azurite.start()
    try:
        settings = host_settings(azurite.connection_string, new_hub_name())
        app_dir = stage_app(tmp_path_factory.mktemp("func-host") / "app", settings)
        host = FuncHost(FUNC, app_dir, host_environment(settings))
        host.start(HOST_READY_SECONDS)
        try:
            yield host
        finally:
            host.stop()
    finally:
        azurite.stop()


def post_start(host: FuncHost, instance_id: str, job: dict[str, Any]) -> Reply:
    return call("POST", f"{host.base_url}/api/orchestrators/{ORCHESTRATOR}/{instance_id}", job)


def started(host: FuncHost, instance_id: str, job: dict[str, Any]) -> dict[str, str]:
    """Start a job that must be new, and return its management links."""
    reply = post_start(host, instance_id, job)
    assert reply.status == 202, reply
    assert reply.body["id"] == instance_id
    assert reply.headers["Location"] == reply.body["statusQueryGetUri"]
    links: dict[str, str] = reply.body
    return links


def instance_status(host: FuncHost, links: dict[str, str]) -> dict[str, Any]:
    """The instance's status; the HTTP code varies with the state (200, 202, or 400 after a failure)."""
    reply = call("GET", host.local(links["statusQueryGetUri"]))
    assert isinstance(reply.body, dict) and "runtimeStatus" in reply.body, reply
    return reply.body


def wait_until_ended(host: FuncHost, links: dict[str, str]) -> dict[str, Any]:
    return poll(
        lambda: instance_status(host, links),
        lambda status: status["runtimeStatus"] in ENDED,
        JOB_SECONDS,
        f"Instance {links['id']} ending",
    )


def wait_for_first_cycle(host: FuncHost, links: dict[str, str]) -> dict[str, Any]:
    """The eternal job after its first cycle, waiting on the timer or a Stop event."""
    status = poll(
        lambda: instance_status(host, links),
        lambda status: status["runtimeStatus"] in ENDED or (status["customStatus"] or {}).get("phase") == "waiting",
        JOB_SECONDS,
        f"Instance {links['id']} finishing its first cycle",
    )
    assert status["runtimeStatus"] == "Running", status
    assert status["customStatus"]["cycle"] == 1
    return status


def send_stop(host: FuncHost, links: dict[str, str]) -> None:
    reply = call("POST", host.local(links["sendEventPostUri"].replace("{eventName}", STOP_EVENT_NAME)), {})
    assert reply.status == 202, reply


@requires_func
@pytest.mark.e2e
class TestOnRealHost:
    def test_short_job_completes_with_its_summary(self, func_host: FuncHost) -> None:
        links = started(func_host, new_instance_id("e2e"), {"workItems": 2})

        final = wait_until_ended(func_host, links)

        assert final["runtimeStatus"] == "Completed", final
        output = final["output"]
        # Two items, not the default three: the body reached the orchestrator as its input.
        assert {key: output[key] for key in ("cycles", "itemsDone", "itemsFailed", "stoppedBy")} == {
            "cycles": 1,
            "itemsDone": 2,
            "itemsFailed": 0,
            "stoppedBy": "completed",
        }
        assert output["lastCycle"]["itemsTotal"] == 2
        assert output["lastCycle"]["failedItems"] == []
        assert final["customStatus"]["phase"] == "finished"

    def test_second_start_while_the_job_runs_answers_409_conflict(self, func_host: FuncHost) -> None:
        instance_id = new_instance_id("e2e")
        links = started(func_host, instance_id, ETERNAL_JOB)

        second = post_start(func_host, instance_id, ETERNAL_JOB)

        assert second.status == 409, second
        assert second.body["error"] == "conflict"
        assert second.body["instanceId"] == instance_id
        assert second.body["runtimeStatus"] in ACTIVE
        assert second.body["statusQueryGetUri"] == links["statusQueryGetUri"]

    def test_stop_event_ends_an_eternal_job_after_its_cycle(self, func_host: FuncHost) -> None:
        links = started(func_host, new_instance_id("e2e"), ETERNAL_JOB)
        waiting = wait_for_first_cycle(func_host, links)
        assert waiting["customStatus"]["nextCycleAt"] is not None

        send_stop(func_host, links)
        final = wait_until_ended(func_host, links)

        assert final["runtimeStatus"] == "Completed", final
        assert final["output"]["stoppedBy"] == "stop-event"
        assert final["output"]["cycles"] == 1
        assert final["output"]["itemsDone"] == 2

    def test_start_after_the_job_stopped_starts_a_new_run(self, func_host: FuncHost) -> None:
        instance_id = new_instance_id("e2e")
        links = started(func_host, instance_id, ETERNAL_JOB)
        wait_for_first_cycle(func_host, links)
        send_stop(func_host, links)
        first_run = wait_until_ended(func_host, links)
        assert first_run["runtimeStatus"] == "Completed", first_run

        started(func_host, instance_id, ETERNAL_JOB)

        second_run = poll(
            lambda: instance_status(func_host, links),
            lambda status: status["createdTime"] != first_run["createdTime"],
            JOB_SECONDS,
            f"A new run of {instance_id}",
        )
        assert second_run["runtimeStatus"] in ACTIVE


def test_staged_app_has_what_publishing_ships_and_the_test_settings(tmp_path: Path) -> None:
    """The host runs in a copy, so the copy must hold the whole app and nothing the host should not index."""
    settings = host_settings("UseDevelopmentStorage=true", new_hub_name())
    app_dir = stage_app(tmp_path / "app", settings)

    for needed in ("host.json", "requirements.txt", "singleton_start/service/start.py", "sample_job/job.py"):
        assert (app_dir / needed).is_file(), needed
    for function in (
        "HttpStartSingle",
        "HttpGetStatus",
        "HttpTerminate",
        "HttpRaiseEvent",
        "SingletonOrchestrator",
        "SampleActivity",
    ):
        assert (app_dir / function / "function.json").read_text() == (APP_ROOT / function / "function.json").read_text()
    for left_out in ("tests", ".venv", "node_modules", ".git", "local.settings.json.example", "__pycache__"):
        assert not list(app_dir.rglob(left_out)), left_out
    assert json.loads((app_dir / "local.settings.json").read_text()) == {"IsEncrypted": False, "Values": settings}


def test_host_settings_point_storage_at_all_three_services_and_a_fresh_hub() -> None:
    azurite = AzuriteServices()
    settings = host_settings(azurite.connection_string, new_hub_name())

    for service, port in azurite.ports.items():
        endpoint = f"{service.capitalize()}Endpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        assert endpoint in settings["AzureWebJobsStorage"]
    assert settings["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert ORCHESTRATOR in settings["SINGLETON_ORCHESTRATORS"].split(",")
    # Azure Storage task hubs: a letter, then letters and digits, 3 to 45 characters.
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", settings["DURABLE_TASK_HUB_NAME"])
    assert settings["DURABLE_TASK_HUB_NAME"] != host_settings("", new_hub_name())["DURABLE_TASK_HUB_NAME"]


def test_host_environment_runs_the_worker_on_the_project_venv() -> None:
    environment = host_environment({"DURABLE_TASK_HUB_NAME": "e2eabc"})

    assert environment["PATH"].split(os.pathsep)[0] == str(VENV_BIN)
    assert (VENV_BIN / "python").exists()
    assert environment["VIRTUAL_ENV"] == str(VENV_BIN.parent)
    assert environment["DURABLE_TASK_HUB_NAME"] == "e2eabc"


def test_management_links_are_called_on_the_host_loopback_port(tmp_path: Path) -> None:
    host = FuncHost("func", tmp_path, {})
    link = "http://localhost:7071/runtime/webhooks/durabletask/instances/job-1/raiseEvent/Stop?taskHub=h&code=k"

    assert host.local(link) == (
        f"http://127.0.0.1:{host.port}/runtime/webhooks/durabletask/instances/job-1/raiseEvent/Stop?taskHub=h&code=k"
    )


def server_header(url: str) -> str:
    """Which server answered; an unsigned request is refused, but the refusal names the service."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            server: str = response.headers["Server"]
            return server
    except urllib.error.HTTPError as error:
        return error.headers["Server"]


def test_azurite_for_the_host_serves_blob_queue_and_table_and_stops_completely() -> None:
    azurite = AzuriteServices()
    azurite.start()
    try:
        with BlobServiceClient.from_connection_string(azurite.connection_string) as client:
            client.create_container("e2e-probe")
            assert [container.name for container in client.list_containers()] == ["e2e-probe"]
        for service in ("queue", "table"):
            assert server_header(azurite.endpoint(service)).startswith(f"Azurite-{service.capitalize()}/")
    finally:
        azurite.stop()

    for port in azurite.ports.values():
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


FAKE_FUNC = """\
import http.server, json, os, signal, subprocess, sys, time
if os.environ.get("FAKE_FUNC_FAIL"):
    sys.exit("the host could not start")
# Like the host's worker: a child in func's process group, here one that ignores SIGTERM.
stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
worker = subprocess.Popen([sys.executable, "-c", stubborn])
with open("worker.pid", "w") as out:
    out.write(str(worker.pid))
started = time.monotonic()

class Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        state = "Running" if time.monotonic() - started > 0.3 else "Initialized"
        body = json.dumps({"state": state}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Status).serve_forever()
"""


def fake_func(tmp_path: Path) -> str:
    """A stand-in for the func executable: the lifecycle below is FuncHost's, not the host's."""
    script = tmp_path / "func"
    script.write_text(f"#!{sys.executable}\n{FAKE_FUNC}")
    script.chmod(0o755)
    return str(script)


def process_gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "\nState:\tZ" in status.read_text()


def test_func_host_waits_for_running_and_stop_ends_its_whole_process_group(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    host = FuncHost(fake_func(tmp_path), app_dir, host_environment({}))

    host.start(timeout=20)
    try:
        assert call("GET", f"{host.base_url}/admin/host/status").body == {"state": "Running"}
        worker_pid = int((app_dir / "worker.pid").read_text())
        assert not process_gone(worker_pid)
    finally:
        host.stop(timeout=1)

    assert process_gone(worker_pid)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", host.port), timeout=1).close()


def test_func_host_that_exits_at_start_fails_fast_with_its_output(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    host = FuncHost(fake_func(tmp_path), app_dir, {**host_environment({}), "FAKE_FUNC_FAIL": "1"})

    with pytest.raises(RuntimeError, match="the host could not start"):
        host.start(timeout=20)
