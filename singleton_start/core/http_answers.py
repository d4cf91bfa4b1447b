"""What an answer of the Durable extension's HTTP API means (Durable Functions 1.x), as pure functions of its
status code and JSON body, and the requests the 1.x adapter sends. adapters/durable_http.py and the simulator
both go through these, as grpc_answers.py serves the 2.x line.

Sources (docs/model.md has each rule with its commit): Azure/azure-functions-durable-extension
`HttpApiHandler` (HandleGetStatusRequestAsync, HandleStartOrchestratorRequestAsync,
HandleTerminateInstanceRequestAsync, HandleRaiseEventRequestAsync) and `LocalHttpListener`, which answers an
empty-bodied 500 when a handler throws.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from .errors import AlreadyExists, InDoubt, InstanceEnded, NoInstance, Refused, Sent, Unavailable
from .status import MISSING, Observed, state_of

# HandleGetStatusRequestAsync answers an instance's status with 200, 202, 400 or 500 (a failed one).
STATUS_READ_CODES = frozenset({200, 202, 400, 500})
ALREADY_EXISTS_EXCEPTION = "OrchestrationAlreadyExistsException"
TERMINATED_EVENT = "ExecutionTerminated"
# DurableClient's second read before a terminate or an event: the instance is gone (400), or not running (500).
NO_INSTANCE_EXCEPTION = "ArgumentException"
NOT_RUNNING_EXCEPTION = "InvalidOperationException"
MAX_ERROR_TEXT = 200


def url_segment(instance_id: str) -> str:
    """The ID as one URL path segment: '%', '/', a space and the like escaped.

    A '+' goes as %252B: HttpApiHandler runs WebUtility.UrlDecode on the already decoded path, which
    reads a '+' as a space; this form arrives as '+' whether or not a release has that extra decode.
    """
    return quote(instance_id, safe="").replace("%2B", "%252B")


def status_url(base: str, instance_id: str, *, with_input: bool, with_history: bool = False) -> str:
    """A status read's URL; showInput is said either way, since the extension's default is true. With its history,
    the input stays on: the terminate's reason in it is what the history is read for."""
    query = "showInput=true&showHistory=true" if with_history else f"showInput={'true' if with_input else 'false'}"
    return f"{base}instances/{url_segment(instance_id)}?{query}"


def start_request(base: str, orchestrator: str, instance_id: str, orchestrator_input: Any) -> tuple[str, bytes]:
    """A start's URL and body. The body is what the 1.x SDK sends: the input's JSON text posted as a JSON string,
    which the extension stores and the 1.x orchestrator's get_input() parses again; no input, no body."""
    url = f"{base}orchestrators/{quote(orchestrator, safe='')}/{url_segment(instance_id)}"
    return url, b"" if orchestrator_input is None else json.dumps(json.dumps(orchestrator_input)).encode()


def terminate_url(base: str, instance_id: str, reason: str) -> str:
    return f"{base}instances/{url_segment(instance_id)}/terminate?reason={quote(reason, safe='')}"


def event_url(base: str, instance_id: str, event_name: str) -> str:
    return f"{base}instances/{url_segment(instance_id)}/raiseEvent/{quote(event_name, safe='')}"


def event_body(data: Any) -> bytes:
    """An event's body: the data's JSON itself, which HandleRaiseEventRequestAsync reads as the event's value,
    so that wait_for_external_event yields the value the caller sent (not a string of its JSON text)."""
    return json.dumps(data).encode()


def _time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def status_answer(http_status: int | None, body: Any) -> Observed:
    """A status read's answer as the instance's status: MISSING for a 404; Unavailable for anything that is not
    a status. The RPC listener answers an empty-bodied 500 when its handler throws, which is not a status."""
    if http_status == 404:
        return MISSING
    if http_status not in STATUS_READ_CODES or not isinstance(body, dict) or not body.get("runtimeStatus"):
        raise Unavailable(f"The status read was answered with {describe(http_status, body)}, which is not a status.")
    runtime_status = str(body["runtimeStatus"])
    try:
        state = state_of(runtime_status)
    except ValueError as error:
        raise Unavailable(f"The status read gave {error}.") from None
    return Observed(
        state=state,
        runtime_status=runtime_status,
        created_time=_time(body.get("createdTime")),
        last_updated_time=_time(body.get("lastUpdatedTime")),
        input=body.get("input"),
        output=body.get("output"),
        name=body.get("name"),
        custom_status=body.get("customStatus"),
        terminated_by=terminated_by(body.get("historyEvents")),
    )


def terminated_by(history: Any) -> str | None:
    """The reason of the terminate the execution processed, from the history DurableClient adds to a status read
    with showHistory (EventType by name, the event's Input kept with showInput); None when there is none."""
    if not isinstance(history, list):
        return None
    reasons = [
        event.get("Input")
        for event in history
        if isinstance(event, dict) and event.get("EventType") == TERMINATED_EVENT
    ]
    return str(reasons[-1]) if reasons and reasons[-1] is not None else None


def start_answer(http_status: int | None, body: Any) -> None:
    """Return on a clear acceptance; raise what a start's answer means otherwise.

    HttpApiHandler.HandleStartOrchestratorRequestAsync answers 202 once StartNewAsync returned, 400 for bad
    arguments, and lets every other exception reach its catch-all 500, whose body names the exception: an
    OrchestrationAlreadyExistsException is a refusal, made before anything was queued (a 409 is read the same
    way). Any other 500 leaves the start in doubt: the tracking row's write may have timed out in the extension
    and still land (docs/model.md), so it is settled by reads, as a lost answer is.
    """
    if http_status == 202 and isinstance(body, dict) and body.get("id"):
        return
    if http_status == 400:
        raise Refused(f"The start was refused as invalid: {error_text(body)}")
    if http_status == 409 or (http_status == 500 and _exception_type(body).endswith(ALREADY_EXISTS_EXCEPTION)):
        raise AlreadyExists(f"The start was refused: {error_text(body)}")
    raise InDoubt(f"The start was answered with {describe(http_status, body)}; it may still run.", Sent.START)


def command_answer(operation: str, http_status: int | None, body: Any) -> None:
    """Return for 202 (queued); raise what a terminate's or an event's answer means otherwise.

    HttpApiHandler answers 404 for no instance and 410 for an ended one from its own read; DurableClient then
    reads again before it sends, and throws InvalidOperationException for an instance that ended in between
    (the catch-all's 500) and ArgumentException for one that is gone (400): nothing was sent either way. Any
    other 400 is a refusal of the arguments; any other answer (a 5xx, an empty 500: the send itself may have
    failed after the message was queued) leaves the command in doubt.
    """
    if http_status == 202:
        return
    if http_status == 404 or (http_status == 400 and _threw(body, NO_INSTANCE_EXCEPTION, "No instance")):
        raise NoInstance(f"{operation} found no instance.")
    if http_status == 410 or (http_status == 500 and _threw(body, NOT_RUNNING_EXCEPTION, "")):
        raise InstanceEnded(f"{operation} found the instance ended.")
    if http_status == 400:
        raise Refused(f"{operation} was refused: {error_text(body)}")
    raise InDoubt(f"{operation} was answered with {describe(http_status, body)}; it may still take effect.")


def describe(http_status: int | None, body: Any) -> str:
    """An answer in a few words, for log lines: its status and whether it had a body."""
    if body is None:
        return f"HTTP {http_status} and an empty body"
    return f"HTTP {http_status} ({error_text(body)})"


def error_text(body: Any) -> str:
    """The extension's error message from an answer's body, shortened for a log line."""
    if isinstance(body, dict):
        text = str(body.get("ExceptionMessage") or body.get("Message") or body)
    else:
        text = str(body)
    return text[:MAX_ERROR_TEXT].rstrip(".") + "."


def _exception_type(body: Any) -> str:
    return str(body.get("ExceptionType") or "") if isinstance(body, dict) else ""


def _threw(body: Any, exception: str, message_start: str) -> bool:
    """Whether the catch-all's body names this exception type, with a message starting so."""
    message = str(body.get("ExceptionMessage") or "") if isinstance(body, dict) else ""
    return _exception_type(body).endswith(exception) and message.startswith(message_start)
