"""The app refuses to load unless host.json makes the extension refuse a start over a running instance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from singleton_start.host_config import OVERRIDE, SETTING, check_host_config, host_config_problem, script_root
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
