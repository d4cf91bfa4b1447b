"""scripts/setup.sh keeps one environment per Python version, made by the Python asked for, in the supported range,
and says how long each install step took; scripts/start-local checks local.settings.json and the ports it needs
before it installs or starts anything."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.azurite import free_port
from tests.support.packaging import copy_tracked
from tests.support.worker import APP_ROOT


def ensure_python_env(workdir: Path, python: str) -> subprocess.CompletedProcess[str]:
    """Run ensure_python_env from scripts/setup.sh in workdir, with an empty requirements file."""
    shutil.copy(APP_ROOT / "scripts" / "setup.sh", workdir / "setup.sh")
    (workdir / "requirements.txt").write_text("")
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail; source setup.sh; ensure_python_env requirements.txt"],
        cwd=workdir,
        env={**os.environ, "PYTHON": python},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fake_python(path: Path, version: str) -> Path:
    """An executable that answers the version questions setup.sh asks as another Python would."""
    minor = version.split(".")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *--version*) echo "Python {version}";; *base_prefix*) echo "{version} /opt/python{version}";; '
        f"*) echo {minor};; esac\n"
    )
    path.chmod(0o755)
    return path


def installed(env: Path) -> None:
    """Mark env as installed with the (empty) requirements of ensure_python_env, so no pip runs."""
    (env / ".installed-requirements.txt").write_text(hashlib.sha256(b"").hexdigest() + "\n")


def test_python_older_than_3_11_is_refused_and_no_venv_is_made(tmp_path: Path) -> None:
    result = ensure_python_env(tmp_path, str(fake_python(tmp_path / "bin" / "python3.10", "3.10.13")))

    assert result.returncode == 1
    assert "Python 3.11 to 3.13 is needed (found Python 3.10.13)" in result.stderr
    assert not list(tmp_path.glob(".venv*"))


def test_python_newer_than_the_newest_supported_is_refused_naming_that_bound(tmp_path: Path) -> None:
    result = ensure_python_env(tmp_path, str(fake_python(tmp_path / "bin" / "python3.14", "3.14.0")))

    assert result.returncode == 1
    assert "Python 3.11 to 3.13 is needed (found Python 3.14.0)" in result.stderr
    assert not list(tmp_path.glob(".venv*"))


def test_an_interpreter_that_does_not_run_is_refused_in_one_line(tmp_path: Path) -> None:
    """pyenv's shim for a version that is installed but not selected explains itself over several lines."""
    shim = tmp_path / "bin" / "python3.13"
    shim.parent.mkdir()
    shim.write_text(
        "#!/bin/sh\n"
        "echo 'pyenv: python3.13: command not found' >&2\n"
        "echo >&2\n"
        'echo "The `python3.13\' command exists in these Python versions:" >&2\n'
        "echo '  3.13.0' >&2\n"
        "exit 127\n"
    )
    shim.chmod(0o755)

    result = ensure_python_env(tmp_path, str(shim))

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "Python 3.11 to 3.13 is needed" in result.stderr
    assert "(pyenv: python3.13: command not found)" in result.stderr
    assert "PYTHON=" in result.stderr


def test_existing_venv_of_another_python_is_recreated_with_the_requested_one(tmp_path: Path) -> None:
    env = tmp_path / f".venv-3.{sys.version_info[1]}"
    fake_python(env / "bin" / "python", f"3.{sys.version_info[1]}.99")

    result = ensure_python_env(tmp_path, sys.executable)

    assert result.returncode == 0, result.stderr
    assert f"Recreating .venv-3.{sys.version_info[1]}" in result.stdout
    made_with = subprocess.run(
        [env / "bin" / "python", "-c", "import sys; print(sys.version_info[:3], sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert made_with == f"{tuple(sys.version_info[:3])} {sys.base_prefix}"


def test_existing_venv_of_the_requested_python_is_kept(tmp_path: Path) -> None:
    env = tmp_path / f".venv-3.{sys.version_info[1]}"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    marker = env / "kept"
    marker.write_text("")
    installed(env)

    result = ensure_python_env(tmp_path, sys.executable)

    assert result.returncode == 0, result.stderr
    assert "Recreating" not in result.stdout
    assert marker.exists()


def test_switching_python_reuses_each_versions_environment_and_links_venv_to_the_last(tmp_path: Path) -> None:
    pythons = {version: fake_python(tmp_path / "bin" / f"python{version}", version) for version in ("3.11.7", "3.13.0")}
    for version, python in pythons.items():
        env = tmp_path / f".venv-{version[:4]}"
        (env / "bin").mkdir(parents=True)
        shutil.copy(python, env / "bin" / "python")
        installed(env)
        (env / "kept").write_text("")

    runs = [ensure_python_env(tmp_path, str(pythons[version])) for version in ("3.11.7", "3.13.0", "3.11.7")]

    for result in runs:
        assert result.returncode == 0, result.stderr
        assert "Recreating" not in result.stdout
        assert "Installing" not in result.stdout
    assert (tmp_path / ".venv-3.11" / "kept").exists()
    assert (tmp_path / ".venv-3.13" / "kept").exists()
    assert os.readlink(tmp_path / ".venv") == ".venv-3.11"


def test_the_old_shared_venv_is_replaced_by_a_link_to_the_versions_environment(tmp_path: Path) -> None:
    python = fake_python(tmp_path / "bin" / "python3.12", "3.12.1")
    env = tmp_path / ".venv-3.12"
    (env / "bin").mkdir(parents=True)
    shutil.copy(python, env / "bin" / "python")
    installed(env)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)

    result = ensure_python_env(tmp_path, str(python))

    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".venv").is_symlink()
    assert os.readlink(tmp_path / ".venv") == ".venv-3.12"


def test_a_step_says_what_it_does_as_it_begins_and_how_long_it_took(tmp_path: Path) -> None:
    shutil.copy(APP_ROOT / "scripts" / "setup.sh", tmp_path / "setup.sh")
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail; source setup.sh; step 'Installing a thing into a place' true"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "Installing a thing into a place...\nInstalling a thing into a place: done in 0 s.\n"


def test_making_an_environment_shows_a_line_per_step_with_its_time(tmp_path: Path) -> None:
    result = ensure_python_env(tmp_path, sys.executable)

    assert result.returncode == 0, result.stderr
    env = f".venv-3.{sys.version_info[1]}"
    assert re.search(rf"^Creating the virtual environment {env}: done in \d+ s\.$", result.stdout, re.MULTILINE)
    assert re.search(rf"^Installing requirements\.txt into {env}: done in \d+ s\.$", result.stdout, re.MULTILINE)


class LocalRun:
    """scripts/start-local in a copy of the repository whose installs are done, with a func on PATH that records
    how it was called (and whether Azurite's ports were open then) instead of starting a host."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "repository"
        copy_tracked(self.root)
        # Nothing to install: no requirements, no lock file newer than node_modules.
        for path in [
            *self.root.glob("requirements*.txt"),
            self.root / "constraints.txt",
            self.root / "package-lock.json",
        ]:
            path.unlink()
        (self.root / "requirements.txt").write_text("")
        (self.root / "node_modules").symlink_to(APP_ROOT / "node_modules")
        env = self.root / f".venv-3.{sys.version_info[1]}"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
        installed(env)
        self.ports = [free_port() for _ in range(3)]
        self.http_port = free_port()
        self.record = tmp_path / "func-called"
        tools = tmp_path / "bin"
        tools.mkdir()
        (tools / "func").write_text(
            "#!/usr/bin/env bash\n"
            f'echo "args: $*" > {self.record}\n'
            f"for port in {' '.join(map(str, self.ports))}; do\n"
            '  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "open $port"; fi\n'
            f"done >> {self.record}\n"
        )
        (tools / "func").chmod(0o755)
        self.path = f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"
        self.settings = json.loads((APP_ROOT / "local.settings.json.example").read_text())
        self.settings["Host"] = {"LocalHttpPort": self.http_port}
        blob, queue, table = (f"http://127.0.0.1:{port}/devstoreaccount1" for port in self.ports)
        self.settings["Values"]["AzureWebJobsStorage"] = (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={base64.b64encode(secrets.token_bytes(64)).decode()};"
            f"BlobEndpoint={blob};QueueEndpoint={queue};TableEndpoint={table};"
        )

    def run(self, *arguments: str, settings_text: str | None = None) -> subprocess.CompletedProcess[str]:
        text = json.dumps(self.settings, indent=2) if settings_text is None else settings_text
        (self.root / "local.settings.json").write_text(text)
        # The environment's own app settings would take the place of the file's, as Core Tools lets them.
        env = {name: value for name, value in os.environ.items() if name not in self.settings["Values"]}
        env.update(PATH=self.path, PYTHON=sys.executable)
        env.pop("VIRTUAL_ENV", None)
        return subprocess.run(
            ["bash", str(self.root / "scripts" / "start-local"), *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    @property
    def func_calls(self) -> list[str]:
        return self.record.read_text().splitlines() if self.record.exists() else []


@pytest.fixture
def local_run(tmp_path: Path) -> LocalRun:
    return LocalRun(tmp_path)


@contextlib.contextmanager
def held_port(port: int) -> Iterator[None]:
    """A port this test process listens on and never answers."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        yield


def test_start_local_names_the_line_and_column_of_a_json_error_and_starts_nothing(local_run: LocalRun) -> None:
    text = '{\n  "IsEncrypted": false,\n  "Values": {\n    "AzureWebJobsStorage": "UseDevelopmentStorage=true"\n'
    text += '    "FUNCTIONS_WORKER_RUNTIME": "python"\n  }\n}\n'

    result = local_run.run(settings_text=text)

    assert result.returncode == 1
    assert result.stderr.startswith(
        "local.settings.json is not valid JSON: line 5, column 5: Expecting ',' delimiter\n"
        '  5 |     "FUNCTIONS_WORKER_RUNTIME": "python"\n'
    )
    assert local_run.func_calls == []


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        (
            "SINGLETON_ORCHESTRATORS",
            "SingletonOrchestrater",
            "SINGLETON_ORCHESTRATORS names SingletonOrchestrater, which the app does not define as an orchestrator",
        ),
        ("SINGLETON_ORCHESTRATORS", "A;B", "SINGLETON_ORCHESTRATORS separates names with commas, not semicolons"),
        ("DURABLE_TASK_HUB_NAME", "my-hub", "DURABLE_TASK_HUB_NAME is 'my-hub', which the Durable extension refuses"),
    ],
)
def test_start_local_stops_on_a_settings_mistake_with_the_apps_own_sentence_before_starting_anything(
    local_run: LocalRun, name: str, value: str, sentence: str
) -> None:
    local_run.settings["Values"][name] = value

    result = local_run.run()

    assert result.returncode == 1
    assert result.stderr.startswith(f"local.settings.json: {sentence}")
    assert local_run.func_calls == []


def test_start_local_starts_azurite_on_the_ports_azurewebjobsstorage_names_then_func(local_run: LocalRun) -> None:
    result = local_run.run("--verbose")

    assert result.returncode == 0, result.stderr
    assert local_run.func_calls == ["args: start --verbose", *(f"open {port}" for port in local_run.ports)]
    assert f"Starting Azurite on ports {', '.join(map(str, local_run.ports))}" in result.stdout
    assert "Using the Azurite already listening" not in result.stdout


def test_start_local_uses_an_azurite_already_listening_on_the_configured_ports_and_says_so(
    local_run: LocalRun, tmp_path: Path
) -> None:
    blob, queue, table = local_run.ports
    azurite = subprocess.Popen(
        [
            str(APP_ROOT / "node_modules" / ".bin" / "azurite"),
            *("--blobPort", str(blob), "--queuePort", str(queue), "--tablePort", str(table)),
            *("--inMemoryPersistence", "--silent", "--disableTelemetry", "--skipApiVersionCheck"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not all(port_open(port) for port in local_run.ports):
            assert time.monotonic() < deadline and azurite.poll() is None, "Azurite did not start"
            time.sleep(0.1)

        result = local_run.run()
    finally:
        azurite.terminate()
        azurite.wait(timeout=30)

    assert result.returncode == 0, result.stderr
    assert f"Using the Azurite already listening on ports {blob}, {queue}, {table}" in result.stdout
    assert local_run.func_calls[0] == "args: start"
    assert not (local_run.root / ".azurite").exists()


@pytest.mark.parametrize("service", [0, 1, 2])
def test_start_local_names_the_process_holding_an_azurite_port_and_the_setting_to_change(
    local_run: LocalRun, service: int
) -> None:
    port = local_run.ports[service]
    with held_port(port):
        result = local_run.run()

    assert result.returncode == 1
    name = ("blob", "queue", "table")[service]
    assert result.stderr.startswith(
        f"Port {port}, Azurite's {name} service for AzureWebJobsStorage in local.settings.json, is taken by "
    )
    assert f"(pid {os.getpid()})" in result.stderr
    assert "setting AzureWebJobsStorage to a connection string that names them" in result.stderr
    assert local_run.func_calls == []


@pytest.mark.parametrize("given", ["setting", "argument"])
def test_start_local_checks_the_hosts_http_port_before_func_start_and_names_its_holder(
    local_run: LocalRun, given: str
) -> None:
    port = free_port() if given == "argument" else local_run.http_port
    arguments = ("--port", str(port)) if given == "argument" else ()
    with held_port(port):
        result = local_run.run(*arguments)

    assert result.returncode == 1
    assert result.stderr.startswith(f"Port {port}, where func start serves the app, is taken by ")
    assert f"(pid {os.getpid()})" in result.stderr
    assert f"scripts/start-local --port {port + 1}" in result.stderr
    assert local_run.func_calls == []


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True
