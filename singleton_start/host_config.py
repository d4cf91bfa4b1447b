"""What the start relies on beyond its own settings, checked when a function loads: host.json's
``overridableExistingInstanceStates``, the task hub name, and that every name in SINGLETON_ORCHESTRATORS is an
orchestrator the app defines.

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

Task hub names, for the Azure Storage provider the app runs on: letters and digits, starting with a letter,
3 to 45 characters ("Task hub names", Durable Functions docs); the extension refuses any other at startup
(``AzureStorageOptions.ValidateHubName``), after the app has already loaded.

A v1 app's orchestrators are its function folders whose function.json has an ``orchestrationTrigger``; a
decorator app's are known only when it indexes its functions (``blueprint.singleton_start_blueprint(app=...)``),
so a script root without function folders is not checked here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .core.errors import SettingsError
from .settings import check_known_orchestrators, orchestrator_names

SETTING = "extensions.durableTask.overridableExistingInstanceStates"
REQUIRED = "NonRunningStates"
OVERRIDE = "AzureFunctionsJobHost__" + SETTING.replace(".", "__")
SCRIPT_ROOT_SETTINGS = ("AzureWebJobsScriptRoot", "FUNCTIONS_APPLICATION_DIRECTORY")
HUB_SETTING = "extensions.durableTask.hubName"
HUB_OVERRIDE = "AzureFunctionsJobHost__" + HUB_SETTING.replace(".", "__")
PROVIDER_SETTING = "extensions.durableTask.storageProvider.type"
TASK_HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,44}")
TASK_HUB_RULE = "3 to 45 letters and digits, starting with a letter"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"


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


def task_hub_problem(host_json: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """Why the Durable extension would refuse the task hub name in effect, or None when it is fine or unknown (a
    setting that host.json names but that is not set, or a storage provider other than Azure Storage)."""
    provider = _lookup(dict(host_json), PROVIDER_SETTING)
    if isinstance(provider, str) and provider.strip().lower() not in ("", "azurestorage"):
        return None
    overridden = next((value for name, value in env.items() if name.lower() == HUB_OVERRIDE.lower()), None)
    if overridden is not None:
        value, source = overridden, HUB_OVERRIDE
    else:
        configured = _lookup(dict(host_json), HUB_SETTING)
        if not isinstance(configured, str):
            return None
        reference = re.fullmatch(r"\s*%([^%]+)%\s*", configured)
        if reference is None:
            value, source = configured, f"host.json's {HUB_SETTING}"
        else:
            source = reference.group(1)
            value = next((value for name, value in env.items() if name.lower() == source.lower()), "")
            if not value.strip():
                return None
    if TASK_HUB_NAME.fullmatch(value):
        return None
    return f"{source} is {value!r}, which the Durable extension refuses as a task hub name: it must be {TASK_HUB_RULE}"


def _is_orchestrator(function_json: Path) -> bool:
    """Whether a function.json binds an orchestrationTrigger; one that cannot be read is left to the host to report."""
    try:
        config = json.loads(function_json.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return False
    bindings = config.get("bindings") if isinstance(config, dict) else None
    return any(
        isinstance(binding, dict) and str(binding.get("type", "")).lower() == ORCHESTRATION_TRIGGER.lower()
        for binding in bindings or []
    )


def app_orchestrators(root: Path) -> list[str] | None:
    """The orchestrators of the v1 app at root (function folders whose function.json has an orchestrationTrigger),
    or None when root has no function folders: a decorator app, whose functions are known only when it indexes."""
    configs = sorted(root.glob("*/function.json"))
    if not configs:
        return None
    return [config.parent.name for config in configs if _is_orchestrator(config)]


def check_host_config(env: Mapping[str, str], cwd: Path | None = None) -> None:
    """Fail the function's load, naming the setting, unless host.json sets overridableExistingInstanceStates as
    the start needs, the task hub name is one the extension takes, and every name in SINGLETON_ORCHESTRATORS is an
    orchestrator of the app (when the script root's function folders tell)."""
    root = script_root(env, Path.cwd() if cwd is None else cwd)
    path = root / "host.json"
    try:
        host_json = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError:
        raise SettingsError(f"host.json not found at {path}; it must set {SETTING} to {REQUIRED!r}") from None
    except ValueError:
        raise SettingsError(f"{path} is not valid JSON; it must set {SETTING} to {REQUIRED!r}") from None
    host_json = host_json if isinstance(host_json, dict) else {}
    problem = host_config_problem(host_json, env) or task_hub_problem(host_json, env)
    if problem is not None:
        raise SettingsError(problem)
    known = app_orchestrators(root)
    if known is not None:
        check_known_orchestrators(orchestrator_names(env), known)
