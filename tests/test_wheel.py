"""The core as a package: its wheel builds, installs into a fresh venv from PyPI, and the v1 folders and the
example decorator app load and answer from the installed package, not from the repository's folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from tests.support.worker import APP_ROOT

# Bounded: a fresh venv installs the wheel's dependencies from PyPI (a warm pip cache makes it quick).
INSTALL_SECONDS = 600
PROBE = """
import asyncio, json, sys
import azure.functions as func
import singleton_start
assert "site-packages" in singleton_start.__file__, singleton_start.__file__
sys.path.insert(0, "app")
sys.path.insert(0, "example")
import function_app
names = sorted(fb._function.get_function_name() for fb in function_app.app._function_builders)
from HttpStartSingle import main
request = func.HttpRequest("POST", "http://127.0.0.1/api/orchestrators/SingletonOrchestrator/a%23b", body=b"",
                           route_params={"functionName": "SingletonOrchestrator", "instanceId": "a#b"})
answer = asyncio.run(main(request, "{}"))
print(json.dumps({"names": names, "status": answer.status_code, "error": json.loads(answer.get_body())["error"]}))
"""


def test_the_wheel_installs_and_the_v1_folders_and_the_example_run_from_it(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(APP_ROOT / "pyproject.toml", source)
    shutil.copytree(APP_ROOT / "singleton_start", source / "singleton_start")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        timeout=INSTALL_SECONDS,
    )
    (wheel,) = (tmp_path / "dist").glob("singleton_start-*.whl")

    # The venv gets no pip of its own (ensurepip takes seconds): this venv's pip installs into it.
    venv.create(tmp_path / "venv", with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        timeout=INSTALL_SECONDS,
    )
    run = tmp_path / "run"
    shutil.copytree(APP_ROOT / "examples" / "v2-app", run / "example")
    for folder in ("HttpStartSingle", "HttpGetStatus", "HttpTerminate", "HttpRaiseEvent"):
        shutil.copytree(APP_ROOT / folder, run / "app" / folder)
    # The probe's working directory stands for the script root, whose host.json the endpoints check at load.
    shutil.copy(APP_ROOT / "host.json", run)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    }
    probe = subprocess.run(
        [str(python), "-c", PROBE], cwd=run, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    result = probe.stdout.strip().splitlines()[-1]
    assert '"status": 400' in result and '"error": "invalid_instance_id"' in result
    for name in ("HttpStartSingle", "HttpGetStatus", "HttpTerminate", "HttpRaiseEvent", "SingletonOrchestrator"):
        assert f'"{name}"' in result
