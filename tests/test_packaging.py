"""The deployment package holds what the app runs and nothing else, as Core Tools and azd build it with .funcignore:
the function folders, singleton_start/, sample_job/, host.json and requirements.txt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.packaging import azd_package, copy_tracked, core_tools_package

# What a working copy holds after the README's commands, the tests, an editor and a wheel build.
LEFTOVERS = (
    ".git",
    ".venv-3.11/bin/python",
    ".venv-3.13/pyvenv.cfg",
    ".venv-durable2/pyvenv.cfg",
    ".venv-infra-3.11/pyvenv.cfg",
    "venv/pyvenv.cfg",
    "build/lib/singleton_start/settings.py",
    "build/bdist.linux-x86_64/wheel/singleton_start/settings.py",
    "singleton_start.egg-info/PKG-INFO",
    "dist/singleton_start-0.1.0-py3-none-any.whl",
    "__pycache__/conftest.cpython-311.pyc",
    "singleton_start/__pycache__/settings.cpython-311.pyc",
    "sample_job/__pycache__/job.cpython-313.pyc",
    "HttpStartSingle/__pycache__/__init__.cpython-311.pyc",
    "local.settings.json",
    ".azurite/__blobstorage__/blob",
    "__azurite_db_blob__.json",
    "__blobstorage__/blob",
    "__queuestorage__/queue",
    "node_modules/azurite/package.json",
    ".tools/core-tools/node_modules/.bin/func",
    ".pytest_cache/README.md",
    ".mypy_cache/3.11/cache.db",
    ".ruff_cache/CACHEDIR.TAG",
    ".hypothesis/examples/x",
    "bench/results/latest.json",
    "examples/v2-app/.venv/pyvenv.cfg",
    "examples/v2-app/local.settings.json",
    ".env",
    ".idea/workspace.xml",
    ".vscode/settings.json",
    ".DS_Store",
    "singleton_start/.DS_Store",
    ".coverage",
    "htmlcov/index.html",
    "scenario-report.md",
    "mutants/singleton_start/core/decisions.py",
    ".venv-mutate-3.11/pyvenv.cfg",
)
APP_PACKAGES = ("singleton_start", "sample_job")
APP_FILES = ("host.json", "requirements.txt")


@pytest.fixture(scope="module")
def working_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """The repository's files with the local leftovers beside them, and the files the package must hold."""
    root = tmp_path_factory.mktemp("app")
    tracked = copy_tracked(root)
    for path in LEFTOVERS:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("left over\n")
    (root / ".venv").symlink_to(".venv-3.11")
    # Every top-level folder with a function.json is a function of the app.
    function_folders = {
        path.split("/")[0] for path in tracked if path.count("/") == 1 and path.endswith("/function.json")
    }
    app_folders = function_folders | set(APP_PACKAGES)
    expected = {path for path in tracked if path.split("/")[0] in app_folders or path in APP_FILES}
    return root, expected


def test_the_repository_has_function_folders_and_the_app_files_to_ship(working_copy: tuple[Path, set[str]]) -> None:
    _, expected = working_copy
    assert {"HttpStartSingle/function.json", "SingletonOrchestrator/function.json", "host.json"} <= expected
    assert {path.split("/")[0] for path in expected} >= {*APP_PACKAGES, *APP_FILES}


@pytest.mark.parametrize("package", [core_tools_package, azd_package], ids=["core-tools", "azd"])
def test_the_package_holds_the_function_folders_the_core_the_sample_job_host_json_and_requirements_only(
    working_copy: tuple[Path, set[str]], package: Callable[[Path], set[str]]
) -> None:
    root, expected = working_copy
    files = package(root)

    assert not files - expected, f"shipped, though the app does not run them: {sorted(files - expected)}"
    assert not expected - files, f"left out, though the app runs them: {sorted(expected - files)}"
