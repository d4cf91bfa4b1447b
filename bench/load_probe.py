"""Load one function's script in this new process as the worker loads it, and print what that took as JSON.

    python -m bench.load_probe NAME SCRIPT ENTRY_POINT

Run with the function app's root as the working directory. The worker has azure.functions loaded before
it loads any function, so that import is made before the clock starts; everything else the script
imports counts.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import azure.functions  # noqa: F401 - loaded by the worker before any function


def load(name: str, script: Path, entry_point: str) -> dict[str, object]:
    before = set(sys.modules)
    began, cpu_began = time.perf_counter(), time.process_time()
    sys.path.insert(0, str(Path.cwd()))
    spec = importlib.util.spec_from_file_location(name, script, submodule_search_locations=[str(script.parent)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    getattr(module, entry_point)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    return {
        "load_ms": round(wall * 1000, 3),
        "cpu_ms": round(cpu * 1000, 3),
        "modules": sorted(set(sys.modules) - before),
    }


if __name__ == "__main__":
    name, script, entry_point = sys.argv[1:4]
    print(json.dumps(load(name, Path(script), entry_point)))
