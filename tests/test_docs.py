"""The documents hold to the app: the runbook's queries read only what the app logs, and every link resolves."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest

from singleton_start.http.adapter import ATTRIBUTE_NAMES, log_request
from singleton_start.http.routes import START_ROUTE
from singleton_start.service.start import StartStats
from tests.support.worker import APP_ROOT

RUNBOOK = APP_ROOT / "docs" / "operations.md"
DOCUMENTS = [APP_ROOT / "README.md", *sorted((APP_ROOT / "docs").glob("*.md"))]


def logged_line(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    """The record a start that ran the start use case writes: every field the app logs is on it."""
    with caplog.at_level(logging.INFO, logger="singleton_start"):
        log_request(
            START_ROUTE, "nightly-sync", "SingletonOrchestrator", "started", 202, time.perf_counter(), StartStats(1)
        )
    (record,) = [record for record in caplog.records if record.name == "singleton_start"]
    return record


def queries() -> list[str]:
    blocks = re.findall(r"```kusto\n(.*?)```", RUNBOOK.read_text(), re.S)
    return [re.sub(r"^ +", "", block, flags=re.M) for block in blocks]


def dimensions_read(query: str) -> set[str]:
    """The customDimensions a query reads: the fields of the OpenTelemetry shape of the line, or of the span."""
    return set(re.findall(r"""customDimensions\["([^"]+)"\]""", query))


def json_fields_read(query: str) -> set[str]:
    """The fields a query reads from the JSON line in `message`, parsed as `line`."""
    return set(re.findall(r"\bline\.(\w+)", query))


def test_every_field_a_runbook_query_reads_is_one_the_app_logs(caplog: pytest.LogCaptureFixture) -> None:
    record = logged_line(caplog)
    attributes = {name for name in vars(record) if name.startswith("singleton_start.")}
    json_names = set(json.loads(record.getMessage()))

    dimensions = set().union(*map(dimensions_read, queries()))
    fields = set().union(*map(json_fields_read, queries()))
    named = set().union(*(re.findall(r"singleton_start\.\w+", query) for query in queries()))

    assert dimensions and fields
    assert dimensions <= attributes
    assert named <= attributes
    assert fields <= json_names


def test_the_runbook_finds_the_plain_line_by_how_it_begins(caplog: pytest.LogCaptureFixture) -> None:
    message = logged_line(caplog).getMessage()

    prefixes = set().union(*(re.findall(r"message startswith '([^']+)'", query) for query in queries()))

    assert prefixes
    assert all(message.startswith(prefix) for prefix in prefixes)


def test_both_shapes_of_the_line_give_the_alert_queries_the_same_columns() -> None:
    sources = [query for query in queries() if query.startswith("let lines = traces")]

    columns = [set(re.findall(r"^(\w+) = ", source, re.M)) for source in sources]

    assert len(sources) == 2
    assert columns[0] == columns[1]
    assert "timestamp" in sources[0] and "timestamp" in sources[1]


def test_every_attribute_the_runbook_says_to_alert_on_is_read_by_a_query_in_both_shapes() -> None:
    json_name_of = {attribute: name for name, attribute in ATTRIBUTE_NAMES.items()}
    text = RUNBOOK.read_text()
    alert_on = text[text.index("**Alert on**") :]
    alert_on = alert_on[: alert_on.index("\n\n")]

    alerted = set(re.findall(r"singleton_start\.\w+", alert_on))

    assert alerted
    assert alerted <= set().union(*map(dimensions_read, queries()))
    assert {json_name_of[attribute] for attribute in alerted} <= set().union(*map(json_fields_read, queries()))


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces as hyphens."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in outside_code(path):
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return found


def outside_code(path: Path) -> list[str]:
    lines, fenced = [], False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(APP_ROOT)))
def test_every_link_between_the_documents_resolves(document: Path) -> None:
    broken = []
    for line in outside_code(document):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (document.parent / path) if path else document
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
                broken.append(target)

    assert broken == []


def test_the_readme_stays_short_and_maps_every_document() -> None:
    readme = (APP_ROOT / "README.md").read_text()

    unmapped = [path.name for path in DOCUMENTS[1:] if f"](docs/{path.name})" not in readme]

    assert len(readme.splitlines()) <= 300
    assert unmapped == []
