"""The files of a deployment package, chosen from an app folder as Core Tools and azd choose them with .funcignore.

The two tools read .funcignore differently, so the package is computed both ways:

- Core Tools (`func azure functionapp publish`; Azure/azure-functions-core-tools at 3ee97a6,
  src/Cli/func/Common/FileSystemHelpers.cs `GetLocalFiles` and Common/GitIgnoreParser.cs, a port of the npm
  gitignore-parser): every file under the root, except in folders named `.git` or `.vscode` and files named
  `.funcignore`, `.gitignore`, `local.settings.json` or `project.lock.json`, ships unless a pattern matches the
  start of its path (a leading `/` is dropped; a bare `__pycache__` matches only the root's, and `docs` any path
  that starts with it; `*` stays within a folder, `**` crosses folders); a `!` pattern keeps whatever it matches,
  wherever it stands in the file.
- azd (`azd deploy`; Azure/azure-dev at ae35809, cli/azd/pkg/project/project_utils.go `createDeployableZip`, with
  github.com/denormal/go-gitignore): gitignore rules (a pattern without a slash matches at any depth, the last
  matching pattern wins, an ignored folder is not entered), and `.azure/`, `.funcignore` and `local.settings.json`
  always left out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pathspec

APP_ROOT = Path(__file__).resolve().parents[2]
IGNORE_FILE = ".funcignore"
CORE_TOOLS_SKIPPED_FOLDERS = {".git", ".vscode"}
CORE_TOOLS_SKIPPED_FILES = {".funcignore", ".gitignore", "local.settings.json", "project.lock.json"}
# GitIgnoreParser.PrepareRegexPattern: these characters are escaped, then ** and * become regex.
CORE_TOOLS_ESCAPED = re.compile(r"[\-\[\]/{}()+?.\\^$|]")


def _core_tools_regex(patterns: list[str]) -> re.Pattern[str] | None:
    parts = [CORE_TOOLS_ESCAPED.sub(lambda m: "\\" + m.group(0), p).replace("**", "(.+)") for p in patterns]
    parts = [part.replace("*", r"([^\/]+)") for part in parts]
    return re.compile("^((" + ")|(".join(parts) + "))") if parts else None


def core_tools_package(root: Path) -> set[str]:
    """The paths, relative to root, that Core Tools puts in the package."""
    lines = [line.strip() for line in (root / IGNORE_FILE).read_text(encoding="utf-8-sig").split("\n")]
    positive: list[str] = []
    negative: list[str] = []
    for line in (line for line in lines if line and not line.startswith("#")):
        kept = line.startswith("!")
        line = line.removeprefix("!").removeprefix("/")
        (negative if kept else positive).append(line)
    ignored, kept_anyway = _core_tools_regex(positive), _core_tools_regex(negative)
    files = set()
    for folder, folders, names in os.walk(root, followlinks=True):
        folders[:] = [name for name in folders if name.lower() not in CORE_TOOLS_SKIPPED_FOLDERS]
        for name in names:
            if name.lower() in CORE_TOOLS_SKIPPED_FILES:
                continue
            path = (Path(folder) / name).relative_to(root).as_posix()
            if (kept_anyway is not None and kept_anyway.match(path)) or ignored is None or not ignored.match(path):
                files.add(path)
    return files


def azd_package(root: Path) -> set[str]:
    """The paths, relative to root, that azd puts in the package."""
    spec = pathspec.GitIgnoreSpec.from_lines((root / IGNORE_FILE).read_text(encoding="utf-8-sig").splitlines())
    files = set()
    for folder, folders, names in os.walk(root, followlinks=True):
        here = Path(folder).relative_to(root)
        folders[:] = [
            name for name in folders if name != ".azure" and not spec.match_file((here / name).as_posix() + "/")
        ]
        for name in names:
            path = (here / name).as_posix()
            if name in (IGNORE_FILE, "local.settings.json") or spec.match_file(path):
                continue
            files.add(path)
    return files


def tracked_files() -> list[str]:
    """The repository's files as git tracks them (those present in the working tree)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=APP_ROOT, capture_output=True, text=True, check=True)
    return [path for path in listed.stdout.split("\0") if path and (APP_ROOT / path).is_file()]


def copy_tracked(root: Path) -> list[str]:
    """Copy the repository's tracked files into root, as a fresh clone has them; returns their paths."""
    tracked = tracked_files()
    for path in tracked:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(APP_ROOT / path, root / path)
    return tracked
