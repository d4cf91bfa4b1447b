"""The example decorator app installs into a fresh environment by the commands its README gives, from the core's
wheel built from the repository and named by its path, and indexes there as the worker indexes it; the v1 folders
load and answer from the same installed package, not from the repository's folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.packaging import copy_tracked
from tests.support.worker import APP_ROOT

EXAMPLE = Path("examples") / "v2-app"
README = APP_ROOT / EXAMPLE / "README.md"
# Bounded: a fresh venv installs the wheel's dependencies from PyPI (a warm pip cache makes it quick).
INSTALL_SECONDS = 600
ROUTES = {"HttpStartSingle", "HttpGetStatus", "HttpTerminate", "HttpRaiseEvent", "HttpSignal"}
# The worker indexes a decorator app by calling its app's get_functions (azure_functions_runtime/loader.py).
INDEX = """
import importlib.metadata, json
import singleton_start
assert "site-packages" in singleton_start.__file__, singleton_start.__file__
import function_app
names = sorted(str(function.get_function_name()) for function in function_app.app.get_functions())
print(json.dumps({"names": names, "durable": importlib.metadata.version("azure-functions-durable")}))
"""
V1_FOLDERS = """
import asyncio, json, sys
import azure.functions as func
import singleton_start
assert "site-packages" in singleton_start.__file__, singleton_start.__file__
sys.path.insert(0, ".")
from HttpStartSingle import main
request = func.HttpRequest("POST", "http://127.0.0.1/api/orchestrators/SingletonOrchestrator/a%23b", body=b"",
                           route_params={"functionName": "SingletonOrchestrator", "instanceId": "a#b"})
answer = asyncio.run(main(request, "{}"))
print(json.dumps({"status": answer.status_code, "error": json.loads(answer.get_body())["error"]}))
"""


def readme_commands(heading: str) -> str:
    """The first sh block of the example's README after the paragraph that starts with heading."""
    text = README.read_text()
    start = text.index(f"\n{heading}")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL)
    assert block is not None, f"no sh block after {heading!r} in {README}"
    return block.group(1)


def run_readme(commands: str, root: Path) -> None:
    """Run the README's commands with bash at the repository's root, python3 being the interpreter under test."""
    tools = root / ".test-bin"
    tools.mkdir()
    (tools / "python3").symlink_to(sys.executable)
    env = {name: value for name, value in os.environ.items() if name not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{tools}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"{commands}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


def run_python(python: Path, code: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        # The script root, whose host.json and function folders the endpoints check at load.
        "AzureWebJobsScriptRoot": str(cwd),
        **settings,
    }
    return subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def indexed(python: Path, example: Path) -> tuple[set[str], str]:
    """The names of the functions the example's app lists when indexed, and the SDK version installed."""
    probe = run_python(python, INDEX, example)
    assert probe.returncode == 0, probe.stderr[-2000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    return set(result["names"]), str(result["durable"])


def test_the_examples_requirements_name_the_core_by_the_path_of_the_wheel_the_readme_builds() -> None:
    version = tomllib.loads((APP_ROOT / "pyproject.toml").read_text())["project"]["version"]
    wheel = f"../../dist/singleton_start-{version}-py3-none-any.whl"
    for name in ("requirements.txt", "requirements-durable2.txt"):
        lines = [line for line in (APP_ROOT / EXAMPLE / name).read_text().splitlines() if line and line[0] != "#"]
        assert wheel in lines, name
        assert not [line for line in lines if re.match(r"singleton[-_.]start\b", line, re.IGNORECASE)], name


def test_the_example_installs_as_its_readme_says_indexes_and_the_v1_folders_run_from_the_same_wheel(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repository"
    copy_tracked(root)
    run_readme(readme_commands("With the 1.x SDK"), root)
    example = root / EXAMPLE
    python = example / ".venv" / "bin" / "python"

    names, durable = indexed(python, example)

    assert durable.startswith("1.")
    assert ROUTES | {"SingletonOrchestrator", "SampleActivity"} <= names
    typo = run_python(python, INDEX, example, SINGLETON_ORCHESTRATORS="SingletonOrchestrater")
    assert typo.returncode != 0
    assert "SINGLETON_ORCHESTRATORS names SingletonOrchestrater, which the app does not define" in typo.stderr

    v1_app = tmp_path / "v1-app"
    v1_app.mkdir()
    for folder in (*sorted(ROUTES), "SingletonOrchestrator"):
        shutil.copytree(APP_ROOT / folder, v1_app / folder)
    shutil.copy(APP_ROOT / "host.json", v1_app)
    answer = run_python(python, V1_FOLDERS, v1_app)
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert json.loads(answer.stdout.strip().splitlines()[-1]) == {"status": 400, "error": "invalid_instance_id"}


@pytest.mark.skipif(sys.version_info < (3, 13), reason="azure-functions-durable 2.x needs Python 3.13 or later")
def test_the_example_installs_on_the_2x_sdk_as_its_readme_says_and_indexes(tmp_path: Path) -> None:
    root = tmp_path / "repository"
    copy_tracked(root)
    run_readme(readme_commands("With the 2.x SDK"), root)
    example = root / EXAMPLE

    names, durable = indexed(example / ".venv" / "bin" / "python", example)

    assert durable == "2.0.0rc3"
    assert ROUTES | {"SingletonOrchestrator", "SampleActivity"} <= names
