"""scripts/setup.sh keeps one environment per Python version, made by the Python asked for, in the supported range."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.worker import APP_ROOT


def ensure_python_env(workdir: Path, python: str) -> subprocess.CompletedProcess[str]:
    """Run ensure_python_env from scripts/setup.sh in workdir, with an empty requirements file."""
    shutil.copy(APP_ROOT / "scripts" / "setup.sh", workdir / "setup.sh")
    (workdir / "requirements.txt").write_text("")
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail; source setup.sh; ensure_python_env requirements.txt"],
        cwd=workdir,
        env={**os.environ, "PYTHON": python},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fake_python(path: Path, version: str) -> Path:
    """An executable that answers the version questions setup.sh asks as another Python would."""
    minor = version.split(".")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *--version*) echo "Python {version}";; *base_prefix*) echo "{version} /opt/python{version}";; '
        f"*) echo {minor};; esac\n"
    )
    path.chmod(0o755)
    return path


def installed(env: Path) -> None:
    """Mark env as installed with the (empty) requirements of ensure_python_env, so no pip runs."""
    (env / ".installed-requirements.txt").write_text(hashlib.sha256(b"").hexdigest() + "\n")


def test_python_older_than_3_11_is_refused_and_no_venv_is_made(tmp_path: Path) -> None:
    result = ensure_python_env(tmp_path, str(fake_python(tmp_path / "bin" / "python3.10", "3.10.13")))

    assert result.returncode == 1
    assert "Python 3.11 to 3.13 is needed (found Python 3.10.13)" in result.stderr
    assert not list(tmp_path.glob(".venv*"))


def test_python_newer_than_the_newest_supported_is_refused_naming_that_bound(tmp_path: Path) -> None:
    result = ensure_python_env(tmp_path, str(fake_python(tmp_path / "bin" / "python3.14", "3.14.0")))

    assert result.returncode == 1
    assert "Python 3.11 to 3.13 is needed (found Python 3.14.0)" in result.stderr
    assert not list(tmp_path.glob(".venv*"))


def test_an_interpreter_that_does_not_run_is_refused_in_one_line(tmp_path: Path) -> None:
    """pyenv's shim for a version that is installed but not selected explains itself over several lines."""
    shim = tmp_path / "bin" / "python3.13"
    shim.parent.mkdir()
    shim.write_text(
        "#!/bin/sh\n"
        "echo 'pyenv: python3.13: command not found' >&2\n"
        "echo >&2\n"
        'echo "The `python3.13\' command exists in these Python versions:" >&2\n'
        "echo '  3.13.0' >&2\n"
        "exit 127\n"
    )
    shim.chmod(0o755)

    result = ensure_python_env(tmp_path, str(shim))

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "Python 3.11 to 3.13 is needed" in result.stderr
    assert "(pyenv: python3.13: command not found)" in result.stderr
    assert "PYTHON=" in result.stderr


def test_existing_venv_of_another_python_is_recreated_with_the_requested_one(tmp_path: Path) -> None:
    env = tmp_path / f".venv-3.{sys.version_info[1]}"
    fake_python(env / "bin" / "python", f"3.{sys.version_info[1]}.99")

    result = ensure_python_env(tmp_path, sys.executable)

    assert result.returncode == 0, result.stderr
    assert f"Recreating .venv-3.{sys.version_info[1]}" in result.stdout
    made_with = subprocess.run(
        [env / "bin" / "python", "-c", "import sys; print(sys.version_info[:3], sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert made_with == f"{tuple(sys.version_info[:3])} {sys.base_prefix}"


def test_existing_venv_of_the_requested_python_is_kept(tmp_path: Path) -> None:
    env = tmp_path / f".venv-3.{sys.version_info[1]}"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    marker = env / "kept"
    marker.write_text("")
    installed(env)

    result = ensure_python_env(tmp_path, sys.executable)

    assert result.returncode == 0, result.stderr
    assert "Recreating" not in result.stdout
    assert marker.exists()


def test_switching_python_reuses_each_versions_environment_and_links_venv_to_the_last(tmp_path: Path) -> None:
    pythons = {version: fake_python(tmp_path / "bin" / f"python{version}", version) for version in ("3.11.7", "3.13.0")}
    for version, python in pythons.items():
        env = tmp_path / f".venv-{version[:4]}"
        (env / "bin").mkdir(parents=True)
        shutil.copy(python, env / "bin" / "python")
        installed(env)
        (env / "kept").write_text("")

    runs = [ensure_python_env(tmp_path, str(pythons[version])) for version in ("3.11.7", "3.13.0", "3.11.7")]

    for result in runs:
        assert result.returncode == 0, result.stderr
        assert "Recreating" not in result.stdout
        assert "Installing" not in result.stdout
    assert (tmp_path / ".venv-3.11" / "kept").exists()
    assert (tmp_path / ".venv-3.13" / "kept").exists()
    assert os.readlink(tmp_path / ".venv") == ".venv-3.11"


def test_the_old_shared_venv_is_replaced_by_a_link_to_the_versions_environment(tmp_path: Path) -> None:
    python = fake_python(tmp_path / "bin" / "python3.12", "3.12.1")
    env = tmp_path / ".venv-3.12"
    (env / "bin").mkdir(parents=True)
    shutil.copy(python, env / "bin" / "python")
    installed(env)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)

    result = ensure_python_env(tmp_path, str(python))

    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".venv").is_symlink()
    assert os.readlink(tmp_path / ".venv") == ".venv-3.12"
