"""App settings, read and validated once per process into a typed object."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from .core.decisions import ConflictPolicy, ReusePolicy
from .core.errors import SettingsError

__all__ = ["ConflictPolicy", "ManagementLinks", "ReusePolicy", "Settings", "SettingsError", "load_settings"]

# A lease holder stops issuing backend calls this long before its lease could expire, so that no call
# of a holder can still land after another caller has taken the lease.
LEASE_SAFETY_SECONDS = 5.0


class ManagementLinks(Enum):
    """Which management links answers carry: the app's own routes, or the extension's (with its system key)."""

    APP = "app"
    EXTENSION = "extension"


@dataclass(frozen=True)
class Settings:
    """Everything the start use case can be tuned with."""

    orchestrators: tuple[str, ...] = ("SingletonOrchestrator",)
    max_input_bytes: int = 1_048_576
    lock_wait_seconds: float = 10.0
    lock_lease_seconds: int = 30
    backend_timeout_seconds: float = 5.0
    start_attempts: int = 3
    request_timeout_seconds: float = 25.0
    terminate_wait_seconds: float = 10.0
    conflict_policy: ConflictPolicy = ConflictPolicy.REJECT
    reuse_policy: ReusePolicy = ReusePolicy.ALLOW_ENDED
    lock_container: str = "singleton-locks"
    management_links: ManagementLinks = ManagementLinks.APP
    use_forwarded_host: bool = False
    # How long after it was sent a start, terminate or event may still take effect, as far as the app answers
    # for it: every such send goes out on a lease that lasts at least this long, and a send whose effect was not
    # seen keeps its lease until it expires. The lease length less one call's timeout.
    landing_window_seconds: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "landing_window_seconds", self.lock_lease_seconds - self.backend_timeout_seconds)


def plain(number: float) -> str:
    """A number as a person writes it: 67108864, 0.1; never 6.71089e+07."""
    return str(int(number)) if float(number).is_integer() else repr(float(number))


@dataclass(frozen=True)
class Bounds:
    """The values a numeric setting may take; docs/settings.md's table shows the same."""

    low: float
    high: float
    whole: bool

    def __str__(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        return f"{kind} from {plain(self.low)} to {plain(self.high)}"


BOUNDS = {
    "SINGLETON_MAX_INPUT_BYTES": Bounds(0, 64 * 1_048_576, whole=True),
    "SINGLETON_LOCK_WAIT_SECONDS": Bounds(0, 120, whole=False),
    "SINGLETON_LOCK_LEASE_SECONDS": Bounds(15, 60, whole=True),
    "SINGLETON_BACKEND_TIMEOUT_SECONDS": Bounds(0.1, 60, whole=False),
    "SINGLETON_START_ATTEMPTS": Bounds(1, 10, whole=True),
    "SINGLETON_REQUEST_TIMEOUT_SECONDS": Bounds(1, 200, whole=False),
    "SINGLETON_TERMINATE_WAIT_SECONDS": Bounds(0, 120, whole=False),
}


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    bounds = BOUNDS[name]
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if bounds.whole else float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {bounds}, got {raw!r}") from None
    if not bounds.low <= value <= bounds.high:
        raise SettingsError(f"{name} must be {bounds}, got {raw!r}")
    return value


E = TypeVar("E", bound=Enum)


def _choice(env: Mapping[str, str], name: str, kind: type[E], default: E) -> E:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise SettingsError(f"{name} must be one of {allowed}; got {raw!r}") from None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise SettingsError(f"{name} must be one of true, false; got {raw!r}")
    return raw == "true"


# A function name as the Functions host accepts one (Utility.FunctionNameValidationRegex in azure-functions-host):
# a letter, then up to 127 letters, digits, '_' or '-'; compared without regard to case.
FUNCTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,127}")


def orchestrator_names(env: Mapping[str, str]) -> tuple[str, ...]:
    """The orchestrators SINGLETON_ORCHESTRATORS allows, checked for form; check_known_orchestrators checks them
    against the app's own."""
    raw = env.get("SINGLETON_ORCHESTRATORS")
    if raw is None:
        return Settings.orchestrators
    if ";" in raw:
        raise SettingsError(
            f"SINGLETON_ORCHESTRATORS separates names with commas, not semicolons: got {raw!r}; "
            f"write {','.join(name.strip() for name in raw.replace(';', ',').split(',') if name.strip())!r}"
        )
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    if not names:
        # Set but empty is a mistake to report, not a wish for the sample's orchestrator.
        raise SettingsError(
            f"SINGLETON_ORCHESTRATORS must name at least one orchestrator (comma-separated), got {raw!r}; "
            "remove the setting to allow only SingletonOrchestrator"
        )
    bad = next((name for name in names if not FUNCTION_NAME.fullmatch(name)), None)
    if bad is not None:
        raise SettingsError(
            f"SINGLETON_ORCHESTRATORS names {bad!r}, which is not a function name (a letter, then up to 127 letters, "
            f"digits, '_' or '-'); separate names with commas: got {raw!r}"
        )
    folded = [name.casefold() for name in names]
    if len(set(folded)) != len(folded):
        raise SettingsError(
            f"SINGLETON_ORCHESTRATORS names an orchestrator twice (names match case-insensitively): {raw!r}"
        )
    return names


def check_known_orchestrators(configured: Sequence[str], known: Sequence[str]) -> None:
    """Refuse a name in SINGLETON_ORCHESTRATORS that is no orchestrator of the app: every start of it would fail.
    Names match without regard to case, as the host and the extension match function names."""
    defined = {name.casefold() for name in known}
    unknown = [name for name in configured if name.casefold() not in defined]
    if unknown:
        names = ", ".join(unknown)
        defines = f"its orchestrators are {', '.join(sorted(known))}" if known else "it defines no orchestrator"
        raise SettingsError(
            f"SINGLETON_ORCHESTRATORS names {names}, which the app does not define as an orchestrator ({defines})"
        )


def check_together(settings: Settings) -> Settings:
    """Settings that are each fine can still not work together: one backend call and the safety margin
    must fit inside the lease, or a holder could not make one call before its lease might expire."""
    if settings.backend_timeout_seconds + LEASE_SAFETY_SECONDS > settings.lock_lease_seconds:
        raise SettingsError(
            f"SINGLETON_BACKEND_TIMEOUT_SECONDS ({plain(settings.backend_timeout_seconds)}) plus the lease safety "
            f"margin ({plain(LEASE_SAFETY_SECONDS)} s) must fit inside SINGLETON_LOCK_LEASE_SECONDS "
            f"({settings.lock_lease_seconds}); shorten the first or lengthen the second"
        )
    return settings


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the SINGLETON_* app settings; a bad value, or values that do not fit together, raise SettingsError
    naming them."""
    env = os.environ if env is None else env
    defaults = Settings()
    return check_together(
        Settings(
            orchestrators=orchestrator_names(env),
            max_input_bytes=int(_number(env, "SINGLETON_MAX_INPUT_BYTES", defaults.max_input_bytes)),
            lock_wait_seconds=_number(env, "SINGLETON_LOCK_WAIT_SECONDS", defaults.lock_wait_seconds),
            lock_lease_seconds=int(_number(env, "SINGLETON_LOCK_LEASE_SECONDS", defaults.lock_lease_seconds)),
            backend_timeout_seconds=_number(env, "SINGLETON_BACKEND_TIMEOUT_SECONDS", defaults.backend_timeout_seconds),
            start_attempts=int(_number(env, "SINGLETON_START_ATTEMPTS", defaults.start_attempts)),
            request_timeout_seconds=_number(env, "SINGLETON_REQUEST_TIMEOUT_SECONDS", defaults.request_timeout_seconds),
            terminate_wait_seconds=_number(env, "SINGLETON_TERMINATE_WAIT_SECONDS", defaults.terminate_wait_seconds),
            conflict_policy=_choice(env, "SINGLETON_CONFLICT_POLICY", ConflictPolicy, defaults.conflict_policy),
            reuse_policy=_choice(env, "SINGLETON_REUSE_POLICY", ReusePolicy, defaults.reuse_policy),
            management_links=_choice(env, "SINGLETON_MANAGEMENT_LINKS", ManagementLinks, defaults.management_links),
            use_forwarded_host=_flag(env, "SINGLETON_USE_FORWARDED_HOST", defaults.use_forwarded_host),
        )
    )
