"""scripts/setup.sh keeps .venv on the Python that was asked for, within the supported range."""

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


def test_python_older_than_3_11_is_refused_and_no_venv_is_made(tmp_path: Path) -> None:
    result = ensure_python_env(tmp_path, str(fake_python(tmp_path / "bin" / "python3.10", "3.10.13")))

    assert result.returncode == 1
    assert "Python 3.11 to 3.99 is needed (found Python 3.10.13)" in result.stderr
    assert not (tmp_path / ".venv").exists()


def test_existing_venv_of_another_python_is_recreated_with_the_requested_one(tmp_path: Path) -> None:
    fake_python(tmp_path / ".venv" / "bin" / "python", "3.12.1")

    result = ensure_python_env(tmp_path, sys.executable)

    assert result.returncode == 0, result.stderr
    assert "Recreating .venv" in result.stdout
    made_with = subprocess.run(
        [tmp_path / ".venv" / "bin" / "python", "-c", "import sys; print(sys.version_info[:3], sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert made_with == f"{tuple(sys.version_info[:3])} {sys.base_prefix}"


def test_existing_venv_of_the_requested_python_is_kept(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp_path / ".venv"], check=True)
    marker = tmp_path / ".venv" / "kept"
    marker.write_text("")
    # Installed already: the stamp holds the digest of the (empty) requirements.
    (tmp_path / ".venv" / ".installed-requirements.txt").write_text(hashlib.sha256(b"").hexdigest() + "\n")

    result = ensure_python_env(tmp_path, sys.executable)

    assert result.returncode == 0, result.stderr
    assert "Recreating" not in result.stdout
    assert marker.exists()
