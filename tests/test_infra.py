"""infra/ holds what `azd up` creates; it is not deployed here, so it is held against the app instead."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
from azure.identity.aio import DefaultAzureCredential
from pycep import BicepParser

from singleton_start.adapters.blob_lease import blob_service_from_environment
from singleton_start.settings import Settings, load_settings
from tests.support.worker import APP_ROOT

INFRA = APP_ROOT / "infra"

# The built-in roles' IDs as Azure documents them ("Azure built-in roles": Storage, Monitor).
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"

# The Python versions Azure Functions runs on Flex Consumption: 3.10 to 3.14 are supported, and only Linux
# Consumption stops at 3.12 ("Supported languages in Azure Functions", Python, 2026-08-27:
# https://learn.microsoft.com/azure/azure-functions/supported-languages?pivots=programming-language-python).
FLEX_CONSUMPTION_PYTHONS = {"3.10", "3.11", "3.12", "3.13", "3.14"}

# Durable Functions on Flex Consumption: poll the task hub's queues at least this often ("Azure Storage provider",
# Flex Consumption plan: https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider#flex-consumption-plan).
LONGEST_QUEUE_POLLING_INTERVAL = timedelta(seconds=10)

# What the storage account's endpoints and the identity's client ID stand for when the settings are loaded.
BLOB_URI = "https://stexample.blob.core.windows.net/"
CLIENT_ID = "00000000-0000-0000-0000-000000000001"


@cache
def bicep_parser() -> BicepParser:
    """One parser for every file: building its grammar is what takes the time (lark keeps the built grammar in
    the temp directory, keyed by the grammar and the Python version, so later runs skip even that)."""
    return BicepParser()


@cache
def template(name: str) -> dict[str, Any]:
    """One .bicep file as pycep-parser reads it (the parser Checkov uses)."""
    # Read as plain JSON: the parser's own TypedDicts do not describe the expressions this module walks.
    return cast(dict[str, Any], bicep_parser().parse(file_path=INFRA / name))


def resources_of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template("resources.bicep")["resources"].items() if r["type"] == kind}


def accessor(expression: object) -> list[str]:
    """`a.b.c` as ['a', 'b', 'c']; anything else as []."""
    if isinstance(expression, str):
        return [expression]
    if isinstance(expression, dict) and expression.get("operator", {}).get("type") == "property_accessor":
        operands = expression["operator"]["operands"]
        return [*accessor(operands["operand_1"]), *accessor(operands["operand_2"])]
    return []


def function_app() -> dict[str, Any]:
    (app,) = resources_of_type("Microsoft.Web/sites").values()
    config: dict[str, Any] = app["config"]
    return config


def app_settings() -> dict[str, object]:
    return {entry["name"]: entry["value"] for entry in function_app()["properties"]["siteConfig"]["appSettings"]}


def loaded_environment() -> dict[str, str]:
    """The app settings as the worker would see them: literals as written, the storage account's endpoints
    and the identity's client ID by stand-ins."""
    stand_ins = {
        ("storage", "properties", "primaryEndpoints", "blob"): BLOB_URI,
        ("storage", "properties", "primaryEndpoints", "queue"): BLOB_URI.replace("blob", "queue"),
        ("storage", "properties", "primaryEndpoints", "table"): BLOB_URI.replace("blob", "table"),
        ("identity", "properties", "clientId"): CLIENT_ID,
    }
    env: dict[str, str] = {}
    for name, value in app_settings().items():
        if isinstance(value, str):
            env[name] = value
        elif tuple(accessor(value)) in stand_ins:
            env[name] = stand_ins[tuple(accessor(value))]
    return env


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every name the app looks up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        self.known = values
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.known[name]

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        return self.known.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


@pytest.mark.parametrize("path", sorted(INFRA.glob("*.bicep")), ids=lambda path: path.name)
def test_every_bicep_file_parses(path: Path) -> None:
    parsed = template(path.name)

    assert parsed["resources"]


def test_main_deploys_the_resources_module_and_outputs_the_apps_name_and_url() -> None:
    main = template("main.bicep")

    assert [module["detail"]["path"] for module in main["modules"].values()] == ["resources.bicep"]
    # Every parameter of the module is passed on from main.bicep.
    (module,) = main["modules"].values()
    assert set(module["config"]["params"]) == set(template("resources.bicep")["parameters"])
    assert {"environmentName", "location"} <= set(main["parameters"])
    assert {"AZURE_FUNCTION_APP_NAME", "AZURE_FUNCTION_APP_URL"} <= set(main["outputs"])


def test_the_apps_settings_load_with_the_apps_defaults_and_set_every_setting_it_reads() -> None:
    env = RecordingEnv(loaded_environment())

    assert load_settings(env) == Settings()
    read = {name for name in env.read if name.startswith("SINGLETON_")}
    example = json.loads((APP_ROOT / "local.settings.json.example").read_text())["Values"]
    assert read == {name for name in example if name.startswith("SINGLETON_")}
    assert read <= set(app_settings())


@pytest.mark.asyncio
async def test_the_apps_storage_is_identity_based_with_the_user_assigned_identity() -> None:
    env = loaded_environment()

    client = blob_service_from_environment(env)
    try:
        assert client.url == BLOB_URI
        assert isinstance(client.credential, DefaultAzureCredential)
    finally:
        await client.close()
    assert "AzureWebJobsStorage" not in env
    assert env["AzureWebJobsStorage__credential"] == "managedidentity"
    assert env["AzureWebJobsStorage__clientId"] == CLIENT_ID
    # Durable Functions on the Azure Storage backend needs its queues and tables as well as blobs.
    assert env["AzureWebJobsStorage__queueServiceUri"].startswith("https://stexample.queue.")
    assert env["AzureWebJobsStorage__tableServiceUri"].startswith("https://stexample.table.")


def test_host_json_reads_the_task_hub_from_a_setting_the_template_sets() -> None:
    hub = json.loads((APP_ROOT / "host.json").read_text())["extensions"]["durableTask"]["hubName"]
    setting = re.fullmatch(r"%(\w+)%", hub)
    assert setting is not None

    value = app_settings()[setting.group(1)]

    assert value == "taskHubName"
    default = template("main.bicep")["parameters"]["taskHubName"]["default"]
    # Task hub names: 3 to 45 letters and digits, starting with a letter.
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", default)


def time_span(value: str) -> timedelta:
    """A host.json time span, hh:mm:ss."""
    hours, minutes, seconds = (int(part) for part in value.split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def test_host_json_polls_the_durable_queues_at_least_every_10_seconds() -> None:
    durable = json.loads((APP_ROOT / "host.json").read_text())["extensions"]["durableTask"]

    interval = time_span(durable["storageProvider"]["maxQueuePollingInterval"])

    # The extension's default is 30 s; Flex Consumption apps are advised 10 s or less.
    assert timedelta(0) < interval <= LONGEST_QUEUE_POLLING_INTERVAL


def role_definition(assignment: dict[str, Any]) -> str:
    variable = assignment["config"]["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
    value: str = template("resources.bicep")["variables"][variable]["value"]
    return value


def test_the_identity_holds_the_documented_built_in_roles_on_storage_and_application_insights() -> None:
    granted = {
        (assignment["config"]["scope"], role_definition(assignment))
        for assignment in resources_of_type("Microsoft.Authorization/roleAssignments").values()
        if accessor(assignment["config"]["properties"]["principalId"]) == ["identity", "properties", "principalId"]
    }

    (storage,) = resources_of_type("Microsoft.Storage/storageAccounts")
    (insights,) = resources_of_type("Microsoft.Insights/components")
    assert granted == {
        (storage, STORAGE_BLOB_DATA_OWNER),
        (storage, STORAGE_QUEUE_DATA_CONTRIBUTOR),
        (storage, STORAGE_TABLE_DATA_CONTRIBUTOR),
        (insights, MONITORING_METRICS_PUBLISHER),
    }


def test_the_function_app_is_created_after_every_role_assignment_of_its_identity() -> None:
    assignments = {
        name
        for name, assignment in resources_of_type("Microsoft.Authorization/roleAssignments").items()
        if accessor(assignment["config"]["properties"]["principalId"]) == ["identity", "properties", "principalId"]
    }

    # Nothing in the app's properties refers to the assignments, so Bicep orders them only by dependsOn.
    assert len(assignments) == 4
    assert set(function_app()["dependsOn"]) == assignments


def pythons_ci_runs() -> set[str]:
    """The oldest and newest supported Python, the two CI runs the tests on (scripts/setup.sh, .ci/run)."""
    setup = (APP_ROOT / "scripts" / "setup.sh").read_text()
    bounds = dict(re.findall(r"^(MIN|MAX)_PYTHON_MINOR=(\d+)$", setup, re.M))
    return {f"3.{bounds['MIN']}", f"3.{bounds['MAX']}"}


def pythons_the_app_supports() -> set[str]:
    """Every Python from the oldest to the newest the app supports (scripts/setup.sh)."""
    setup = (APP_ROOT / "scripts" / "setup.sh").read_text()
    bounds = {name: int(minor) for name, minor in re.findall(r"^(MIN|MAX)_PYTHON_MINOR=(\d+)$", setup, re.M)}
    return {f"3.{minor}" for minor in range(bounds["MIN"], bounds["MAX"] + 1)}


def test_the_python_versions_allowed_are_those_the_app_supports_and_flex_consumption_runs() -> None:
    parameter = template("main.bicep")["parameters"]["pythonVersion"]
    allowed = next(d["argument"] for d in parameter["decorators"] if d["type"] == "allowed")

    assert set(allowed) == pythons_the_app_supports() & FLEX_CONSUMPTION_PYTHONS
    assert parameter["default"] in pythons_ci_runs()
    assert function_app()["properties"]["functionAppConfig"]["runtime"] == {
        "name": "python",
        "version": "pythonVersion",
    }


def test_storage_takes_no_shared_keys_and_the_plan_is_flex_consumption() -> None:
    (storage,) = resources_of_type("Microsoft.Storage/storageAccounts").values()
    properties = storage["config"]["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["allowBlobPublicAccess"] is False
    # A lifecycle rule could delete lock blobs, and with them their Idempotency-Key records.
    assert not resources_of_type("Microsoft.Storage/storageAccounts/managementPolicies")
    (plan,) = resources_of_type("Microsoft.Web/serverfarms").values()
    assert plan["config"]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert function_app()["kind"] == "functionapp,linux"


def test_the_durable_group_has_one_always_ready_instance_unless_the_parameter_turns_it_off() -> None:
    parameter = template("main.bicep")["parameters"]["alwaysReadyDurableInstances"]
    lowest = next(d["argument"] for d in parameter["decorators"] if d["type"] == "min_value")
    always_ready = function_app()["properties"]["functionAppConfig"]["scaleAndConcurrency"]["alwaysReady"]
    choice = always_ready["operator"]["operands"]

    assert parameter["type"] == "int"
    assert parameter["default"] == 1
    assert lowest == 0
    # A count above 0: the `durable` group (orchestrator, activity and entity triggers) with that many; else none.
    assert choice["condition"]["operator"] == {
        "type": "greater_than",
        "operands": {"operand_1": "alwaysReadyDurableInstances", "operand_2": 0},
    }
    assert template("resources.bicep")["variables"][choice["true_value"]]["value"] == [
        {"name": "durable", "instanceCount": "alwaysReadyDurableInstances"}
    ]
    assert choice["false_value"] == []
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert azd["alwaysReadyDurableInstances"] == {"value": "${ALWAYS_READY_DURABLE_INSTANCES=1}"}


def test_application_insights_takes_entra_tokens_only() -> None:
    (insights,) = resources_of_type("Microsoft.Insights/components").values()

    assert insights["config"]["properties"]["DisableLocalAuth"] is True
    assert app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identity.properties.clientId};Authorization=AAD"
    )


def test_funcignore_keeps_infra_azure_yaml_and_the_tool_environments_out_of_the_package() -> None:
    ignored = set((APP_ROOT / ".funcignore").read_text().split())

    assert {"infra", "azure.yaml", "docs", ".venv", ".venv-*", "constraints.txt", "requirements-infra.txt"} <= ignored


def test_azure_yaml_deploys_this_folder_as_a_python_function_app() -> None:
    lines = {line.strip() for line in (APP_ROOT / "azure.yaml").read_text().splitlines()}

    assert {"project: .", "language: python", "host: function"} <= lines
    assert function_app()["tags"]["function"]["parameters"]["arg_2"] == {"'azd-service-name'": "api"}


def checkov() -> str:
    """Checkov from its own environment: scripts/test sets CHECKOV; else the one it made for this Python."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    path = os.environ.get("CHECKOV") or str(APP_ROOT / f".venv-infra-{version}" / "bin" / "checkov")
    if not Path(path).is_file():
        pytest.skip(f"Checkov is not installed at {path}; scripts/test installs it")
    return path


@cache
def checkov_report(directory: Path) -> dict[str, Any]:
    """Checkov's JSON report on the .bicep files of a directory (passed, failed and skipped checks)."""
    result = subprocess.run(
        [checkov(), "--framework", "bicep", "-d", str(directory), "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # 0: no failed check; 1: some failed. Anything else is Checkov failing to run.
    assert result.returncode in (0, 1), result.stdout[-4000:] + result.stderr[-2000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@dataclass(frozen=True)
class Skip:
    """One `checkov:skip` comment: the file (by name), its line (from 1) and the check it skips."""

    file: str
    line: int
    check: str


def skip_comments(directory: Path) -> list[Skip]:
    return [
        Skip(path.name, number, match.group(1))
        for path in sorted(directory.glob("*.bicep"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if (match := re.search(r"checkov:skip=(CKV\w+)", line))
    ]


def covers(entry: dict[str, Any], skip: Skip) -> bool:
    """Whether a check in Checkov's report is the skip's check on the resource whose lines hold the comment."""
    first, last = entry["file_line_range"]
    return bool(
        entry["check_id"] == skip.check and entry["file_path"].lstrip("/") == skip.file and first <= skip.line <= last
    )


def unused_skips(directory: Path) -> list[Skip]:
    """The skip comments that Checkov did not apply: none of its skipped checks is that check on that resource."""
    skipped = checkov_report(directory)["results"].get("skipped_checks", [])
    return [skip for skip in skip_comments(directory) if not any(covers(entry, skip) for entry in skipped)]


def test_checkov_finds_no_failed_check_in_infra() -> None:
    report = checkov_report(INFRA)

    assert report["summary"]["failed"] == 0, [
        (entry["check_id"], entry["resource"]) for entry in report["results"]["failed_checks"]
    ]
    assert report["summary"]["passed"] > 0
    assert report["summary"]["parsing_errors"] == 0


def test_every_checkov_skip_takes_effect_on_the_resource_it_sits_in() -> None:
    assert skip_comments(INFRA)

    assert unused_skips(INFRA) == []


def test_a_skip_moved_to_a_resource_its_check_does_not_cover_is_found_unused(tmp_path: Path) -> None:
    shutil.copytree(INFRA, tmp_path, dirs_exist_ok=True)
    lines = (tmp_path / "resources.bicep").read_text().splitlines()
    moved = next(line for line in lines if "checkov:skip=CKV_AZURE_225" in line)  # the plan's zone redundancy
    lines.remove(moved)
    identity = next(n for n, line in enumerate(lines) if line.startswith("resource identity "))
    lines.insert(identity + 1, moved)
    (tmp_path / "resources.bicep").write_text("\n".join(lines) + "\n")

    assert unused_skips(tmp_path) == [Skip("resources.bicep", identity + 2, "CKV_AZURE_225")]


def test_every_checkov_skip_covers_a_check_that_fails_without_it(tmp_path: Path) -> None:
    # The same files with every skip comment blanked, so that each resource keeps its lines.
    for path in INFRA.glob("*.bicep"):
        kept = ["" if "checkov:skip" in line else line for line in path.read_text().splitlines()]
        (tmp_path / path.name).write_text("\n".join(kept) + "\n")

    failed = checkov_report(tmp_path)["results"].get("failed_checks", [])

    needless = [skip for skip in skip_comments(INFRA) if not any(covers(entry, skip) for entry in failed)]
    assert needless == []


def test_every_checkov_skip_gives_its_reason_on_its_line() -> None:
    skips = [
        line.strip()
        for path in INFRA.glob("*.bicep")
        for line in path.read_text().splitlines()
        if "checkov:skip" in line
    ]

    assert skips
    for skip in skips:
        assert re.fullmatch(r"// checkov:skip=CKV\w+: \S+( \S+){5,}", skip), skip
