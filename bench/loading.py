"""The time to load HttpStartSingle in a new process, imports included, against the sample's function.

Each probe is a new Python process (bench/load_probe.py) started in the app's root with the
benchmark's storage connection string; the app and the sample are loaded by the same code, in pairs,
so that a slow moment of the machine falls on both.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

APP_ROOT = Path(__file__).resolve().parents[1]
PROBE_TIMEOUT_SECONDS = 120.0
# (module name, script, entry point) of each side, from the app's root.
FUNCTIONS = {
    "app": ("HttpStartSingle", "HttpStartSingle/__init__.py", "main"),
    "sample": ("naive_start", "tests/support/naive_start.py", "naive_main"),
}


def probe_environment(env: Mapping[str, str], connection_string: str) -> dict[str, str]:
    """This environment with the given connection string as the app's storage, and no identity-based one."""
    kept = {name: value for name, value in env.items() if not name.startswith("AzureWebJobsStorage__")}
    return kept | {"AzureWebJobsStorage": connection_string}


def cached_bytecode(env: Mapping[str, str], cache: str) -> dict[str, str]:
    """Bytecode read from and written to a cache of the run's own, so that no load's time depends on whether this
    shell lets Python write bytecode or on what an earlier run left beside the sources."""
    kept = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return kept | {"PYTHONPYCACHEPREFIX": cache}


async def probe(side: str, env: Mapping[str, str], *python_options: str) -> dict[str, Any]:
    """One load in a new process; fails with the probe's own error output when the load fails."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *python_options,
        "-m",
        "bench.load_probe",
        *FUNCTIONS[side],
        cwd=APP_ROOT,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"loading the {side}'s function failed: {err.decode(errors='replace').strip()}")
    result: dict[str, Any] = json.loads(out)
    result["stderr"] = err.decode(errors="replace")
    return result


def import_times(importtime_output: str) -> dict[str, float]:
    """Milliseconds of each module's own import, from ``python -X importtime``'s lines (self, cumulative, name)."""
    times: dict[str, float] = {}
    for line in importtime_output.splitlines():
        head, _, rest = line.partition("import time:")
        fields = rest.split("|")
        if head or len(fields) != 3 or not fields[0].strip().isdigit():
            continue
        times[fields[2].strip()] = int(fields[0]) / 1000
    return times


def package(module: str) -> str:
    """The package a module is counted under: azure.X for the Azure SDKs, the top-level name otherwise."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "azure" and len(parts) > 1 else parts[0]


def side_figures(
    probes: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]], own_import_ms: Mapping[str, float]
) -> dict[str, Any]:
    """A side's load times and modules; the modules beyond the other side's, by package, with their import time."""
    modules = set(probes[-1]["modules"])
    beyond = Counter(package(name) for name in modules - set(other[-1]["modules"]))
    beyond_ms: dict[str, float] = dict.fromkeys(beyond, 0.0)
    for name in modules - set(other[-1]["modules"]):
        beyond_ms[package(name)] += own_import_ms.get(name, 0.0)
    load_ms = [each["load_ms"] for each in probes]
    return {
        "load_ms": load_ms,
        "p50_ms": round(statistics.median(load_ms), 3),
        "cpu_ms": round(statistics.median(each["cpu_ms"] for each in probes), 3),
        "modules": len(modules),
        "extra_packages": [
            [name, beyond[name], round(milliseconds, 1)]
            for name, milliseconds in sorted(beyond_ms.items(), key=lambda item: -item[1])
        ],
        "imports_identity": "azure.identity" in modules,
    }


async def measure_loads(connection_string: str, count: int) -> dict[str, Any]:
    """``count`` loads of each side, in pairs whose order alternates, after one pair that fills the bytecode cache
    and one that tells each module's own import time (``-X importtime``, which slows the load it times)."""
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        env = cached_bytecode(probe_environment(os.environ, connection_string), cache)
        for side in FUNCTIONS:
            await probe(side, env)
        own_import_ms = {
            side: import_times((await probe(side, env, "-X", "importtime"))["stderr"]) for side in FUNCTIONS
        }
        probes: dict[str, list[dict[str, Any]]] = {side: [] for side in FUNCTIONS}
        for turn in range(count):
            for side in ("app", "sample") if turn % 2 == 0 else ("sample", "app"):
                probes[side].append(await probe(side, env))
    return {
        "app": side_figures(probes["app"], probes["sample"], own_import_ms["app"]),
        "sample": side_figures(probes["sample"], probes["app"], own_import_ms["sample"]),
    }
