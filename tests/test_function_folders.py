"""The function folders are what the Python worker expects: bindings that match each main."""

from __future__ import annotations

import inspect
import json

import pytest

from tests.support.worker import APP_ROOT, load_function


@pytest.mark.parametrize("name", ["HttpStartSingle", "SingletonOrchestrator", "SampleActivity"])
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
