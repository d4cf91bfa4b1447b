"""One script of requests to the four routes, and its answers reduced to what must not depend on the backend: the
v1 folders (1.x SDK, HTTP) and the decorator app with the 2.x SDK (gRPC) cannot load in one environment, so the
first leaves its transcript where the second compares with it."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP_ROOT = Path(__file__).resolve().parents[2]
START, STATUS, TERMINATE, EVENT = "HttpStartSingle", "HttpGetStatus", "HttpTerminate", "HttpRaiseEvent"
# The active states differ by backend (a stand-in's start stays Pending, a worker's runs): both are "active".
ACTIVE = re.compile(r"\b(Pending|Running)\b")
ORIGIN = re.compile(r"https?://[^/\"]+")
REQUEST_TAG = re.compile(r"\[request [0-9a-f]{8}\]")


@dataclass(frozen=True)
class Step:
    """One request: a route, the instance (a name the runner maps to an ID), a body, an event name."""

    label: str
    function: str
    instance: str
    body: bytes = b""
    event: str = ""


# An event holds its ID for the lease's length (its message may still be queued), so terminate takes another.
SCRIPT = (
    Step("start", START, "a", b'{"n": 1}'),
    Step("start over the active instance", START, "a", b'{"n": 2}'),
    Step("start with a bad ID", START, "@bad"),
    Step("status of the active instance", STATUS, "a"),
    Step("status of no instance", STATUS, "missing"),
    Step("event with a name of dots", EVENT, "a", event=".."),
    Step("event", EVENT, "a", b'"go"', event="Stop"),
    Step("start another", START, "b"),
    Step("terminate", TERMINATE, "b"),
    Step("terminate again", TERMINATE, "b"),
    Step("status of the terminated instance", STATUS, "b"),
)

Call = Callable[[Step, str], Awaitable[tuple[int, Mapping[str, str], bytes]]]


def normalize(
    status: int, headers: Mapping[str, str], body: bytes, ids: Mapping[str, str], orchestrator: str
) -> dict[str, Any]:
    """The answer with instance IDs, the orchestrator's name, the origin, times and the active state's name
    replaced: what is left must be the same on both SDK lines."""
    text = body.decode()
    for name, instance_id in ids.items():
        text = text.replace(instance_id, f"<{name}>")
    text = ACTIVE.sub("<active>", ORIGIN.sub("<origin>", text.replace(orchestrator, "<orchestrator>")))
    text = REQUEST_TAG.sub("[request <tag>]", text)  # each terminate's own tag
    document = json.loads(text) if text else None
    if isinstance(document, dict):
        for field in ("createdTime", "lastUpdatedTime"):
            if field in document:
                document[field] = "<time>"
    kept = {name.lower(): value for name, value in headers.items() if name.lower() in ("location", "retry-after")}
    if "location" in kept:
        location = kept["location"]
        for name, instance_id in ids.items():
            location = location.replace(instance_id, f"<{name}>")
        kept["location"] = ORIGIN.sub("<origin>", location.replace(orchestrator, "<orchestrator>"))
    return {"status": status, "headers": kept, "body": document}


async def run_script(call: Call, ids: Mapping[str, str], orchestrator: str) -> list[dict[str, Any]]:
    """Each step's normalized answer, in order; `call` sends a step to the given instance ID."""
    answers = []
    for step in SCRIPT:
        status, headers, body = await call(step, ids.get(step.instance, step.instance))
        answers.append({"step": step.label, **normalize(status, headers, body, ids, orchestrator)})
    return answers


def transcript_path() -> Path:
    """Where the v1 folders' transcript is left for the 2.x run of the same checkout."""
    tag = hashlib.sha256(str(APP_ROOT).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"singleton-start-v1-transcript-{tag}.json"
