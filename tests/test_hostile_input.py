"""Hostile instance IDs, bodies and orchestrator names: the documented 4xx, never a 500, and
nothing started for anything invalid.

Each property is checked against an oracle written here from the documented rules, not against
the app's own validators.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import LoadApp, StartApp, body_of, new_instance_id
from tests.support.durable_standin import DurableStandin
from tests.support.observe import started_inputs

if TYPE_CHECKING:
    from tests.support.scenario_report import ScenarioReport

pytest_plugins = ["tests.support.scenario_report"]
pytestmark = pytest.mark.asyncio(loop_scope="session")

MAX_INPUT_BYTES = 65_536
ALLOWED_NAME = "SingletonOrchestrator"
# Fixed examples, so CI sees the same inputs each run; the fixtures hold per-test state, and each
# example checks what changed during it.
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---------------------------------------------------------------- the oracles

_FORBIDDEN_IN_ID = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")  # Unicode category Cc is exactly C0, DEL and C1
# A URL client removes "." and ".." path segments, escaped or not, so no such ID can be addressed.
DOT_SEGMENTS = (".", "..")


def id_is_valid(instance_id: str) -> bool:
    """1..256 UTF-16 code units, no leading '@', none of / \\ # ? or a control character, no percent escape."""
    utf16_units = sum(2 if ord(character) > 0xFFFF else 1 for character in instance_id)
    return (
        1 <= utf16_units <= 256
        and not instance_id.startswith("@")
        and not _FORBIDDEN_IN_ID.search(instance_id)
        and instance_id not in DOT_SEGMENTS
        and not re.search("%[0-9A-Fa-f]{2}", instance_id)
    )


# Content-Type -> the codec its body is read with; None when the type itself is refused (415).
CONTENT_TYPES: dict[str | None, str | None] = {
    None: "utf-8",
    "application/json": "utf-8",
    "Application/JSON; charset=UTF-8": "utf-8",
    "application/merge-patch+json": "utf-8",
    'application/json; charset="utf-16"': "utf-16",
    "application/json; charset=iso-8859-1": "latin-1",
    "application/json; charset=utf-32": "utf-32",
    "text/plain": None,
    "text/json": None,
    "application/x-www-form-urlencoded": None,
    "multipart/form-data; boundary=x": None,
    "application/json; charset=no-such-codec": None,
    "application/json; charset=base64": None,
}
UTF8_BOM = b"\xef\xbb\xbf"
NO_VALUE = object()


def _deeper_than(value: Any, levels: int) -> bool:
    """Whether containers nest more than `levels` deep; recursion stops one level past the limit."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    if children is None:
        return False
    return levels == 0 or any(_deeper_than(child, levels - 1) for child in children)


def _all_finite(value: Any) -> bool:
    if isinstance(value, dict):
        return all(map(_all_finite, value.values()))
    if isinstance(value, list):
        return all(map(_all_finite, value))
    return not isinstance(value, float) or math.isfinite(value)


def _refuse(constant: str) -> Any:
    raise ValueError(constant)


def expected_for_body(content_type: str | None, body: bytes) -> tuple[int, str | None, Any]:
    """(status, error code, the orchestrator input) the documented contract gives a body."""
    if len(body) > MAX_INPUT_BYTES:
        return 413, "payload_too_large", NO_VALUE
    codec = CONTENT_TYPES[content_type]
    if codec is None:
        return 415, "unsupported_media_type", NO_VALUE
    if not body:
        return 202, None, None
    try:
        text = (body.removeprefix(UTF8_BOM) if codec == "utf-8" else body).decode(codec)
        value = json.loads(text, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return 400, "invalid_json", NO_VALUE
    if _deeper_than(value, 64) or not _all_finite(value):
        return 400, "invalid_json", NO_VALUE
    return 202, None, value


# ---------------------------------------------------------------- the strategies

SPECIAL_IDS = [
    "a%2Fb",
    "a%2fb%2F",
    "%",
    "50% off",
    "x" * 255,
    "x" * 256,
    "x" * 257,
    "😀" * 128,
    "😀" * 129,
    "x" * 255 + "😀",
    "@lead",
    "trail@",
    " lead",
    "trail ",
    " ",
    "\t",
    "a\nb",
    "a\x00b",
    "a\x7fb",
    "a\x85b",
    "a\u2028b",
    "\u00a0",
    "\ufeff",
    "a/b",
    "a\\b",
    "a#b",
    "a?b",
    "",
    *DOT_SEGMENTS,
    "...",
    ".a",
    "a.",
]
INSTANCE_IDS = st.one_of(
    st.sampled_from(SPECIAL_IDS),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=24),
    st.text(st.sampled_from("x/\\#?@%. \t\x00\x85\u2028😀é"), max_size=24),
    st.tuples(st.integers(250, 260), st.sampled_from(["x", "é", "😀", "\x85"])).map(lambda pair: pair[1] * pair[0]),
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=16,
)
JSON_TEXTS = st.one_of(
    JSON_VALUES.map(json.dumps),
    JSON_VALUES.map(lambda value: json.dumps(value, ensure_ascii=False)),
    st.integers(1, 2_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 200).map(lambda depth: '{"a":' * depth + "0" + "}" * depth),
    st.sampled_from(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "[1, NaN]",
            '{"x": -Infinity}',
            "1e400",
            "-1e400",
            "1.7976931348623157e308",
            "1" + "0" * 4299,
            "1" + "0" * 4300,
            '"\\ud800"',
            "null",
            " ",
            "1 2",
            "[1,]",
            "{'a': 1}",
            "tru",
            "\ufeff{}",
        ]
    ),
    st.text(max_size=40),
)
# Mostly types that are read, so that most bodies get as far as the JSON parser.
ANY_CONTENT_TYPE = st.one_of(
    st.sampled_from([content_type for content_type, codec in CONTENT_TYPES.items() if codec]),
    st.sampled_from(list(CONTENT_TYPES)),
)
TEXT_BODIES = st.tuples(ANY_CONTENT_TYPE, JSON_TEXTS).map(
    lambda pair: (pair[0], pair[1].encode(CONTENT_TYPES[pair[0]] or "utf-8", errors="replace"))
)
BODIES = st.one_of(
    TEXT_BODIES,
    TEXT_BODIES.map(lambda pair: (pair[0], UTF8_BOM + pair[1])),
    st.tuples(ANY_CONTENT_TYPE, st.binary(max_size=64)),
    st.tuples(
        ANY_CONTENT_TYPE,
        st.integers(MAX_INPUT_BYTES - 1, MAX_INPUT_BYTES + 2).map(lambda size: json.dumps("x" * (size - 2)).encode()),
    ),
)


def case_variants(name: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(name), max_size=len(name))
    return flips.map(lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(name, upper, strict=True)))


OTHER_NAMES = st.one_of(
    st.sampled_from(["SampleActivity", "HttpStartSingle", "Singleton", f"{ALLOWED_NAME}2", f" {ALLOWED_NAME}", ""]),
    st.text(max_size=30),
    case_variants(ALLOWED_NAME).map(lambda name: name + "\x00"),
).filter(lambda name: name.casefold() != ALLOWED_NAME.casefold())

# ---------------------------------------------------------------- the tests


def storage_and_backend_calls(app: StartApp, durable: DurableStandin) -> int:
    calls: int = sum(durable.calls.values()) + sum(app.endpoint.locks.calls.values())
    return calls


@pytest_asyncio.fixture(loop_scope="session")
async def body_app(load_app: LoadApp) -> StartApp:
    return await load_app(SINGLETON_MAX_INPUT_BYTES=str(MAX_INPUT_BYTES))


@given(instance_id=INSTANCE_IDS)
@settings(PROPERTY, max_examples=150)
async def test_instance_ids_start_when_valid_and_get_400_before_any_io_otherwise(
    app: StartApp, durable: DurableStandin, scenario_report: ScenarioReport, instance_id: str
) -> None:
    calls_before = storage_and_backend_calls(app, durable)
    response = await app.post(instance_id)
    valid = id_is_valid(instance_id)
    scenario_report.record("hostile instance IDs (property)", [response.status_code], int(response.status_code == 202))

    if valid:
        assert response.status_code in (202, 409)
        assert len(started_inputs(durable, instance_id)) == 1
    else:
        assert response.status_code == 400
        assert body_of(response)["error"] == "invalid_instance_id"
        assert storage_and_backend_calls(app, durable) == calls_before


@pytest.mark.parametrize("instance_id", DOT_SEGMENTS)
async def test_dot_segment_ids_get_400_because_no_url_can_address_them(
    app: StartApp, durable: DurableStandin, instance_id: str
) -> None:
    """The SDK's HTTP client drops "." and ".." path segments (escaped or not), so the status read and
    the start would reach other routes; such an ID is refused up front instead of failing with 503."""
    response = await app.post(instance_id)
    assert response.status_code == 400
    assert body_of(response)["error"] == "invalid_instance_id"
    assert sum(durable.calls.values()) == 0


@given(content=BODIES)
@example(content=(None, UTF8_BOM + b'{"bom": true}'))
@example(content=("application/json; charset=no-such-codec", b""))
@example(content=('application/json; charset="utf-16"', '{"wide": "ü"}'.encode("utf-16")))
@example(content=(None, b"[" * 50_000 + b"]" * 10_000))
@settings(PROPERTY, max_examples=150)
async def test_bodies_start_with_their_value_when_valid_and_get_their_4xx_otherwise(
    body_app: StartApp, durable: DurableStandin, scenario_report: ScenarioReport, content: tuple[str | None, bytes]
) -> None:
    app = body_app
    content_type, body = content
    calls_before = storage_and_backend_calls(app, durable)
    instance_id = new_instance_id()
    headers = {} if content_type is None else {"Content-Type": content_type}
    status, error, value = expected_for_body(content_type, body)

    response = await app.post(instance_id, body, headers=headers)
    scenario_report.record(
        "hostile bodies (property)", [response.status_code], len(started_inputs(durable, instance_id))
    )

    assert response.status_code == status
    if status == 202:
        assert started_inputs(durable, instance_id) == [value]
    else:
        assert body_of(response)["error"] == error
        assert storage_and_backend_calls(app, durable) == calls_before


@given(name=case_variants(ALLOWED_NAME))
@settings(PROPERTY, max_examples=60)
async def test_case_variants_of_the_allowed_name_start_the_configured_name(
    app: StartApp, durable: DurableStandin, scenario_report: ScenarioReport, name: str
) -> None:
    instance_id = new_instance_id()
    response = await app.post(instance_id, function_name=name)
    scenario_report.record(
        "orchestrator name case variants (property)",
        [response.status_code],
        len(started_inputs(durable, instance_id)),
    )

    assert response.status_code == 202
    assert durable.row(instance_id)["name"] == ALLOWED_NAME


@given(name=OTHER_NAMES)
@settings(PROPERTY, max_examples=100)
async def test_any_other_orchestrator_name_gets_404_and_reaches_nothing(
    app: StartApp, durable: DurableStandin, scenario_report: ScenarioReport, name: str
) -> None:
    calls_before = storage_and_backend_calls(app, durable)
    response = await app.post(new_instance_id(), function_name=name)
    scenario_report.record("other orchestrator names (property)", [response.status_code], 0)

    assert response.status_code == 404
    assert body_of(response)["error"] == "unknown_orchestrator"
    assert storage_and_backend_calls(app, durable) == calls_before
