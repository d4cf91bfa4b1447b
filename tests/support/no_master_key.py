"""The guarantee every HTTP answer of the suite is held to in app mode: the extension's system key and
its webhook routes never reach a caller, in the body, a header or Location."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, quote

import azure.functions as func

WEBHOOK_PATH = "/runtime/webhooks/durabletask"


def system_key_of(starter: str) -> str | None:
    """The system key the host put in a durableClient binding's required query string, if any."""
    try:
        required: str = json.loads(starter).get("requiredQueryStringParameters") or ""
    except (ValueError, AttributeError):
        return None
    return parse_qs(required).get("code", [None])[0]


def serves_app_links(module: Any) -> bool:
    """Whether a loaded function answers with the app's own links (SINGLETON_MANAGEMENT_LINKS=app)."""
    settings = getattr(getattr(module, "endpoint", None), "settings", None)
    return settings is not None and getattr(settings.management_links, "value", None) == "app"


def _links(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    return [value for key, value in body.items() if key.endswith("Uri") and isinstance(value, str)]


def assert_no_master_key(response: func.HttpResponse, system_key: str | None) -> None:
    """No form of the system key anywhere in the answer; no link or header with code= or a webhook path."""
    text = response.get_body().decode("utf-8", errors="replace")
    headers = [f"{name}: {value}" for name, value in response.headers.items()]
    if system_key:
        for form in {system_key, quote(system_key, safe=""), quote(system_key)}:
            assert form not in text, "the extension's system key is in the body"
            assert not [header for header in headers if form in header], "the extension's system key is in a header"
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    for place in [*headers, *_links(body)]:
        assert "code=" not in place, f"a link or header carries a key: {place[:120]}"
        assert WEBHOOK_PATH not in place, f"a link or header points at the extension's webhooks: {place[:120]}"
