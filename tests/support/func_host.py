"""The app on a real Functions host: Azurite with all three services, a staged copy of the app, `func start`."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

APP_ROOT = Path(__file__).resolve().parents[2]
AZURITE = APP_ROOT / "node_modules" / ".bin" / "azurite"
VENV_BIN = APP_ROOT / ".venv" / "bin"
SETTINGS_EXAMPLE = APP_ROOT / "local.settings.json.example"
ACCOUNT = "devstoreaccount1"
SERVICES = ("blob", "queue", "table")
POLL_SECONDS = 0.5

T = TypeVar("T")


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports: every probe stays bound until all are chosen."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    process.poll()  # reap the leader once it exits, or its zombie keeps the group alive
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the whole group (func runs the host, the host runs the worker); SIGKILL what is left at the deadline.

    Each signal is followed by a bounded wait until no process of the group is left, so nothing
    outlives the caller.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + timeout
        while _group_alive(process) and time.monotonic() < deadline:
            time.sleep(0.05)
    process.wait(timeout=timeout)


class AzuriteServices:
    """One in-memory Azurite with blob, queue and table: the Durable Azure Storage backend needs all three."""

    def __init__(self) -> None:
        if not AZURITE.exists():
            raise RuntimeError(f"{AZURITE} is missing: run 'npm ci' in {APP_ROOT}")
        self.ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        self.account_key = base64.b64encode(secrets.token_bytes(64)).decode()
        self._process: subprocess.Popen[bytes] | None = None

    def endpoint(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={self.account_key};"
            f"BlobEndpoint={self.endpoint('blob')};QueueEndpoint={self.endpoint('queue')};"
            f"TableEndpoint={self.endpoint('table')};"
        )

    def start(self, timeout: float = 30.0) -> None:
        command = [str(AZURITE)]
        for service, port in self.ports.items():
            command += [f"--{service}Host", "127.0.0.1", f"--{service}Port", str(port)]
        command += ["--inMemoryPersistence", "--silent", "--disableTelemetry", "--skipApiVersionCheck"]
        self._process = subprocess.Popen(
            command,
            env={**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{self.account_key}"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        waiting = list(self.ports.values())
        while waiting and time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {self._process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.5).close()
                waiting.pop(0)
            except OSError:
                time.sleep(0.05)
        if waiting:
            self.stop()
            raise RuntimeError(f"Azurite did not listen on ports {waiting} within {timeout:.0f}s")

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process)
            self._process = None


def new_hub_name() -> str:
    """A task hub of its own, so no run sees another's instances (letters and digits, 3 to 45 long)."""
    return f"e2e{uuid.uuid4().hex[:12]}"


def host_settings(connection_string: str, hub_name: str) -> dict[str, str]:
    """The documented local settings, pointed at the test's Azurite and task hub."""
    values = json.loads(SETTINGS_EXAMPLE.read_text())["Values"]
    return {
        **values,
        "AzureWebJobsStorage": connection_string,
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "DURABLE_TASK_HUB_NAME": hub_name,
    }


def funcignore_patterns() -> list[str]:
    """The .funcignore entries as name patterns; an entry that needs gitignore path rules is refused."""
    patterns = []
    for line in (APP_ROOT / ".funcignore").read_text().splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        # `**/name` is the name in any folder, which is what a name pattern means here.
        entry = entry.removeprefix("**/")
        if "/" in entry.rstrip("/") or entry.startswith("!"):
            raise ValueError(f".funcignore entry {entry!r} is not a plain name pattern; staging cannot honour it")
        patterns.append(entry.rstrip("/"))
    return patterns


def stage_app(destination: Path, settings: Mapping[str, str]) -> Path:
    """Copy what publishing ships (the app minus .funcignore) and write its local.settings.json.

    Core Tools reads FUNCTIONS_WORKER_RUNTIME and AzureWebJobsStorage from local.settings.json
    before the host starts (and prompts for a runtime when the file is missing), so the host runs
    in a copy that has one, and the developer's own local.settings.json is never touched.
    """
    shutil.copytree(APP_ROOT, destination, ignore=shutil.ignore_patterns(*funcignore_patterns()))
    document = {"IsEncrypted": False, "Values": dict(settings)}
    (destination / "local.settings.json").write_text(json.dumps(document, indent=2))
    return destination


def host_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """The environment for `func start`: the project's venv first on PATH, and the settings.

    The Python worker runs on the first python on PATH, so the venv makes the app's packages
    importable. Environment variables win over local.settings.json, so the settings go here too,
    lest a variable of the surrounding shell replace one.
    """
    path = os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])
    return {**os.environ, **settings, "PATH": path, "VIRTUAL_ENV": str(VENV_BIN.parent)}


@dataclass(frozen=True)
class Reply:
    """An HTTP answer with a JSON (or empty) body."""

    status: int
    headers: Mapping[str, str]
    body: Any


def call(method: str, url: str, body: Any = None, timeout: float = 60.0) -> Reply:
    """One HTTP request; 4xx and 5xx are answers here, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, text = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, text = error.code, dict(error.headers), error.read()
    return Reply(status, headers, json.loads(text) if text.strip() else None)


def poll(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str) -> T:
    """Fetch until done(value) or the deadline; the error names the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s; last seen: {value!r}")
        time.sleep(POLL_SECONDS)


class FuncHost:
    """`func start` on a free port in a staged app directory, stopped with its whole process group."""

    def __init__(self, func: str, app_dir: Path, environment: Mapping[str, str]) -> None:
        self.func = func
        self.app_dir = app_dir
        self.environment = dict(environment)
        self.port = free_ports(1)[0]
        self.log_path = app_dir.parent / "func-host.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def local(self, url: str) -> str:
        """The same URL on this host's loopback address; management links may name localhost."""
        parts = urlsplit(url)
        return urlunsplit(("http", f"127.0.0.1:{self.port}", parts.path, parts.query, parts.fragment))

    def log_tail(self, characters: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:] if self.log_path.exists() else ""

    def start(self, timeout: float) -> None:
        """Start the host and wait until /admin/host/status says Running (Core Tools needs no key for it)."""
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [self.func, "start", "--port", str(self.port), "--verbose"],
                cwd=self.app_dir,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            poll(self._state, lambda state: state == "Running", timeout, "The Functions host reaching Running")
        except TimeoutError as error:
            self.stop()
            raise TimeoutError(f"{error}\n{self.log_tail()}") from None
        except BaseException:
            self.stop()
            raise

    def _state(self) -> str:
        """The host state from /admin/host/status, or why there is none yet."""
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"func exited with {self._process.returncode}:\n{self.log_tail()}")
        try:
            reply = call("GET", f"{self.base_url}/admin/host/status", timeout=5)
        except (OSError, ValueError) as error:
            return f"unreachable ({type(error).__name__})"
        return str(reply.body.get("state")) if isinstance(reply.body, dict) else f"HTTP {reply.status}"

    def stop(self, timeout: float = 15.0) -> None:
        """Stop func, the host and the worker; whatever ignores SIGTERM until the timeout is killed."""
        if self._process is not None:
            stop_process_group(self._process, timeout)
            self._process = None
