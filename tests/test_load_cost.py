"""Loading HttpStartSingle imports only what the configured storage connection needs, seen in a new process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from bench.loading import APP_ROOT, FUNCTIONS, probe_environment

IDENTITY = "azure.identity"


def modules_after_loading_the_start(env: dict[str, str]) -> set[str]:
    """The modules that loading HttpStartSingle imported, in a new process started in the app's root."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_probe", *FUNCTIONS["app"]],
        cwd=APP_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return set(result["modules"])


def test_loading_with_a_connection_string_does_not_import_azure_identity() -> None:
    modules = modules_after_loading_the_start(probe_environment(os.environ, "UseDevelopmentStorage=true"))

    assert "azure.storage.blob" in modules
    assert not any(name == IDENTITY or name.startswith(f"{IDENTITY}.") for name in modules)


def test_loading_with_an_identity_based_connection_imports_azure_identity() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AzureWebJobsStorage")}
    env["AzureWebJobsStorage__accountName"] = "myaccount"

    assert IDENTITY in modules_after_loading_the_start(env)
