"""Real Azurite (blob service) from node_modules, in memory, on a free loopback port."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

APP_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BLOB = APP_ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Azurite:
    """One Azurite blob process that tests can stop and start again on the same port.

    The account key is made fresh for each run, so no key lives in the repository and a test can
    search every log and answer for it.
    """

    def __init__(self) -> None:
        if not AZURITE_BLOB.exists():
            raise RuntimeError(f"{AZURITE_BLOB} is missing: run 'npm ci' in {APP_ROOT}")
        self.port = free_port()
        self.account_key = base64.b64encode(secrets.token_bytes(64)).decode()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return self.connection_string_via(self.port)

    def connection_string_via(self, port: int) -> str:
        """The connection string with its blob endpoint on another loopback port: a proxy in front of this Azurite."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={self.account_key};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        env = {**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{self.account_key}"}
        self._process = subprocess.Popen(
            [
                str(AZURITE_BLOB),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--inMemoryPersistence",
                "--silent",
                "--disableTelemetry",
                "--skipApiVersionCheck",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"Azurite exited with {self._process.returncode}: {error[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Azurite did not listen on port {self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        if self._process.stderr:
            self._process.stderr.close()
        self._process = None
