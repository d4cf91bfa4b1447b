"""The Idempotency-Key entries on the lock blob and the pure replay decision: a key whose start may have run
is never started again, and a replay is answered only for the key's own start."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from singleton_start.core.idempotency import (
    KEY_EVENT_IN_DOUBT,
    KEY_INSTANCE_GONE,
    KEY_START_UNTOLD,
    MAX_KEYS,
    IdempotencyClaim,
    KeyEntry,
    KeyStartLanded,
    entries,
    entry_name,
    instance_fingerprint,
    landed_entry,
    landed_in_window,
    record_may_be_lost,
    replay_answer,
    request_digest,
    sending_entry,
    sent_entry,
    signal_replay,
    started_entry,
    starting_entry,
    with_entry,
)
from singleton_start.core.outcomes import Conflict, KeyReused, Signalled, Started
from singleton_start.core.ports import LockRecord
from singleton_start.core.status import MISSING, InstanceState, Observed

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
OURS = {"n": 1}
FINGERPRINT_AT_T0 = "a814ca36db180359"
CLAIM = IdempotencyClaim("order-42", request_digest("SingletonOrchestrator", b'{"n": 1}'))


def instance(created: datetime, stored_input: str = '{"n": 1}', status: str = "Running") -> Observed:
    state = InstanceState.ACTIVE if status == "Running" else InstanceState.ENDED
    return Observed(state, status, created, input=stored_input)


def record(*written: tuple[IdempotencyClaim, KeyEntry]) -> LockRecord:
    metadata: dict[str, str] = {}
    for claim, entry in written:
        metadata = with_entry(metadata, claim, entry)
    return LockRecord(metadata, T0 - timedelta(days=1))


def starting(before: Observed = MISSING) -> KeyEntry:
    """A start recorded at T0 on a lease that ends 30 s later."""
    return starting_entry(CLAIM, T0, T0 + timedelta(seconds=30), before)


def test_a_started_key_replays_even_after_other_starts_replaced_its_instance() -> None:
    """Simulation seed 627: an unkeyed start replaced the key's instance, and the retry ran the key again."""
    replaced = instance(T0 + timedelta(minutes=5), '{"n": 3}', "Completed")
    assert replay_answer(CLAIM, record((CLAIM, started_entry(CLAIM, T0))), replaced, OURS) == Started(replayed=True)


def test_another_key_is_a_new_request_and_the_same_key_with_another_body_is_reuse() -> None:
    other = IdempotencyClaim("order-43", CLAIM.request_digest)
    changed = IdempotencyClaim("order-42", request_digest("SingletonOrchestrator", b'{"n": 2}'))
    lock = record((CLAIM, started_entry(CLAIM, T0)))
    assert replay_answer(other, lock, instance(T0), OURS) is None
    assert replay_answer(changed, lock, instance(T0), {"n": 2}) == KeyReused()


def test_a_starting_key_replays_the_instance_made_in_its_window_with_its_input() -> None:
    landed = instance(T0 + timedelta(seconds=12))
    assert replay_answer(CLAIM, record((CLAIM, starting())), landed, OURS) == Started(replayed=True)


def test_a_starting_key_whose_start_never_landed_may_start() -> None:
    before = instance(T0 - timedelta(hours=1), '{"n": 0}', "Completed")
    assert replay_answer(CLAIM, record((CLAIM, starting(before))), before, OURS) is None
    assert replay_answer(CLAIM, record((CLAIM, starting())), MISSING, OURS) is None


def test_a_starting_key_is_never_started_again_once_another_instance_came_after_its_window() -> None:
    """Whether the key's start ran before that instance cannot be told any more: refused, not started."""
    later = instance(T0 + timedelta(seconds=31), '{"n": 1}', "Completed")
    assert replay_answer(CLAIM, record((CLAIM, starting())), later, OURS) == Conflict(later, KEY_START_UNTOLD)


def test_an_instance_in_the_window_with_another_input_is_not_the_keys() -> None:
    other = instance(T0 + timedelta(seconds=5), '{"n": 9}')
    assert replay_answer(CLAIM, record((CLAIM, starting())), other, OURS) == Conflict(other, KEY_START_UNTOLD)


def test_a_lock_blob_younger_than_the_instance_with_no_key_may_have_lost_the_record() -> None:
    created = instance(T0)
    lost = LockRecord({}, T0 + timedelta(minutes=1))
    assert replay_answer(CLAIM, lost, created, OURS) == Conflict(created)
    assert replay_answer(CLAIM, lost, instance(T0, '{"n": 2}'), OURS) is None
    assert replay_answer(CLAIM, LockRecord({}, T0 - timedelta(minutes=1)), created, OURS) is None


def test_the_record_keeps_the_newest_keys_and_drops_the_oldest() -> None:
    metadata: dict[str, str] = {}
    claims = [IdempotencyClaim(f"key-{n}", CLAIM.request_digest) for n in range(MAX_KEYS + 3)]
    for n, claim in enumerate(claims):
        metadata = with_entry(metadata, claim, started_entry(claim, T0 + timedelta(seconds=n)))
    assert len(entries(metadata)) == MAX_KEYS
    assert entry_name("key-0") not in metadata
    assert entry_name(f"key-{MAX_KEYS + 2}") in metadata
    assert sum(len(name) + len(value) for name, value in metadata.items()) < 8 * 1024


def test_an_entry_reads_back_as_written_and_a_broken_one_as_none() -> None:
    entry = starting(instance(T0))
    assert KeyEntry.decode(entry.encode()) == entry
    assert KeyEntry.decode("not an entry") is None


def test_a_signal_entry_keeps_whether_its_key_started_the_instance_and_a_start_entry_reads_as_before() -> None:
    for started in (True, False):
        entry = sent_entry(CLAIM, T0, started=started)
        assert KeyEntry.decode(entry.encode()) == entry
    plain = started_entry(CLAIM, T0)
    assert plain.encode().count(";") == 4 and KeyEntry.decode(plain.encode()) == plain
    assert KeyEntry.decode(plain.encode() + ";maybe") is None


def test_a_signal_whose_event_was_sent_replays_its_first_answer_whatever_is_there_now() -> None:
    for started in (True, False):
        lock = record((CLAIM, sent_entry(CLAIM, T0, started=started)))
        for now in (MISSING, instance(T0 + timedelta(minutes=5), '{"n": 3}', "Completed")):
            assert signal_replay(CLAIM, lock, now, OURS) == Signalled(started, replayed=True)


def test_a_signal_whose_event_may_have_gone_neither_sends_again_nor_says_it_arrived() -> None:
    lock = record((CLAIM, sending_entry(CLAIM, T0, started=False)))
    running = instance(T0 - timedelta(minutes=1), '{"n": 9}')
    assert signal_replay(CLAIM, lock, running, OURS) == Conflict(running, KEY_EVENT_IN_DOUBT)


def test_a_signal_whose_start_landed_and_event_never_went_sends_it_to_that_instance_only() -> None:
    lock = record((CLAIM, starting()))
    ours = instance(T0 + timedelta(seconds=2))
    assert signal_replay(CLAIM, lock, ours, OURS) == KeyStartLanded(ours)
    later = instance(T0 + timedelta(minutes=5))  # made after the key's lease could have ended: not the key's
    assert signal_replay(CLAIM, lock, later, OURS) == Conflict(later, KEY_INSTANCE_GONE)


def test_a_signal_whose_start_never_landed_or_that_did_nothing_acts_afresh_and_another_body_is_reuse() -> None:
    assert signal_replay(CLAIM, record((CLAIM, starting())), MISSING, OURS) is None
    assert signal_replay(CLAIM, record(), instance(T0), OURS) is None
    changed = IdempotencyClaim("order-42", request_digest("SingletonOrchestrator", b'{"n": 2}'))
    assert signal_replay(changed, record((CLAIM, sent_entry(CLAIM, T0, started=False))), MISSING, OURS) == KeyReused()


def test_a_starting_entrys_window_runs_from_a_second_before_it_to_a_second_before_the_lease_ends() -> None:
    """createdTime has whole seconds: the window is whole seconds too, both ends in."""
    lease_end = T0 + timedelta(seconds=30, microseconds=700_000)
    entry = starting_entry(CLAIM, T0 + timedelta(microseconds=400_000), lease_end, MISSING)
    assert (entry.at, entry.until) == (T0, T0 + timedelta(seconds=29))
    for second, inside in ((-2, False), (-1, True), (0, True), (29, True), (30, False)):
        assert landed_in_window(entry, instance(T0 + timedelta(seconds=second)), OURS) is inside, second
    assert not landed_in_window(entry, Observed(InstanceState.ACTIVE, "Running", None, input='{"n": 1}'), OURS)
    assert not landed_in_window(replace(entry, until=None), instance(T0), OURS)
    assert not landed_in_window(entry, MISSING, OURS)


def test_entries_keep_whole_seconds() -> None:
    at = T0 + timedelta(microseconds=999_999)
    for entry in (
        started_entry(CLAIM, at),
        sending_entry(CLAIM, at, started=True),
        sent_entry(CLAIM, at, started=False),
    ):
        assert entry.at == T0
    assert sending_entry(CLAIM, at, started=True).started_it and not sending_entry(CLAIM, at, started=False).started_it
    assert landed_entry(starting()) == replace(starting(), state="started")


def test_a_fingerprint_tells_instances_apart_by_creation_second_and_input_and_none_from_any() -> None:
    one = instance_fingerprint(instance(T0))
    assert one == instance_fingerprint(instance(T0))
    assert one != instance_fingerprint(instance(T0 + timedelta(seconds=1)))
    assert one != instance_fingerprint(instance(T0, '{"n": 2}'))
    assert instance_fingerprint(MISSING) == "none" != instance_fingerprint(instance(T0, "null"))
    assert instance_fingerprint(Observed(InstanceState.ACTIVE, "Running", None, input="1")) != instance_fingerprint(
        Observed(InstanceState.ACTIVE, "Running", T0, input="1")
    )


def test_a_record_may_be_lost_only_when_its_blob_is_younger_than_the_instance_by_a_second_or_more() -> None:
    created = instance(T0)
    assert record_may_be_lost(LockRecord({}, T0 + timedelta(seconds=1)), created)
    assert not record_may_be_lost(LockRecord({}, T0 + timedelta(microseconds=900_000)), created)
    assert not record_may_be_lost(LockRecord({}, T0), created)
    assert not record_may_be_lost(LockRecord({}, None), created)
    assert not record_may_be_lost(record((CLAIM, starting())), created)


def test_the_record_drops_an_unreadable_entry_before_any_readable_one() -> None:
    claims = [IdempotencyClaim(f"key-{n}", CLAIM.request_digest) for n in range(MAX_KEYS)]
    metadata = {entry_name("broken"): "not an entry"}
    for n, claim in enumerate(claims[:-1]):
        metadata = with_entry(metadata, claim, started_entry(claim, T0 + timedelta(seconds=n)))
    metadata = with_entry(metadata, claims[-1], started_entry(claims[-1], T0 + timedelta(hours=1)))
    assert entry_name("broken") not in metadata and entry_name("key-0") in metadata
    assert len(entries(metadata)) == MAX_KEYS


def test_the_record_drops_the_entry_written_first_whatever_order_the_metadata_lists_it_in() -> None:
    """Blob metadata comes back in no promised order: the oldest entry goes by its time, not its place."""
    claims = [IdempotencyClaim(f"key-{n}", CLAIM.request_digest) for n in range(MAX_KEYS + 1)]
    metadata: dict[str, str] = {}
    for n, claim in reversed(list(enumerate(claims[:-1]))):
        metadata = with_entry(metadata, claim, started_entry(claim, T0 + timedelta(seconds=n)))
    metadata = with_entry(metadata, claims[-1], started_entry(claims[-1], T0 + timedelta(hours=1)))
    assert entry_name("key-0") not in metadata
    assert entry_name(f"key-{MAX_KEYS - 1}") in metadata and len(entries(metadata)) == MAX_KEYS


def test_the_names_digests_and_fingerprints_kept_on_the_blob_keep_their_form_across_releases() -> None:
    """The record outlives a deployment: a retry served by the next release must find and read the entry this
    one wrote, so the entry's name, the request digest and the fingerprint of the instance seen before may not
    change form (an input stored by a client outside the app may be any JSON value, not only text)."""
    assert entry_name("order-42") == "k3bf8b157c4238eefe5ae4a66"
    assert request_digest("SingletonOrchestrator", b'{"n": 1}') == "13ffd1e45f8101272264a08443009a6b"
    assert instance_fingerprint(instance(T0)) == FINGERPRINT_AT_T0
    outside = Observed(InstanceState.ACTIVE, "Running", None, input={"b": [1, 2], "a": 1})
    assert instance_fingerprint(outside) == "ee2c82c18214f528"


def test_a_keyed_signal_whose_record_may_have_gone_with_its_blob_does_not_act_afresh_on_its_inputs_instance() -> None:
    """As for a start: a lock blob younger than an instance with this input may have lost the key's entry, and the
    key's earlier request may have started that instance; another input is not the key's."""
    created = instance(T0)
    lost = LockRecord({}, T0 + timedelta(minutes=1))
    assert signal_replay(CLAIM, lost, created, OURS) == Conflict(created)
    assert signal_replay(CLAIM, lost, instance(T0, '{"n": 2}'), OURS) is None


def test_a_starting_key_whose_instance_seen_before_is_gone_starts_nothing_again() -> None:
    """The instance seen before the key's start is gone (purged from outside the app): the key's start may have
    landed and been purged with it, so it is never started again; the key's record says why."""
    entry = starting(instance(T0 - timedelta(hours=1)))
    assert replay_answer(CLAIM, record((CLAIM, entry)), MISSING, OURS) == Conflict(MISSING, KEY_START_UNTOLD)
