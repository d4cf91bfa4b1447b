"""The HTTP contract: what a request must look like, how every answer is shaped, and the links answers carry.

Everything here is pure: values in, values out, no I/O. Each Retry-After has one source: RETRY_AFTER_SECONDS for
a request that changed nothing, the lease length for one that may still take effect, START_RETRY_AFTER_SECONDS and
POLL_RETRY_AFTER_SECONDS as the extension's own answers give them.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import azure.functions as func

from ..core.errors import InDoubt, NotRunYet, Sent, SingletonStartError
from ..core.idempotency import IdempotencyClaim, request_digest
from ..core.status import InstanceState, Observed
from ..service.signal import SignalCommand
from ..service.start import StartCommand

MAX_INSTANCE_ID_LENGTH = 256
MAX_JSON_DEPTH = 64
MAX_IDEMPOTENCY_KEY_LENGTH = 255
# A request that changed nothing may come again this soon.
RETRY_AFTER_SECONDS = 5
# What the extension's check-status response asks of a caller polling a new instance.
START_RETRY_AFTER_SECONDS = 10
# The extension's status route asks pollers to wait this long: some clients retry in a tight loop otherwise.
POLL_RETRY_AFTER_SECONDS = 5
_FORBIDDEN_ID_CHARACTERS = frozenset("/\\#?")
_PERCENT_ESCAPE = re.compile("%[0-9A-Fa-f]{2}")


class ErrorCode(Enum):
    """The one small set of error codes a caller can branch on, with their HTTP status."""

    INVALID_INSTANCE_ID = ("invalid_instance_id", 400)
    INVALID_IDEMPOTENCY_KEY = ("invalid_idempotency_key", 400)
    INVALID_JSON = ("invalid_json", 400)
    UNKNOWN_ORCHESTRATOR = ("unknown_orchestrator", 404)
    CONFLICT = ("conflict", 409)
    PAYLOAD_TOO_LARGE = ("payload_too_large", 413)
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", 415)
    IDEMPOTENCY_KEY_REUSED = ("idempotency_key_reused", 422)
    INTERNAL = ("internal", 500)
    UNAVAILABLE = ("unavailable", 503)
    NOT_FOUND = ("not_found", 404)
    GONE = ("gone", 410)
    INVALID_EVENT_NAME = ("invalid_event_name", 400)
    INVALID_REASON = ("invalid_reason", 400)

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]


class ContractError(SingletonStartError):
    """A request the contract refuses, with the sentence a person reads."""

    def __init__(self, error: ErrorCode, message: str) -> None:
        super().__init__(f"{error.code}: {message}")
        self.error = error
        self.message = message


@dataclass(frozen=True)
class NoInput:
    """The body was empty: the orchestrator gets no input (None)."""


NO_INPUT = NoInput()


def _utf16_length(text: str) -> int:
    # The Durable extension is .NET: its 256-character limit counts UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def validate_instance_id(instance_id: str | None) -> str | None:
    """Why the Durable extension would refuse this instance ID, or None when it is fine."""
    if not instance_id:
        return "The instance ID is empty; it must be 1 to 256 characters."
    length = _utf16_length(instance_id)
    if length > MAX_INSTANCE_ID_LENGTH:
        return f"The instance ID is {length} characters long; at most {MAX_INSTANCE_ID_LENGTH} are allowed."
    if instance_id in (".", ".."):
        return "The instance ID must not be '.' or '..': no URL can address such a path segment."
    if instance_id.startswith("@"):
        return "The instance ID must not start with '@' (that prefix is reserved for entities)."
    for character in instance_id:
        if character in _FORBIDDEN_ID_CHARACTERS:
            return f"The instance ID must not contain {character!r}; '/', '\\', '#' and '?' are not allowed."
        if unicodedata.category(character) == "Cc":
            return f"The instance ID must not contain control characters (found U+{ord(character):04X})."
    escape = _PERCENT_ESCAPE.search(instance_id)
    if escape:
        return (
            f"The instance ID must not contain {escape.group()!r}: the Durable extension decodes percent escapes "
            f"in instance IDs once more, so it would address the instance {unquote(instance_id)!r} instead."
        )
    return None


def resolve_orchestrator(requested: str | None, allowed: tuple[str, ...]) -> str | None:
    """The configured spelling of an allowed orchestrator name, matched case-insensitively."""
    if not requested:
        return None
    folded = requested.casefold()
    return next((name for name in allowed if name.casefold() == folded), None)


def validate_idempotency_key(key: str | None) -> str | None:
    """Why an Idempotency-Key header value is refused, or None when it is fine (or absent)."""
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        return f"The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters."
    if not all(" " <= character <= "~" for character in key):
        return "The Idempotency-Key header must be printable ASCII."
    return None


def _media_type(content_type: str) -> tuple[str, str | None]:
    media_type, _, parameters = content_type.partition(";")
    charset = None
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or None
    return media_type.strip().lower(), charset


def _is_json_media_type(media_type: str) -> bool:
    kind, _, subtype = media_type.partition("/")
    return bool(kind) and (media_type == "application/json" or subtype.endswith("+json"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def _depth(value: Any) -> int:
    """How many containers deep a JSON value nests, without recursion."""
    depth, level = 0, [value]
    while True:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            return depth
        depth += 1
        level = [
            child
            for container in containers
            for child in (container.values() if isinstance(container, dict) else container)
        ]


def parse_input(content_type: str | None, body: bytes, max_bytes: int) -> Any:
    """The orchestrator input carried by a request body, or NO_INPUT; raises ContractError."""
    if len(body) > max_bytes:
        raise ContractError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The body is {len(body)} bytes; at most {max_bytes} bytes are accepted.",
        )
    charset = None
    if content_type is not None and content_type.strip():
        media_type, charset = _media_type(content_type)
        if not _is_json_media_type(media_type):
            raise ContractError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type {media_type!r} is not JSON; send application/json or no Content-Type.",
            )
    try:
        encoding = codecs.lookup(charset or "utf-8").name
        "".encode(encoding)  # Only text encodings take a str: rot13, hex and the like raise LookupError.
    except (LookupError, TypeError):
        raise ContractError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"The charset {charset!r} is not a text encoding; send UTF-8."
        ) from None
    if not body:
        return NO_INPUT
    try:
        # RFC 8259 lets a parser ignore a leading byte order mark.
        text = body.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeDecodeError:
        raise ContractError(ErrorCode.INVALID_JSON, f"The body is not valid {charset or 'UTF-8'} text.") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as error:
        reason = "it is nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise ContractError(ErrorCode.INVALID_JSON, f"The body is not one valid JSON value: {reason[:200]}.") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ContractError(ErrorCode.INVALID_JSON, f"The body nests deeper than {MAX_JSON_DEPTH} levels.")
    return NO_INPUT if value is None else value


def error_body(error: ErrorCode, message: str) -> dict[str, Any]:
    """The one JSON shape of every error answer."""
    return {"error": error.code, "message": message}


def json_text(body: dict[str, Any]) -> str:
    """Serialize an answer body."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False)


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> func.HttpResponse:
    """Every answer is JSON; headers beyond Content-Type are the caller's choice."""
    return func.HttpResponse(
        json_text(body),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def error_response(error: ErrorCode, message: str, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """The one helper that builds an error answer."""
    return json_response(error.status, error_body(error, message), headers)


def started_response(links: dict[str, str], *, replayed: bool = False) -> func.HttpResponse:
    """202 with the body and headers create_check_status_response gives."""
    headers = {"Location": links["statusQueryGetUri"], "Retry-After": str(START_RETRY_AFTER_SECONDS)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(202, links, headers)


def existing_response(links: dict[str, str]) -> func.HttpResponse:
    """200 pointing at the active instance, for conflict policy use-existing."""
    return json_response(200, links, {"Location": links["statusQueryGetUri"]})


def iso_time(moment: datetime | None) -> str | None:
    """A UTC time as the extension writes it in status bodies: ISO 8601 with a Z."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def conflict_body(
    instance_id: str,
    runtime_status: str,
    created: datetime | None,
    updated: datetime | None,
    links: dict[str, str],
    reason: str,
) -> dict[str, Any]:
    """What a 409 tells the caller: which instance is in the way, and how to reach it."""
    return {
        **error_body(ErrorCode.CONFLICT, reason),
        "instanceId": instance_id,
        "runtimeStatus": runtime_status,
        "createdTime": iso_time(created),
        "lastUpdatedTime": iso_time(updated),
        **{key: value for key, value in links.items() if key != "id"},
    }


def conflict_response(
    observed: Observed, instance_id: str, links: dict[str, str], because: str | None = None
) -> func.HttpResponse:
    """409: the instance in the way, and how to reach it; `because` when a key's earlier request is in the way."""
    runtime_status = observed.runtime_status or "Unknown"
    reason = because or conflict_reason(instance_id, runtime_status, observed.state is InstanceState.ACTIVE)
    body = conflict_body(instance_id, runtime_status, observed.created_time, observed.last_updated_time, links, reason)
    return json_response(409, body, {"Location": links["statusQueryGetUri"]})


def key_reused_response() -> func.HttpResponse:
    return error_response(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "This Idempotency-Key was first sent with a different request; use a new key for a new request.",
    )


def conflict_reason(instance_id: str, runtime_status: str, active: bool) -> str:
    """The sentence of a 409."""
    if active:
        return f"An instance with ID {instance_id!r} is already {runtime_status}; nothing new was started."
    return (
        f"The instance with ID {instance_id!r} is {runtime_status} and the reuse policy does not allow "
        "replacing it; nothing new was started."
    )


def unavailable_response() -> func.HttpResponse:
    """503: nothing of the request took effect; the caller may retry the same request after Retry-After."""
    return error_response(
        ErrorCode.UNAVAILABLE,
        "Storage or the Durable backend could not be used in time; retry the same request later.",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def not_run_yet_response(error: NotRunYet) -> func.HttpResponse:
    """503: the instance has not run yet, so nothing was sent to it (what reaches it before it runs is lost)."""
    if error.started:
        message = (
            "This request started the instance, but the event was not sent: the new execution had not run yet. Send "
            "the same request again: it sends the event to that execution and starts nothing."
        )
    else:
        message = (
            "The instance has not started running yet, and what is sent to it before it runs is lost; nothing was "
            "sent. Retry the same request later."
        )
    return error_response(ErrorCode.UNAVAILABLE, message, {"Retry-After": str(RETRY_AFTER_SECONDS)})


IN_DOUBT_MESSAGES = {
    Sent.START: (
        "The start was sent but its outcome is not known yet; it may still run. Retry the same request later: with "
        "the same Idempotency-Key the retry gets this start's answer."
    ),
    Sent.TERMINATE_FOR_START: (
        "The active instance ended while this request's terminate may still be queued; nothing was started. Retry "
        "after the Retry-After seconds, when the queued terminate can no longer reach a new instance."
    ),
    Sent.COMMAND: (
        "The request was sent but its outcome is not known; it may still take effect. Check the instance's status "
        "before sending it again."
    ),
}


def in_doubt_response(error: InDoubt, lease_seconds: int) -> func.HttpResponse:
    """503: something was sent and may still take effect. The ID is held until the lease expires, so Retry-After
    is the lease's length: a retry then finds the outcome instead of racing it."""
    return error_response(ErrorCode.UNAVAILABLE, IN_DOUBT_MESSAGES[error.sent], {"Retry-After": str(lease_seconds)})


MAX_EVENT_NAME_LENGTH = 128
MAX_REASON_LENGTH = 1000
_EVENT_NAME = re.compile(rf"[A-Za-z0-9_.\-]{{1,{MAX_EVENT_NAME_LENGTH}}}")


def allowed_target(function_name: str | None, instance_id: str | None, allowed: tuple[str, ...]) -> tuple[str, str]:
    """The configured orchestrator name and the instance ID a route addresses; raises ContractError."""
    orchestrator = resolve_orchestrator(function_name, allowed)
    if orchestrator is None:
        raise ContractError(
            ErrorCode.UNKNOWN_ORCHESTRATOR,
            f"No orchestrator named {function_name!r} can be started here; allowed: {', '.join(allowed)}.",
        )
    problem = validate_instance_id(instance_id)
    if problem:
        raise ContractError(ErrorCode.INVALID_INSTANCE_ID, problem)
    assert instance_id is not None
    return orchestrator, instance_id


def start_command(req: func.HttpRequest, allowed: tuple[str, ...], max_bytes: int) -> StartCommand:
    """A start request validated into its command, with no I/O; raises ContractError."""
    function_name, instance_id = req.route_params.get("functionName"), req.route_params.get("instanceId")
    orchestrator, instance_id = allowed_target(function_name, instance_id, allowed)
    key = req.headers.get("idempotency-key")
    if problem := validate_idempotency_key(key):
        raise ContractError(ErrorCode.INVALID_IDEMPOTENCY_KEY, problem)
    body = req.get_body() or b""
    value = parse_input(req.headers.get("content-type"), body, max_bytes)
    claim = IdempotencyClaim(key, request_digest(orchestrator, body)) if key is not None else None
    return StartCommand(orchestrator, instance_id, None if value is NO_INPUT else value, claim)


SIGNAL_FIELDS = ("input", "data")


def signal_command(req: func.HttpRequest, allowed: tuple[str, ...], max_bytes: int) -> SignalCommand:
    """A signal request validated into its command, with no I/O; raises ContractError. The body is a JSON object
    with optional "input" (the start's) and "data" (the event's), any JSON values; an empty body means {}."""
    function_name, instance_id = req.route_params.get("functionName"), req.route_params.get("instanceId")
    orchestrator, instance_id = allowed_target(function_name, instance_id, allowed)
    event_name = req.route_params.get("eventName")
    if problem := validate_event_name(event_name):
        raise ContractError(ErrorCode.INVALID_EVENT_NAME, problem)
    assert event_name is not None
    key = req.headers.get("idempotency-key")
    if problem := validate_idempotency_key(key):
        raise ContractError(ErrorCode.INVALID_IDEMPOTENCY_KEY, problem)
    body = req.get_body() or b""
    value = parse_input(req.headers.get("content-type"), body, max_bytes)
    value = {} if value is NO_INPUT else value
    if not isinstance(value, dict) or set(value) - set(SIGNAL_FIELDS):
        raise ContractError(
            ErrorCode.INVALID_JSON, 'The body must be a JSON object with optional "input" and "data", nothing else.'
        )
    claim = IdempotencyClaim(key, request_digest(f"{orchestrator}/{event_name}", body)) if key is not None else None
    return SignalCommand(orchestrator, instance_id, event_name, value.get("data"), value.get("input"), claim)


def signalled_response(links: dict[str, str], *, started: bool, replayed: bool = False) -> func.HttpResponse:
    """202: the event was queued for the execution the links name; `started` says this request (or its key's
    first request) started it; `replayed`, that this answer repeats its key's first."""
    headers = {"Location": links["statusQueryGetUri"]}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(202, {"id": links["id"], "started": started, **links}, headers)


def validate_event_name(event_name: str | None) -> str | None:
    """Why an event name is refused, or None when it is fine."""
    if event_name is not None and set(event_name) == {"."}:
        return "The event name must not be made of dots only: a URL cannot carry it (it collapses '.' and '..')."
    if event_name is not None and _EVENT_NAME.fullmatch(event_name):
        return None
    return f"The event name must be 1 to {MAX_EVENT_NAME_LENGTH} characters of letters, digits, '_', '-' and '.'."


def terminate_reason(query_reason: str | None, content_type: str | None, body: bytes, max_bytes: int) -> str | None:
    """The reason a terminate request gives, from ?reason= or a JSON body {"reason": ...}; raises ContractError."""
    reason = query_reason
    if reason is None:
        value = parse_input(content_type, body, max_bytes)
        if isinstance(value, NoInput):
            return None
        if not isinstance(value, dict) or not isinstance(value.get("reason", ""), str):
            raise ContractError(ErrorCode.INVALID_JSON, 'The body must be a JSON object such as {"reason": "..."}.')
        reason = value.get("reason")
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise ContractError(
            ErrorCode.INVALID_REASON,
            f"The reason is {len(reason)} characters long; at most {MAX_REASON_LENGTH} are allowed.",
        )
    return reason


# ---- the links answers carry: the app's own routes, built from the request the caller sent

ROUTE_PREFIX = "api"
EVENT_NAME_PLACEHOLDER = "{eventName}"
REASON_PLACEHOLDER = "{text}"
_SCHEMES = frozenset({"http", "https"})
# An authority is a host and maybe a port: anything that could start a path, query, fragment or
# userinfo would let a header steer links somewhere other than a host.
_NOT_IN_AUTHORITY = frozenset("/\\?#@ \t\r\n")


def _first(header: str | None) -> str:
    """A proxy chain lists values comma-separated, nearest client first; the first is the caller's."""
    return (header or "").split(",")[0].strip()


def _forwarded_origin(headers: Mapping[str, str]) -> str | None:
    """The origin X-Forwarded-Proto and X-Forwarded-Host name, when both are present and well formed."""
    scheme = _first(headers.get("x-forwarded-proto")).lower()
    host = _first(headers.get("x-forwarded-host"))
    if scheme not in _SCHEMES or not host or any(character in _NOT_IN_AUTHORITY for character in host):
        return None
    return f"{scheme}://{host}"


def request_origin(url: str, headers: Mapping[str, str], *, use_forwarded_host: bool) -> str:
    """The scheme and host links start with: the request's own, or a front door's when trusted.

    Like the extension's GetClientResponseLinks, forwarded headers count only when enabled and only
    when both X-Forwarded-Host and X-Forwarded-Proto are present.
    """
    if use_forwarded_host:
        forwarded = _forwarded_origin(headers)
        if forwarded is not None:
            return forwarded
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def instance_path(orchestrator: str, instance_id: str) -> str:
    """The path of an instance's status route, each name escaped as one URL segment."""
    return f"/{ROUTE_PREFIX}/orchestrators/{quote(orchestrator, safe='')}/{quote(instance_id, safe='')}"


def request_links(
    url: str, headers: Mapping[str, str], orchestrator: str, instance_id: str, *, use_forwarded_host: bool
) -> dict[str, str]:
    """The app's links of an instance, on the origin of the request that asked (or its front door's)."""
    return app_links(request_origin(url, headers, use_forwarded_host=use_forwarded_host), orchestrator, instance_id)


def app_links(origin: str, orchestrator: str, instance_id: str) -> dict[str, str]:
    """The links a caller with only a function key can use: status, events, terminate; nothing else."""
    status = origin + instance_path(orchestrator, instance_id)
    return {
        "id": instance_id,
        "statusQueryGetUri": status,
        "sendEventPostUri": f"{status}/events/{EVENT_NAME_PLACEHOLDER}",
        "terminatePostUri": f"{status}/terminate?reason={REASON_PLACEHOLDER}",
    }


# ---- the management routes' answers


def status_body(observed: Observed, links: dict[str, str], *, with_input: bool) -> dict[str, Any]:
    """The status route's body: the instance's state and results, then its links."""
    body = {
        "instanceId": links["id"],
        "name": observed.name,
        "runtimeStatus": observed.runtime_status,
        "createdTime": iso_time(observed.created_time),
        "lastUpdatedTime": iso_time(observed.last_updated_time),
        "customStatus": observed.custom_status,
        "output": observed.output,
    }
    if with_input:
        body["input"] = observed.input
    return {**body, **{key: value for key, value in links.items() if key != "id"}}


def status_response(observed: Observed, links: dict[str, str], *, with_input: bool) -> func.HttpResponse:
    """202 with Location and Retry-After while the instance is active, so pollers come back; 200 once ended."""
    body = status_body(observed, links, with_input=with_input)
    if observed.state is InstanceState.ACTIVE:
        headers = {"Location": links["statusQueryGetUri"], "Retry-After": str(POLL_RETRY_AFTER_SECONDS)}
        return json_response(202, body, headers)
    return json_response(200, body)


def not_found_response(orchestrator: str, instance_id: str) -> func.HttpResponse:
    return error_response(ErrorCode.NOT_FOUND, f"No instance of {orchestrator} has the ID {instance_id!r}.")


def gone_response(observed: Observed, instance_id: str) -> func.HttpResponse:
    return error_response(
        ErrorCode.GONE, f"The instance with ID {instance_id!r} has already ended ({observed.runtime_status})."
    )


def accepted_response(links: dict[str, str]) -> func.HttpResponse:
    """202: the request was handed to the instance; its status route shows when it took effect."""
    return json_response(202, links, {"Location": links["statusQueryGetUri"]})
