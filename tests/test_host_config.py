"""The app refuses to load unless host.json makes the extension refuse a start over a running instance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from singleton_start.host_config import (
    OVERRIDE,
    SETTING,
    app_orchestrators,
    check_host_config,
    host_config_problem,
    script_root,
    task_hub_problem,
)
from singleton_start.http.routes import StartRoute, StatusRoute
from singleton_start.settings import SettingsError
from tests.support.worker import APP_ROOT


def durable(value: Any) -> dict[str, Any]:
    return {"version": "2.0", "extensions": {"durableTask": {"overridableExistingInstanceStates": value}}}


def write_host_json(folder: Path, content: dict[str, Any]) -> Path:
    (folder / "host.json").write_text(json.dumps(content))
    return folder


def test_non_running_states_passes() -> None:
    assert host_config_problem(durable("NonRunningStates"), {}) is None


def test_any_state_fails_naming_the_setting_and_the_value_found() -> None:
    problem = host_config_problem(durable("AnyState"), {})
    assert problem is not None
    assert SETTING in problem and "'AnyState'" in problem and "NonRunningStates" in problem


def test_a_missing_setting_fails_naming_it_and_the_extensions_default() -> None:
    problem = host_config_problem({"version": "2.0", "extensions": {"durableTask": {"hubName": "x"}}}, {})
    assert problem is not None
    assert SETTING in problem and "AnyState" in problem


def test_keys_and_value_are_matched_without_regard_to_case_as_the_host_reads_configuration() -> None:
    host_json = {"Extensions": {"DurableTask": {"OverridableExistingInstanceStates": "nonrunningstates"}}}
    assert host_config_problem(host_json, {}) is None


def test_an_app_setting_overrides_host_json_either_way() -> None:
    assert host_config_problem(durable("AnyState"), {OVERRIDE: "NonRunningStates"}) is None
    assert host_config_problem(durable("NonRunningStates"), {OVERRIDE: "AnyState"}) is not None


def test_the_script_root_setting_comes_before_the_application_directory_and_the_working_directory(
    tmp_path: Path,
) -> None:
    cwd = tmp_path / "cwd"
    assert script_root({}, cwd) == cwd
    assert script_root({"FUNCTIONS_APPLICATION_DIRECTORY": "/app"}, cwd) == Path("/app")
    assert script_root({"AzureWebJobsScriptRoot": "/root", "FUNCTIONS_APPLICATION_DIRECTORY": "/app"}, cwd) == Path(
        "/root"
    )


def test_host_json_is_read_from_the_script_root(tmp_path: Path) -> None:
    good = write_host_json(tmp_path, durable("NonRunningStates"))
    check_host_config({"AzureWebJobsScriptRoot": str(good)}, cwd=tmp_path / "elsewhere")


def test_host_json_is_read_from_the_working_directory_without_a_script_root_setting(tmp_path: Path) -> None:
    bad = write_host_json(tmp_path, durable("AnyState"))
    with pytest.raises(SettingsError, match=SETTING):
        check_host_config({}, cwd=bad)


def test_no_host_json_fails_naming_the_file_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"host\.json not found") as raised:
        check_host_config({"AzureWebJobsScriptRoot": str(tmp_path)})
    assert SETTING in str(raised.value)


def test_host_json_that_is_not_json_fails_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text("{ not json")
    with pytest.raises(SettingsError, match="not valid JSON") as raised:
        check_host_config({"AzureWebJobsScriptRoot": str(tmp_path)})
    assert SETTING in str(raised.value)


def test_the_apps_own_host_json_passes() -> None:
    check_host_config({}, cwd=APP_ROOT)


@pytest.mark.parametrize("endpoint", [StartRoute, StatusRoute])
def test_loading_an_endpoint_fails_naming_the_setting_when_host_json_lacks_it(
    tmp_path: Path, endpoint: type[StartRoute] | type[StatusRoute]
) -> None:
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "AzureWebJobsScriptRoot": str(write_host_json(tmp_path, {"version": "2.0"})),
    }
    with pytest.raises(SettingsError, match=SETTING):
        endpoint.from_environment(env)


def app_root(folder: Path, host: dict[str, Any] | None = None, **functions: str) -> Path:
    """A script root with host.json and one function folder per keyword: its name and its trigger's type."""
    write_host_json(folder, host or durable("NonRunningStates"))
    for name, trigger in functions.items():
        (folder / name).mkdir()
        (folder / name / "function.json").write_text(json.dumps({"bindings": [{"name": "x", "type": trigger}]}))
    return folder


def test_a_typo_in_an_orchestrator_name_fails_the_load_naming_the_setting_the_name_and_the_apps_orchestrators() -> None:
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "SINGLETON_ORCHESTRATORS": "SingletonOrchestrater"}
    with pytest.raises(SettingsError) as raised:
        StartRoute.from_environment({**env, "AzureWebJobsScriptRoot": str(APP_ROOT)})

    assert str(raised.value) == (
        "SINGLETON_ORCHESTRATORS names SingletonOrchestrater, which the app does not define as an orchestrator "
        "(its orchestrators are SingletonOrchestrator)"
    )


def test_a_semicolon_between_orchestrator_names_fails_the_load_with_the_hint() -> None:
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "SINGLETON_ORCHESTRATORS": "A;B"}
    with pytest.raises(SettingsError, match="SINGLETON_ORCHESTRATORS separates names with commas, not semicolons"):
        StatusRoute.from_environment({**env, "AzureWebJobsScriptRoot": str(APP_ROOT)})


def test_only_folders_with_an_orchestration_trigger_are_orchestrators(tmp_path: Path) -> None:
    root = app_root(tmp_path, Job="orchestrationTrigger", Work="activityTrigger", Start="httpTrigger")

    assert app_orchestrators(root) == ["Job"]
    check_host_config({"SINGLETON_ORCHESTRATORS": "job"}, cwd=root)
    with pytest.raises(SettingsError, match=r"names Work, which the app does not define as an orchestrator \(its "):
        check_host_config({"SINGLETON_ORCHESTRATORS": "Job,Work"}, cwd=root)


def test_a_script_root_without_function_folders_leaves_the_names_to_the_decorator_apps_indexing(tmp_path: Path) -> None:
    root = app_root(tmp_path)

    assert app_orchestrators(root) is None
    check_host_config({"SINGLETON_ORCHESTRATORS": "DefinedByDecorators"}, cwd=root)


@pytest.mark.parametrize("hub", ["my-hub", "ab", "1Hub", "Hub_1", "Hub 1", "x" * 46, "Hüb1"])
def test_a_task_hub_name_the_extension_refuses_fails_the_load_naming_the_setting(hub: str) -> None:
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "DURABLE_TASK_HUB_NAME": hub}
    with pytest.raises(SettingsError) as raised:
        StartRoute.from_environment({**env, "AzureWebJobsScriptRoot": str(APP_ROOT)})

    assert str(raised.value) == (
        f"DURABLE_TASK_HUB_NAME is {hub!r}, which the Durable extension refuses as a task hub name: it must be "
        "3 to 45 letters and digits, starting with a letter"
    )


@pytest.mark.parametrize("hub", ["SingletonHub", "abc", "H" + "1" * 44])
def test_a_task_hub_name_the_extension_takes_passes(hub: str) -> None:
    check_host_config({"DURABLE_TASK_HUB_NAME": hub}, cwd=APP_ROOT)


def test_an_unset_task_hub_setting_is_left_to_the_host() -> None:
    assert task_hub_problem({"extensions": {"durableTask": {"hubName": "%DURABLE_TASK_HUB_NAME%"}}}, {}) is None


def test_a_task_hub_name_written_in_host_json_is_checked_naming_host_json() -> None:
    problem = task_hub_problem({"extensions": {"durableTask": {"hubName": "my_hub"}}}, {})
    assert problem is not None and problem.startswith("host.json's extensions.durableTask.hubName is 'my_hub'")


def test_the_app_setting_that_overrides_the_task_hub_is_the_one_checked() -> None:
    host = {"extensions": {"durableTask": {"hubName": "%DURABLE_TASK_HUB_NAME%"}}}
    env = {"DURABLE_TASK_HUB_NAME": "GoodHub", "AzureFunctionsJobHost__extensions__durableTask__hubName": "bad-hub"}
    problem = task_hub_problem(host, env)
    assert problem is not None and problem.startswith("AzureFunctionsJobHost__extensions__durableTask__hubName is")


def test_another_storage_providers_hub_names_are_not_held_to_azure_storages_rules() -> None:
    host = {"extensions": {"durableTask": {"hubName": "my-hub", "storageProvider": {"type": "mssql"}}}}
    assert task_hub_problem(host, {}) is None
