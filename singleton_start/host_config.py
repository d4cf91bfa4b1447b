"""The one host.json setting the start relies on, checked when a function loads.

The Durable extension refuses a start over an instance whose status is in neither of the states that
``overridableExistingInstanceStates`` lets a start replace; with ``NonRunningStates`` a start that
slips in beside ours over a running instance is refused by the extension, which is what lets the start
skip its read under the lease. The extension's default, ``AnyState``, would quietly replace a running
instance, so the app does not run without the setting.

Where host.json is: the host starts the language worker in the function app's script root and passes
that folder as ``FUNCTIONS_APPLICATION_DIRECTORY`` (Azure/azure-functions-host,
src/WebJobs.Script/Workers/Rpc/RpcWorkerProcess.cs); Linux images also set ``AzureWebJobsScriptRoot``.
An app setting ``AzureFunctionsJobHost__extensions__durableTask__overridableExistingInstanceStates``
overrides host.json, as for any host.json value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .core.errors import SettingsError

SETTING = "extensions.durableTask.overridableExistingInstanceStates"
REQUIRED = "NonRunningStates"
OVERRIDE = "AzureFunctionsJobHost__" + SETTING.replace(".", "__")
SCRIPT_ROOT_SETTINGS = ("AzureWebJobsScriptRoot", "FUNCTIONS_APPLICATION_DIRECTORY")


def script_root(env: Mapping[str, str], cwd: Path) -> Path:
    """The function app's root, as the host gives it to the worker; the worker's working directory otherwise."""
    for name in SCRIPT_ROOT_SETTINGS:
        if value := env.get(name, "").strip():
            return Path(value)
    return cwd


def _lookup(config: Any, path: str) -> Any:
    """A value by dotted path, matching keys without regard to case as the host's configuration does."""
    for key in path.split("."):
        if not isinstance(config, dict):
            return None
        config = next((value for name, value in config.items() if name.lower() == key.lower()), None)
    return config


def overridable_states(host_json: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """The setting's value in effect: the app setting that overrides host.json, else host.json's own."""
    overridden = next((value for name, value in env.items() if name.lower() == OVERRIDE.lower()), None)
    value = overridden if overridden is not None else _lookup(dict(host_json), SETTING)
    return value.strip() if isinstance(value, str) else None


def host_config_problem(host_json: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """Why the app must not run with this configuration, or None when the setting is as the start needs."""
    value = overridable_states(host_json, env)
    if value is not None and value.lower() == REQUIRED.lower():
        return None
    found = "is not set (the extension's default is AnyState)" if value is None else f"is {value!r}"
    return (
        f"host.json: {SETTING} {found}; set it to {REQUIRED!r} so that the Durable extension refuses a start "
        "over a running instance"
    )


def check_host_config(env: Mapping[str, str], cwd: Path | None = None) -> None:
    """Fail the function's load, naming the setting, unless host.json sets it as the start needs."""
    path = script_root(env, Path.cwd() if cwd is None else cwd) / "host.json"
    try:
        host_json = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError:
        raise SettingsError(f"host.json not found at {path}; it must set {SETTING} to {REQUIRED!r}") from None
    except ValueError:
        raise SettingsError(f"{path} is not valid JSON; it must set {SETTING} to {REQUIRED!r}") from None
    problem = host_config_problem(host_json if isinstance(host_json, dict) else {}, env)
    if problem is not None:
        raise SettingsError(problem)
