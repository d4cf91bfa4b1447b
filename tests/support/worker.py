"""Load and call functions the way the Azure Functions Python worker does (v1 programming model)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import azure.functions as func

from tests.support.no_master_key import assert_no_master_key, serves_app_links, system_key_of

APP_ROOT = Path(__file__).resolve().parents[2]
PUBLIC_BASE_URL = "http://localhost:7071"
# Function modules loaded since the last close_loaded(): a worker never closes their clients, the suite does.
LOADED_MODULES: list[ModuleType] = []


@dataclass
class LoadedFunction:
    """A function folder as the worker sees it: its bindings and its entry point."""

    name: str
    bindings: list[dict[str, Any]]
    module: ModuleType
    main: Callable[..., Any]

    @property
    def input_binding_names(self) -> list[str]:
        return [binding["name"] for binding in self.bindings if binding["name"] != "$return"]

    def binding(self, name: str) -> dict[str, Any]:
        return next(binding for binding in self.bindings if binding["name"] == name)


def load_function(name: str) -> LoadedFunction:
    """Read function.json and import the script from its folder, with the app root on sys.path."""
    folder = APP_ROOT / name
    config = json.loads((folder / "function.json").read_text())
    script = folder / config.get("scriptFile", "__init__.py")
    if str(APP_ROOT) not in sys.path:
        sys.path.insert(0, str(APP_ROOT))
    spec = importlib.util.spec_from_file_location(name, script, submodule_search_locations=[str(folder)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    LOADED_MODULES.append(module)
    entry_point = getattr(module, config.get("entryPoint", "main"))
    return LoadedFunction(name, config["bindings"], module, entry_point)


def app_defining(root: Path, *orchestrators: str) -> str:
    """A script root (host.json and one function folder per orchestrator) for a test whose SINGLETON_ORCHESTRATORS
    names orchestrators the app does not have: the endpoints refuse, at load, a name the app does not define."""
    shutil.copy(APP_ROOT / "host.json", root / "host.json")
    trigger = {"bindings": [{"name": "context", "type": "orchestrationTrigger", "direction": "in"}]}
    for name in orchestrators:
        (root / name).mkdir()
        (root / name / "function.json").write_text(json.dumps(trigger))
    return str(root)


async def close_loaded() -> None:
    """Close the clients (storage, the session to the extension) of every function loaded since the last call."""
    while LOADED_MODULES:
        endpoint = getattr(LOADED_MODULES.pop(), "endpoint", None)
        if endpoint is not None:
            await endpoint.close()


async def invoke(function: LoadedFunction, **bindings: Any) -> Any:
    """Call the entry point with one argument per input binding, awaiting it when it is async."""
    expected = set(function.input_binding_names)
    if set(bindings) != expected:
        raise TypeError(f"{function.name} takes bindings {sorted(expected)}, got {sorted(bindings)}")
    result = function.main(**bindings)
    if inspect.isawaitable(result):
        result = await result
    # Held for every answer of every test: in app mode no caller is handed the master key.
    if isinstance(result, func.HttpResponse) and serves_app_links(function.module):
        assert_no_master_key(result, system_key_of(bindings.get("starter", "")))
    return result


def start_request(
    function_name: str,
    instance_id: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> func.HttpRequest:
    """The HttpRequest the worker builds for POST api/orchestrators/{functionName}/{instanceId}."""
    url = f"{PUBLIC_BASE_URL}/api/orchestrators/{quote(function_name, safe='')}/{quote(instance_id, safe='')}"
    return func.HttpRequest(
        "POST",
        url,
        headers=dict(headers or {}),
        params=dict(params or {}),
        route_params={"functionName": function_name, "instanceId": instance_id},
        body=body,
    )


def route_request(
    method: str,
    url: str,
    route_params: Mapping[str, str],
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> func.HttpRequest:
    """The HttpRequest the worker builds for any route: query parameters decoded from the URL."""
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    return func.HttpRequest(
        method, url, headers=dict(headers or {}), params=params, route_params=dict(route_params), body=body
    )
