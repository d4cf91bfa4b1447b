"""Idempotency-Key records on the lock blob, and the pure decision whether a keyed request is a replay.

The lock blob's metadata keeps one entry per key for the ID's last MAX_KEYS keyed requests, so a retry is
recognised even after other starts replaced the key's instance. An entry is written under the lease in two
steps: "starting" before the start is sent, with the window in which that start can land ([at, until]: until
is the lease's end, minus a second, at the time of the send, and only the holder can start before then) and
the instance seen before it; then "started", once the start is known to have landed.

A keyed signal's entry goes on from there (or begins, when it starts nothing): "sending" before its event is
sent, then "sent" once the event was queued, each saying whether the key started the instance. An event never
shows in a status read, so a "sending" entry left by a request whose answer was lost can never be settled: its
key neither sends again nor says the event arrived.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .outcomes import Conflict, KeyReused, Signalled, Started
from .ports import LockRecord
from .status import Observed

STARTING = "starting"
STARTED = "started"
SENDING = "sending"
SENT = "sent"
# Metadata is at most 8 KiB per blob; an entry is about 170 bytes.
MAX_KEYS = 32
ENTRY_PREFIX = "k"


@dataclass(frozen=True)
class IdempotencyClaim:
    """An Idempotency-Key header and a digest of what it was sent with."""

    key: str
    request_digest: str


@dataclass(frozen=True)
class KeyEntry:
    """What the lock blob remembers of one key's start."""

    state: str
    digest: str
    at: datetime
    until: datetime | None = None
    before: str = ""
    # A signal's entry: whether the key's request started the instance its event is for.
    started_it: bool = False

    def encode(self) -> str:
        until = self.until.isoformat() if self.until is not None else ""
        fields = (self.state, self.digest, self.at.isoformat(), until, self.before)
        return ";".join((*fields, "started") if self.started_it else fields)

    @classmethod
    def decode(cls, text: str) -> KeyEntry | None:
        try:
            state, digest, at, until, before, *rest = text.split(";")
            if rest not in ([], ["started"]):
                return None
            until_time = datetime.fromisoformat(until) if until else None
            return cls(state, digest, datetime.fromisoformat(at), until_time, before, bool(rest))
        except ValueError:
            return None


def request_digest(orchestrator: str, body: bytes) -> str:
    """What must be equal for a retry with the same key to be the same request."""
    return hashlib.sha256(orchestrator.casefold().encode() + b"\0" + body).hexdigest()[:32]


def entry_name(key: str) -> str:
    """The metadata name of a key's entry: metadata names must be identifiers, keys need not be."""
    return ENTRY_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:24]


def instance_fingerprint(observed: Observed) -> str:
    """What tells one instance from another with the same ID: the status API gives createdTime to the second
    only, so an instance started in the same second is told apart by its input."""
    if not observed.exists:
        return "none"
    created = observed.created_time.isoformat() if observed.created_time else ""
    stored_input = json.dumps(observed.input, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{created}\0{stored_input}".encode()).hexdigest()[:16]


def entries(metadata: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in metadata.items() if name.startswith(ENTRY_PREFIX)}


def with_entry(metadata: Mapping[str, str], claim: IdempotencyClaim, entry: KeyEntry) -> dict[str, str]:
    """The metadata with this key's entry written, the oldest entries dropped beyond MAX_KEYS."""
    kept = {name: value for name, value in entries(metadata).items() if name != entry_name(claim.key)}

    def written(name: str) -> datetime:
        decoded = KeyEntry.decode(kept[name])
        return decoded.at if decoded is not None else datetime.min.replace(tzinfo=UTC)

    for name in sorted(kept, key=written)[: max(0, len(kept) - (MAX_KEYS - 1))]:
        del kept[name]
    return {**kept, entry_name(claim.key): entry.encode()}


def starting_entry(claim: IdempotencyClaim, now: datetime, lease_end: datetime, before: Observed) -> KeyEntry:
    """The entry written before a start: it can land only until the lease's end (a second is kept as margin,
    createdTime having whole seconds), and only as an instance other than the one seen before."""
    until = (lease_end - timedelta(seconds=1)).replace(microsecond=0)
    return KeyEntry(STARTING, claim.request_digest, now.replace(microsecond=0), until, instance_fingerprint(before))


def started_entry(claim: IdempotencyClaim, now: datetime) -> KeyEntry:
    return KeyEntry(STARTED, claim.request_digest, now.replace(microsecond=0))


def landed_entry(starting: KeyEntry) -> KeyEntry:
    """A "starting" entry once its start is known to have landed: its window still tells the key's instance."""
    return replace(starting, state=STARTED)


def sending_entry(claim: IdempotencyClaim, now: datetime, *, started: bool) -> KeyEntry:
    """The entry written before a keyed signal's event is sent: from here on the key never sends it again."""
    return KeyEntry(SENDING, claim.request_digest, now.replace(microsecond=0), started_it=started)


def sent_entry(claim: IdempotencyClaim, now: datetime, *, started: bool) -> KeyEntry:
    """The entry written once a keyed signal's event was queued: a retry is answered as the first was."""
    return KeyEntry(SENT, claim.request_digest, now.replace(microsecond=0), started_it=started)


def key_entry(claim: IdempotencyClaim, record: LockRecord) -> KeyEntry | None:
    """The key's entry in the record, if it has one (an unreadable one counts as none)."""
    raw = record.metadata.get(entry_name(claim.key))
    return KeyEntry.decode(raw) if raw is not None else None


def record_may_be_lost(record: LockRecord, observed: Observed) -> bool:
    """Whether the lock blob was made after the instance was created and holds no key at all: a deletion rule
    may have removed the blob, and with it the record of the key that started this instance."""
    if record.blob_created is None or observed.created_time is None or entries(record.metadata):
        return False
    return record.blob_created.replace(microsecond=0) > observed.created_time


def unrecorded_answer(record: LockRecord, observed: Observed, sent: Any) -> Conflict | None:
    """The answer to a key with no entry: a 409 when an instance with its input is there and the record may have
    gone with its blob (the key's earlier request may have started it), else None: the key is new."""
    return Conflict(observed) if record_may_be_lost(record, observed) and observed.has_input(sent) else None


def landed_in_window(entry: KeyEntry, observed: Observed, sent: Any) -> bool:
    """Whether `observed` is the instance a "starting" entry's start made: a new one since, made before the
    entry's lease could end, with its input."""
    if not observed.exists or observed.created_time is None or entry.until is None:
        return False
    if instance_fingerprint(observed) == entry.before or not observed.has_input(sent):
        return False
    return entry.at.replace(microsecond=0) - timedelta(seconds=1) <= observed.created_time <= entry.until


def replay_answer(
    claim: IdempotencyClaim, record: LockRecord, observed: Observed, sent: Any
) -> Started | Conflict | KeyReused | None:
    """The answer to a keyed request from the key's entry and the instance there now (read with its input);
    None when this request may start. A key whose start may have run is never started again."""
    entry = key_entry(claim, record)
    if entry is None:
        return unrecorded_answer(record, observed, sent)
    if entry.digest != claim.request_digest:
        return KeyReused()
    if entry.state == STARTED or landed_in_window(entry, observed, sent):
        return Started(replayed=True)
    if instance_fingerprint(observed) == entry.before:
        return None  # the key's start never landed: what is there is what was there before it
    # Another instance came after the key's start could land, or the one seen before is gone (purged from outside
    # the app): whether the key's start ran cannot be told any more.
    return Conflict(observed, KEY_START_UNTOLD)


# Why a keyed request is answered 409 when its key's earlier request, not the policies, keeps it from acting.
KEY_EVENT_IN_DOUBT = (
    "This Idempotency-Key's earlier request sent its event, and whether it arrived cannot be told; nothing was sent "
    "again."
)
KEY_START_UNTOLD = (
    "This Idempotency-Key's earlier request may have started an instance that is no longer the one there (replaced "
    "or purged since), and whether it ran cannot be told any more; the key starts nothing again."
)
KEY_INSTANCE_GONE = (
    "This Idempotency-Key's earlier request started an instance, or may have, that is no longer there to take its "
    "event; the key starts nothing again, and nothing was sent."
)


@dataclass(frozen=True)
class KeyStartLanded:
    """The key's earlier signal started the instance seen now, and its event has not gone: send it now, there."""

    observed: Observed


SignalReplay = Signalled | Conflict | KeyReused | KeyStartLanded | None


def signal_replay(claim: IdempotencyClaim, record: LockRecord, observed: Observed, sent: Any) -> SignalReplay:
    """What a keyed signal does from its key's entry and the instance there now (read with its input): the first
    answer again once the event was queued; the event, to the instance the key started (the one made in its entry's
    window), when only the start had landed; a 409 when the key's earlier request may have acted and that can no
    longer be told or mended; None when the key has done nothing yet and this request may act as if unkeyed."""
    entry = key_entry(claim, record)
    if entry is None:
        return unrecorded_answer(record, observed, sent)
    if entry.digest != claim.request_digest:
        return KeyReused()
    if entry.state == SENT:
        return Signalled(entry.started_it, replayed=True)
    if entry.state == SENDING:
        return Conflict(observed, KEY_EVENT_IN_DOUBT)
    if landed_in_window(entry, observed, sent):
        return KeyStartLanded(observed)
    if entry.state == STARTING and instance_fingerprint(observed) == entry.before:
        return None  # the key's start never landed: what is there is what was there before it
    return Conflict(observed, KEY_INSTANCE_GONE)


def settled_signal_replay(claim: IdempotencyClaim, record: LockRecord) -> Signalled | KeyReused | None:
    """What a keyed signal's entry answers before any lease is taken: only what no holder can change any more (the
    event was queued, or the key was sent with another request); a "sending" entry is decided under the lease,
    which its own request may still hold."""
    entry = key_entry(claim, record)
    if entry is None:
        return None
    if entry.digest != claim.request_digest:
        return KeyReused()
    return Signalled(entry.started_it, replayed=True) if entry.state == SENT else None
