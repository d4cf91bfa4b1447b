"""A CPU profile of fresh starts through the app: where its time goes, and what the storage SDK costs per call."""

from __future__ import annotations

import cProfile
import io
import pstats
import sysconfig
from pathlib import Path
from typing import Any

TOP_ENTRIES = 40
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
STORAGE_SDK = ("/azure/core/", "/azure/storage/")


def own_cpu_seconds(stats: pstats.Stats, parts: tuple[str, ...]) -> float:
    """CPU spent inside the functions of files whose path holds one of ``parts`` (their own time only)."""
    # pstats.Stats keeps its table in `stats` and prints to `stream`; typeshed declares neither.
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    return sum(entry[2] for (filename, _, _), entry in raw.items() if any(part in filename for part in parts))


def write_profile(
    profiler: cProfile.Profile, starts: int, cpu_seconds: float, blob_ops: int, path: Path
) -> dict[str, Any]:
    """Write the top entries by cumulative time to ``path``; returns the figures and a one-line summary.

    Code that awaits is not charged while it waits, so a function's own time is CPU; all of it under the profiler.
    """
    stats = pstats.Stats(profiler)
    sdk = own_cpu_seconds(stats, STORAGE_SDK)
    figures: dict[str, Any] = {
        "starts": starts,
        "blob_ops": blob_ops,
        "cpu_ms_per_start": round(cpu_seconds / starts * 1000, 3),
        "storage_sdk_cpu_ms_per_start": round(sdk / starts * 1000, 3),
        "storage_sdk_cpu_ms_per_blob_op": round(sdk / blob_ops * 1000, 3) if blob_ops else None,
        "file": str(path),
    }
    figures["summary"] = (
        f"Profile of {starts} fresh starts (cProfile): {figures['cpu_ms_per_start']:.2f} ms CPU per start, "
        f"{figures['storage_sdk_cpu_ms_per_start']:.2f} ms of it in azure.core/azure.storage code "
        f"({figures['storage_sdk_cpu_ms_per_blob_op']} ms per blob operation, {blob_ops / starts:g} per start), "
        "all under the profiler; "
        f"top entries in {path.name}."
    )
    text = io.StringIO()
    stats.stream = text  # type: ignore[attr-defined]  # undeclared, as above
    # A coroutine counts one call per resumption; the event loop's wait for answers tops the list by cumulative time.
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(TOP_ENTRIES)
    stats.sort_stats(pstats.SortKey.TIME).print_stats(TOP_ENTRIES // 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(figures["summary"] + "\n" + text.getvalue().replace(SITE_PACKAGES + "/", ""))
    return figures
