"""Idempotency-Key records on the lock blob, and the pure decision whether a keyed retry is a replay.

The record is written in two steps under the lease: "starting" (with the time) before the start is
sent, "started" (with the instance's identity) after it is known to have landed. A retry that finds
a "starting" record takes an instance created at or after that time, with its input, as the key's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .backend import input_matches
from .outcomes import KeyReused, Outcome, Refused, Started
from .ports import LockRecord
from .status import Observed

STARTING = "starting"
STARTED = "started"


@dataclass(frozen=True)
class IdempotencyClaim:
    """An Idempotency-Key header and a digest of what it was sent with."""

    key: str
    request_digest: str


def request_digest(orchestrator: str, body: bytes) -> str:
    """What must be equal for a retry with the same key to be the same request."""
    return hashlib.sha256(orchestrator.casefold().encode() + b"\0" + body).hexdigest()


def instance_fingerprint(observed: Observed) -> str:
    """What tells one instance from another with the same ID: the status API gives createdTime to
    the second only, so an instance started in the same second is told apart by its input."""
    created = observed.created_time.isoformat() if observed.created_time else ""
    stored_input = json.dumps(observed.input, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{created}\0{stored_input}".encode()).hexdigest()


def starting_record(claim: IdempotencyClaim, now: datetime) -> dict[str, str]:
    """The record written before the start; the time is cut to the second, as createdTime is."""
    return {
        "idempotencykey": claim.key,
        "requestdigest": claim.request_digest,
        "state": STARTING,
        "since": now.astimezone(UTC).replace(microsecond=0).isoformat(),
    }


def record_for(claim: IdempotencyClaim, observed: Observed) -> dict[str, str]:
    """The record that ties a key to the instance it started."""
    return {
        "idempotencykey": claim.key,
        "requestdigest": claim.request_digest,
        "state": STARTED,
        "createdtime": observed.created_time.isoformat() if observed.created_time else "",
        "instance": instance_fingerprint(observed),
    }


def _is_the_keys_instance(claim: IdempotencyClaim, record: dict[str, str], observed: Observed, sent: Any) -> bool:
    if record.get("state") != STARTING:
        return record.get("instance") == instance_fingerprint(observed)
    assert observed.created_time is not None
    try:
        since = datetime.fromisoformat(record.get("since", ""))
    except ValueError:
        return False
    if observed.created_time < since:
        return False
    # The same request carries the same input; another request's input cannot be checked here.
    return record.get("requestdigest") != claim.request_digest or input_matches(observed.input, sent)


def record_may_be_lost(record: LockRecord, observed: Observed) -> bool:
    """Whether the lock blob was made after the instance was created, with no record of it: a deletion
    rule may have removed the blob, and with it the record of the key that started this instance."""
    if record.blob_created is None or observed.created_time is None or record.metadata.get("idempotencykey"):
        return False
    return record.blob_created.replace(microsecond=0) > observed.created_time


def replay_answer(claim: IdempotencyClaim, lock: LockRecord, observed: Observed, sent: Any) -> Outcome | None:
    """The answer to a keyed retry when the record names this key and this very instance; `sent` is the
    retry's input and `observed` must have been read with its input. When the record may have been lost and
    the instance has this request's input, it may be this key's: it is refused, never started again."""
    if not observed.exists or observed.created_time is None:
        return None
    record = dict(lock.metadata)
    if record_may_be_lost(lock, observed) and input_matches(observed.input, sent):
        return Refused(observed)
    if record.get("idempotencykey") != claim.key:
        return None
    if not _is_the_keys_instance(claim, record, observed, sent):
        return None
    if record.get("requestdigest") != claim.request_digest:
        return KeyReused()
    return Started(replayed=True)
