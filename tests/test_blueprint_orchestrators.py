"""A decorator app's orchestrators are known only once function_app.py has run: given the app, the Blueprint checks
SINGLETON_ORCHESTRATORS against them when the worker indexes the app (its get_functions), with either SDK line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest

from singleton_start.http.blueprint import singleton_start_blueprint
from singleton_start.settings import SettingsError
from tests.support.worker import APP_ROOT


def Job(context: df.DurableOrchestrationContext) -> Any:
    """An orchestrator of the app, registered after the Blueprint."""
    return None


def decorator_app(root: Path, orchestrators: str, *, checked: bool = True) -> df.DFApp:
    """A decorator app at root (host.json, no function folders) that registers the Blueprint and then one
    orchestrator, Job, in the order function_app.py does."""
    shutil.copy(APP_ROOT / "host.json", root / "host.json")
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "AzureWebJobsScriptRoot": str(root),
        "SINGLETON_ORCHESTRATORS": orchestrators,
    }
    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
    blueprint = singleton_start_blueprint(env, app=app if checked else None)
    app.register_functions(blueprint)

    app.orchestration_trigger(context_name="context")(Job)
    return app


def function_names(app: df.DFApp) -> set[str]:
    return {str(function.get_function_name()) for function in app.get_functions()}


def test_a_name_the_app_does_not_define_fails_the_indexing_naming_the_setting_and_the_apps_orchestrators(
    tmp_path: Path,
) -> None:
    app = decorator_app(tmp_path, "Jbo")

    with pytest.raises(SettingsError) as raised:
        app.get_functions()

    assert str(raised.value).startswith(
        "SINGLETON_ORCHESTRATORS names Jbo, which the app does not define as an orchestrator (its orchestrators are "
    )
    assert "Job" in str(raised.value)


def test_names_the_app_defines_index_with_the_four_routes(tmp_path: Path) -> None:
    app = decorator_app(tmp_path, "job")

    assert {"HttpStartSingle", "HttpGetStatus", "HttpTerminate", "HttpRaiseEvent", "Job"} <= function_names(app)


def test_without_the_app_the_names_are_not_checked_against_it(tmp_path: Path) -> None:
    app = decorator_app(tmp_path, "Jbo", checked=False)

    assert "Job" in function_names(app)
