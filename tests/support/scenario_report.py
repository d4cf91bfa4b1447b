"""A session-wide tally of the contention, fault and hostile-input scenarios, as a Markdown table.

Test modules list this module in `pytest_plugins` and record through the `scenario_report`
fixture; at the end of the session the table is written to the path named by the SCENARIO_REPORT
environment variable, and nowhere when it is unset.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPORT_PATH_VARIABLE = "SCENARIO_REPORT"


@dataclass
class Tally:
    """What one scenario sent, started and got back, summed over every run of it."""

    requests: int = 0
    started: int = 0
    answers: Counter[int] = field(default_factory=Counter)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.answers.items() if status >= 500)


@dataclass
class ScenarioReport:
    """One row per scenario, in the order the scenarios first ran."""

    tallies: dict[str, Tally] = field(default_factory=dict)

    def record(self, scenario: str, statuses: Iterable[int], started: int) -> None:
        """Add requests (by the status each got) and the instances they started to a scenario's row."""
        tally = self.tallies.setdefault(scenario, Tally())
        counted = Counter(statuses)
        tally.requests += sum(counted.values())
        tally.started += started
        tally.answers.update(counted)

    def markdown(self) -> str:
        lines = [
            "| scenario | requests | instances started | answers by status | 5xx seen |",
            "|---|---:|---:|---|---:|",
        ]
        for scenario, tally in self.tallies.items():
            answers = ", ".join(f"{status}: {count}" for status, count in sorted(tally.answers.items()))
            lines.append(f"| {scenario} | {tally.requests} | {tally.started} | {answers} | {tally.server_errors} |")
        return "\n".join(lines) + "\n"


REPORT = ScenarioReport()


@pytest.fixture(scope="session")
def scenario_report() -> ScenarioReport:
    """The session's report; tests record the figures of the scenarios they run."""
    return REPORT


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get(REPORT_PATH_VARIABLE, "").strip()
    if path and REPORT.tallies:
        Path(path).write_text(REPORT.markdown(), encoding="utf-8")
