"""The checks scripts/start-local makes before it installs or starts anything; stdlib only, so that any Python 3.11+
runs it before the app's environment exists.

    local_checks.py settings local.settings.json   parse it as JSON (an error names its line and column), check the
                                                   app's settings as its functions check them at load, and print
                                                   storage_ports=, azurite_accounts= and http_port= lines
    local_checks.py port PORT                      who listens on 127.0.0.1:PORT: free, azurite NAME, or
                                                   held PROCESS
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

APP_ROOT = Path(__file__).resolve().parents[1]
STORAGE = "AzureWebJobsStorage"
# What UseDevelopmentStorage=true stands for: Azurite's blob, queue and table services on their default ports.
DEVELOPMENT_PORTS = (10000, 10001, 10002)
ENDPOINTS = ("BlobEndpoint", "QueueEndpoint", "TableEndpoint")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_HTTP_PORT = 7071


class Refused(Exception):
    """local.settings.json cannot run the app; the message says why in one sentence."""


def read_settings(path: Path) -> dict[str, object]:
    """local.settings.json as a JSON object, or Refused naming the line and column of the first error."""
    text = path.read_text(encoding="utf-8-sig")
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as error:
        line = text.splitlines()[error.lineno - 1] if error.lineno <= len(text.splitlines()) else ""
        raise Refused(
            f"{path.name} is not valid JSON: line {error.lineno}, column {error.colno}: {error.msg}"
            + (f"\n  {error.lineno} | {line}" if line.strip() else "")
        ) from None
    if not isinstance(settings, dict) or not isinstance(settings.get("Values"), dict):
        raise Refused(f'{path.name} must be a JSON object with a "Values" object; see local.settings.json.example')
    return settings


def app_settings(settings: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, str]:
    """The app settings the host gives the worker: Values, under the environment's own (Core Tools keeps a variable
    already set and skips the file's value for it)."""
    values = settings["Values"]
    assert isinstance(values, dict)
    merged = {str(name): str(value) for name, value in values.items()}
    merged.update({name: value for name, value in environ.items() if name in merged})
    return merged


def check_app(values: Mapping[str, str]) -> None:
    """The checks the app's functions make at load, made now: a mistake stops the script before anything starts."""
    if not values.get("DURABLE_TASK_HUB_NAME", "").strip():
        raise Refused(
            "local.settings.json has no DURABLE_TASK_HUB_NAME (host.json reads the task hub from it); "
            "see local.settings.json.example"
        )
    sys.path.insert(0, str(APP_ROOT))
    from singleton_start.host_config import check_host_config
    from singleton_start.settings import SettingsError, load_settings

    try:
        load_settings(values)
        check_host_config(values, cwd=APP_ROOT)
    except SettingsError as error:
        raise Refused(f"local.settings.json: {error}") from None


def storage(values: Mapping[str, str]) -> tuple[list[int], str]:
    """The loopback ports of blob, queue and table that AzureWebJobsStorage names, and the account (name:key) an
    Azurite started for them must know; no ports when it names a storage account elsewhere."""
    connection = values.get(STORAGE, "").strip()
    if not connection:
        identity = any(name.startswith(f"{STORAGE}__") for name in values)
        if identity:
            return [], ""
        raise Refused(f"local.settings.json has no {STORAGE}; see local.settings.json.example")
    parts = dict(
        (key.strip().lower(), value.strip()) for key, _, value in (p.partition("=") for p in connection.split(";"))
    )
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return list(DEVELOPMENT_PORTS), ""
    urls = [urlsplit(parts.get(endpoint.lower(), "")) for endpoint in ENDPOINTS]
    local = [url.hostname in LOOPBACK for url in urls]
    if not any(local):
        return [], ""
    if not all(local) or any(url.port is None for url in urls):
        raise Refused(
            f"{STORAGE} in local.settings.json must name a loopback host and port for each of "
            f"{', '.join(ENDPOINTS)} (Azurite's blob, queue and table services), or use UseDevelopmentStorage=true"
        )
    account = (
        f"{parts['accountname']}:{parts['accountkey']}" if "accountname" in parts and "accountkey" in parts else ""
    )
    return [url.port for url in urls if url.port is not None], account


def http_port(settings: Mapping[str, object]) -> int:
    """The port func start serves on when not given --port: Host.LocalHttpPort, else Core Tools' default."""
    host = settings.get("Host")
    port = host.get("LocalHttpPort") if isinstance(host, dict) else None
    return int(port) if isinstance(port, int | str) and str(port).isdigit() else DEFAULT_HTTP_PORT


def settings_command(path: Path) -> None:
    settings = read_settings(path)
    values = app_settings(settings, os.environ)
    check_app(values)
    ports, account = storage(values)
    print(f"storage_ports={' '.join(map(str, ports))}")
    print(f"azurite_accounts={account}")
    print(f"http_port={http_port(settings)}")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def azurite_service(port: int) -> str | None:
    """The Azurite service answering on the port (its Server header, Azurite-Blob/3.35.0), or None."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/devstoreaccount1?comp=list")
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            server = answer.headers.get("Server", "")
    except urllib.error.HTTPError as error:
        server = error.headers.get("Server", "")
    except (OSError, ValueError):
        return None
    return server if server.startswith("Azurite-") else None


def _socket_inodes(port: int) -> set[str]:
    """The inodes of sockets listening on the port, from /proc/net/tcp and tcp6 (Linux)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN.
            if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def owner_from_proc(port: int) -> str | None:
    inodes = {f"socket:[{inode}]" for inode in _socket_inodes(port)}
    if not inodes:
        return None
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (process / "fd").iterdir()):
                return f"{(process / 'comm').read_text().strip()} (pid {process.name})"
        except OSError:
            continue
    return None


def owner_from_lsof(port: int) -> str | None:
    lsof = shutil.which("lsof")
    if lsof is None:
        return None
    listed = subprocess.run(
        [lsof, "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"], capture_output=True, text=True, check=False
    ).stdout
    pid = re.search(r"^p(\d+)$", listed, re.MULTILINE)
    command = re.search(r"^c(.+)$", listed, re.MULTILINE)
    return f"{command.group(1)} (pid {pid.group(1)})" if pid and command else None


def port_command(port: int) -> None:
    if not listening(port):
        print("free")
        return
    service = azurite_service(port)
    if service is not None:
        print(f"azurite {service}")
        return
    owner = owner_from_proc(port) or owner_from_lsof(port) or "a process this user cannot see"
    print(f"held {owner}")


def main(arguments: list[str]) -> int:
    try:
        if len(arguments) == 2 and arguments[0] == "settings":
            settings_command(Path(arguments[1]))
        elif len(arguments) == 2 and arguments[0] == "port" and arguments[1].isdigit():
            port_command(int(arguments[1]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Refused as refused:
        print(refused, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
