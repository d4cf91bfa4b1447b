"""The function folders are what the Python worker expects: bindings that match each main."""

from __future__ import annotations

import inspect
import json

import pytest

from tests.support.worker import APP_ROOT, load_function


@pytest.mark.parametrize(
    "name",
    ["HttpStartSingle", "HttpGetStatus", "HttpTerminate", "HttpRaiseEvent", "SingletonOrchestrator", "SampleActivity"],
)
def test_function_json_binding_names_match_the_main_signature(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    function = load_function(name)
    assert list(inspect.signature(function.main).parameters) == function.input_binding_names


def test_http_start_bindings_are_the_documented_ones() -> None:
    bindings = {
        binding["name"]: binding
        for binding in json.loads((APP_ROOT / "HttpStartSingle" / "function.json").read_text())["bindings"]
    }
    assert bindings["req"]["type"] == "httpTrigger"
    assert bindings["req"]["authLevel"] == "function"
    assert bindings["req"]["methods"] == ["post"]
    assert bindings["req"]["route"] == "orchestrators/{functionName}/{instanceId}"
    assert bindings["starter"]["type"] == "durableClient"
    assert bindings["$return"]["type"] == "http"


@pytest.mark.parametrize(
    ("name", "method", "route"),
    [
        ("HttpGetStatus", "get", "orchestrators/{functionName}/{instanceId}"),
        ("HttpTerminate", "post", "orchestrators/{functionName}/{instanceId}/terminate"),
        ("HttpRaiseEvent", "post", "orchestrators/{functionName}/{instanceId}/events/{eventName}"),
    ],
)
def test_management_route_bindings_are_the_documented_ones(name: str, method: str, route: str) -> None:
    bindings = {
        binding["name"]: binding for binding in json.loads((APP_ROOT / name / "function.json").read_text())["bindings"]
    }
    assert set(bindings) == {"req", "starter", "$return"}
    assert bindings["req"]["type"] == "httpTrigger"
    assert bindings["req"]["authLevel"] == "function"
    assert bindings["req"]["methods"] == [method]
    assert bindings["req"]["route"] == route
    assert bindings["starter"]["type"] == "durableClient"
    assert bindings["$return"]["type"] == "http"
