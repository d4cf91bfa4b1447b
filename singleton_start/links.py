"""Management links to the app's own routes, built from the request the caller sent (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlsplit

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


def app_links(origin: str, orchestrator: str, instance_id: str) -> dict[str, str]:
    """The links a caller with only a function key can use: status, events, terminate; nothing else."""
    status = origin + instance_path(orchestrator, instance_id)
    return {
        "id": instance_id,
        "statusQueryGetUri": status,
        "sendEventPostUri": f"{status}/events/{EVENT_NAME_PLACEHOLDER}",
        "terminatePostUri": f"{status}/terminate?reason={REASON_PLACEHOLDER}",
    }
