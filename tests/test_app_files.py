"""The files Azure Functions reads at the app root say what the contract says."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from singleton_start.settings import BOUNDS, Settings, load_settings
from tests.support.worker import APP_ROOT


def test_host_json_pins_the_bundle_hub_setting_and_dedupe_states() -> None:
    host = json.loads((APP_ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    durable = host["extensions"]["durableTask"]
    assert re.fullmatch(r"%\w+%", durable["hubName"])
    assert durable["overridableExistingInstanceStates"] == "NonRunningStates"


def test_local_settings_example_holds_every_setting_with_its_default() -> None:
    values = json.loads((APP_ROOT / "local.settings.json.example").read_text())["Values"]
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    hub_setting = json.loads((APP_ROOT / "host.json").read_text())["extensions"]["durableTask"]["hubName"].strip("%")
    assert values[hub_setting]
    assert load_settings(values) == Settings()
    documented = {name for name in values if name.startswith("SINGLETON_")}
    settings_doc = (APP_ROOT / "docs" / "settings.md").read_text()
    assert documented == set(re.findall(r"SINGLETON_[A-Z_]+[A-Z]", settings_doc)) - {"SINGLETON_"}


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_settings_table_gives_each_numeric_settings_range_as_the_app_checks_it(name: str) -> None:
    lines = (APP_ROOT / "docs" / "settings.md").read_text().splitlines()
    rows = [line for line in lines if line.startswith(f"| `{name}` |")]

    assert len(rows) == 1
    assert f"| {BOUNDS[name]}" in rows[0]


def test_requirements_hold_runtime_packages_only_with_ranges() -> None:
    lines = [line for line in (APP_ROOT / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    names = {re.split(r"[<>=\[ ]", line)[0] for line in lines}
    assert names == {
        "azure-functions",
        "azure-functions-durable",
        "azure-storage-blob",
        "azure-identity",
        "aiohttp",
        "opentelemetry-api",
    }
    assert all(">=" in line and "<" in line for line in lines)


def test_readme_names_every_runtime_package_to_copy_when_reusing_the_start() -> None:
    lines = [line for line in (APP_ROOT / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    reusing = (APP_ROOT / "docs" / "reusing.md").read_text()
    reuse = reusing[reusing.index("## In another v1 app") :]
    reuse = reuse[: reuse.index("\n#")]

    for name in (re.split(r"[<>=\[ ]", line)[0] for line in lines):
        assert f"`{name}`" in reuse


def test_local_settings_is_ignored_and_only_the_example_is_committed() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=APP_ROOT, capture_output=True, text=True, check=True).stdout
    assert "local.settings.json.example" in tracked.split()
    assert "local.settings.json" not in tracked.split()
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "local.settings.json"], cwd=APP_ROOT, capture_output=True, check=False
    )
    assert ignored.returncode == 0


def test_funcignore_keeps_tests_tools_and_local_files_out_of_the_package() -> None:
    ignored = set((APP_ROOT / ".funcignore").read_text().split())
    for entry in ("tests", ".venv", "node_modules", "bench", "scripts", "local.settings.json", ".azurite", ".tools"):
        assert entry in ignored
    for shipped in ("host.json", "requirements.txt", "singleton_start", "sample_job", "HttpStartSingle"):
        assert shipped not in ignored


LOCAL_FILES = ("venv/", ".env", ".mypy_cache/", ".idea/", ".DS_Store", ".coverage", "htmlcov/", "scenario-report.md")


@pytest.mark.parametrize("path", LOCAL_FILES)
def test_local_tool_files_stay_out_of_git_and_the_deployment_package(path: str) -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=APP_ROOT, capture_output=True, check=False)
    assert ignored.returncode == 0
    assert path.rstrip("/") in set((APP_ROOT / ".funcignore").read_text().split())


def test_requirements_allow_azure_functions_2_and_keep_durable_on_the_v1_model_line() -> None:
    lines = (APP_ROOT / "requirements.txt").read_text().splitlines()
    assert "azure-functions>=1.20,<3" in lines
    durable = next(line for line in lines if line.startswith("azure-functions-durable"))
    assert durable.endswith(",<2")


def test_supported_python_is_stated_the_same_in_pyproject_scripts_and_readme() -> None:
    pyproject = (APP_ROOT / "pyproject.toml").read_text()
    setup = (APP_ROOT / "scripts" / "setup.sh").read_text()
    readme = (APP_ROOT / "README.md").read_text()
    assert 'requires-python = ">=3.11"' in pyproject
    assert "MIN_PYTHON_MINOR=11\n" in setup
    assert "MAX_PYTHON_MINOR=13\n" in setup
    assert "Python 3.11 to 3.13" in readme
    assert not re.search(r"3\.99|Python 3\.11\+", readme)
    assert not re.search(r"Python 3\.10", readme)
