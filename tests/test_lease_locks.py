"""The lock adapter (LeaseLocks) over an in-memory stand-in of the blob calls it makes, on virtual time: what it
counts, creates, keeps and gives back, and how each storage call is bounded (no Azurite, no network)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from simulation.loop import VirtualLoop
from singleton_start.adapters.blob_lease import BLOB_CLIENTS_KEPT, LeaseLocks, lock_blob_name
from singleton_start.adapters.clock import RealClock
from singleton_start.core.errors import Unavailable

T = TypeVar("T")
LEASE_SECONDS = 15
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def failure(status: int, code: str) -> HttpResponseError:
    """An HTTP error as the storage SDK raises it, with its status and error code."""
    error = HttpResponseError(message=f"HTTP {status} {code}")
    error.status_code = status
    error.error_code = code  # type: ignore[attr-defined]
    return error


@dataclass
class Storage:
    """The account as the stand-ins see it: whether the container is there, the blobs and their metadata."""

    container: bool = True
    blobs: dict[str, dict[str, str]] = field(default_factory=dict)
    uploads: list[bytes] = field(default_factory=list)
    upload_errors: list[Exception] = field(default_factory=list)
    acquire_errors: list[Exception] = field(default_factory=list)
    # Another host makes the blob while this one makes the container.
    made_meanwhile: str | None = None
    # Virtual seconds a release, renewal or change takes, and an acquire.
    call_seconds: float = 0.0
    acquire_seconds: float = 0.0
    released: list[str] = field(default_factory=list)


@dataclass
class Properties:
    metadata: dict[str, str]
    creation_time: datetime


class Blob:
    def __init__(self, storage: Storage, name: str) -> None:
        self.storage, self.blob_name = storage, name

    async def upload_blob(self, data: bytes, *, overwrite: bool = False) -> None:
        self.storage.uploads.append(data)
        if self.storage.upload_errors:
            raise self.storage.upload_errors.pop(0)
        if not self.storage.container:
            raise ResourceNotFoundError("ContainerNotFound")
        if self.blob_name in self.storage.blobs and not overwrite:
            raise ResourceExistsError("BlobAlreadyExists")
        self.storage.blobs[self.blob_name] = {}

    async def get_blob_properties(self) -> Properties:
        if self.blob_name not in self.storage.blobs:
            raise ResourceNotFoundError("BlobNotFound")
        return Properties(dict(self.storage.blobs[self.blob_name]), CREATED)


class LeaseClient:
    def __init__(self, storage: Storage, blob: Blob) -> None:
        self.storage, self.blob = storage, blob

    async def acquire(self, lease_duration: int) -> None:
        await asyncio.sleep(self.storage.acquire_seconds)
        if self.storage.acquire_errors:
            raise self.storage.acquire_errors.pop(0)
        if self.blob.blob_name not in self.storage.blobs:
            raise ResourceNotFoundError("BlobNotFound")

    async def renew(self) -> None:
        await asyncio.sleep(self.storage.call_seconds)

    async def change(self, proposed_lease_id: str) -> None:
        await asyncio.sleep(self.storage.call_seconds)

    async def release(self) -> None:
        await asyncio.sleep(self.storage.call_seconds)
        self.storage.released.append(self.blob.blob_name)


class Container:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def get_blob_client(self, name: str) -> Blob:
        return Blob(self.storage, name)

    async def create_container(self) -> None:
        self.storage.container = True
        if self.storage.made_meanwhile is not None:
            self.storage.blobs[self.storage.made_meanwhile] = {"key": "recorded"}


class LoopClock(RealClock):
    """The running loop's time: virtual time under the tests' VirtualLoop."""

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()


def lease_locks(storage: Storage) -> LeaseLocks:
    container: Any = Container(storage)

    def lease_client(blob: Any, lease_id: str) -> Any:
        return LeaseClient(storage, blob)

    return LeaseLocks(container, LEASE_SECONDS, LoopClock(), lease_client=lease_client)


async def background_ended() -> None:
    await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}), return_exceptions=True)


def on_virtual_time(work: Coroutine[Any, Any, T]) -> tuple[T, float]:
    """The coroutine's result, and the virtual seconds it took; what it left in the background ends before."""
    loop = VirtualLoop()
    try:
        began = loop.time()
        result = loop.run_until_complete(work)
        return result, loop.time() - began
    finally:
        loop.run_until_complete(background_ended())
        loop.close()


def test_the_lock_blob_name_is_the_lowercased_task_hub_and_the_ids_sha256() -> None:
    """Hosts of two versions during a deployment must lock the same blob for the same ID."""
    digest = hashlib.sha256(b"Job/1").hexdigest()
    assert lock_blob_name("SimHub", "Job/1") == f"simhub/{digest}"


def test_each_storage_call_on_the_lock_is_counted_once_per_call_in_one_host() -> None:
    """The benchmark reads the lock's cost from these counts: a path with two of each call must count two."""
    storage = Storage(container=False)
    locks = lease_locks(storage)

    async def work() -> None:
        first = await locks.try_acquire("hub", "a", 5.0, blob_may_be_missing=True)
        storage.container, storage.blobs = False, {}  # the container was deleted meanwhile
        second = await locks.try_acquire("hub", "b", 5.0, blob_may_be_missing=True)
        assert first is not None and second is not None
        await locks.renew(first, 5.0)
        await locks.renew(first, 5.0)
        await locks.share(second, 5.0)
        await locks.share(second, 5.0)
        assert second.shared is True
        await locks.release(first)
        await locks.release(second)

    on_virtual_time(work())
    assert dict(locks.calls) == {
        "blob_create": 4,
        "container_create": 2,
        "lease_acquire": 2,
        "lease_renew": 2,
        "lease_change": 2,
        "lease_release": 2,
    }
    assert storage.uploads == [b""] * 4


def test_creating_a_lock_blob_never_overwrites_the_record_on_an_existing_one() -> None:
    """The lock blob's metadata holds the keys' record: a create over it would lose every recorded key."""
    name = lock_blob_name("hub", "a")
    storage = Storage(blobs={name: {"key": "recorded"}})
    locks = lease_locks(storage)
    lease, _ = on_virtual_time(locks.try_acquire("hub", "a", 5.0, blob_may_be_missing=True))
    assert lease is not None and storage.blobs[name] == {"key": "recorded"}


def test_a_lock_blob_made_by_another_host_while_the_container_was_made_is_leased_and_keeps_its_record() -> None:
    """Two hosts may both find the container missing: the one that loses the create race still takes the lease,
    and leaves the record the other wrote."""
    name = lock_blob_name("hub", "a")
    storage = Storage(container=False, made_meanwhile=name)
    locks = lease_locks(storage)
    lease, _ = on_virtual_time(locks.try_acquire("hub", "a", 5.0, blob_may_be_missing=True))
    assert lease is not None and locks.calls["container_create"] == 1
    assert storage.blobs[name] == {"key": "recorded"}


@pytest.mark.parametrize("status", [409, 412])
def test_a_create_refused_because_the_blob_is_there_and_leased_still_goes_on_to_the_acquire(status: int) -> None:
    """A leased blob refuses the create's overwrite check with 409 or 412: that means it exists, not a failure."""
    name = lock_blob_name("hub", "a")
    storage = Storage(blobs={name: {}}, upload_errors=[failure(status, "LeaseIdMissing")])
    locks = lease_locks(storage)
    lease, _ = on_virtual_time(locks.try_acquire("hub", "a", 5.0, blob_may_be_missing=True))
    assert lease is not None


def test_only_a_lease_already_present_means_held_and_any_other_conflict_is_a_failure() -> None:
    """A 409 of another kind is no sign of a holder: waiting for it to go would wait for nothing."""
    name = lock_blob_name("hub", "a")
    held = Storage(blobs={name: {}}, acquire_errors=[failure(409, "LeaseAlreadyPresent")])
    assert on_virtual_time(lease_locks(held).try_acquire("hub", "a", 5.0))[0] is None
    other = Storage(blobs={name: {}}, acquire_errors=[failure(409, "LeaseIdMismatchWithLeaseOperation")])
    with pytest.raises(Unavailable):
        on_virtual_time(lease_locks(other).try_acquire("hub", "a", 5.0))


def test_a_lock_blob_that_keeps_disappearing_is_given_up_after_three_acquires() -> None:
    """Each lost acquire costs a create and an acquire: the loop must stay bounded."""
    storage = Storage(acquire_errors=[ResourceNotFoundError("BlobNotFound")] * 10)
    locks = lease_locks(storage)
    with pytest.raises(Unavailable):
        on_virtual_time(locks.try_acquire("hub", "a", 5.0))
    assert locks.calls["lease_acquire"] == 3


def test_a_plain_acquire_creates_no_blob_and_its_lease_is_keyed_by_the_blob_name() -> None:
    """The create costs a call that only an ID likely to be new needs; releases are tracked by the lease's key."""
    name = lock_blob_name("hub", "a")
    storage = Storage(blobs={name: {}})
    locks = lease_locks(storage)
    lease, _ = on_virtual_time(locks.try_acquire("hub", "a", 5.0))
    assert lease is not None and lease.key == name
    assert dict(locks.calls) == {"lease_acquire": 1}


def test_lock_blobs_known_to_exist_skip_the_create_and_the_memory_of_them_is_bounded() -> None:
    """A blob this process leased needs no create; the set of them is cleared at its bound so it cannot grow."""
    storage = Storage()
    locks = lease_locks(storage)
    bound = BLOB_CLIENTS_KEPT * 16

    async def creates_of(instance_id: str) -> int:
        before = locks.calls["blob_create"]
        await locks.try_acquire("hub", instance_id, 5.0, blob_may_be_missing=True)
        return locks.calls["blob_create"] - before

    async def work() -> None:
        for n in range(bound):
            await creates_of(f"id-{n}")
        assert await creates_of("id-0") == 0  # still remembered at the bound, and this one more forgets the rest
        assert await creates_of("id-1") == 1

    on_virtual_time(work())


def test_finished_releases_leave_nothing_behind() -> None:
    """A release's task is kept only until it is done: a long-lived host must not keep one per ID forever."""
    storage = Storage(blobs={lock_blob_name("hub", "a"): {}, lock_blob_name("hub", "b"): {}})
    locks = lease_locks(storage)

    async def work() -> None:
        for instance_id in ("a", "b", "a"):
            lease = await locks.try_acquire("hub", instance_id, 5.0)
            assert lease is not None
            await locks.release(lease)
        await asyncio.sleep(0)

    on_virtual_time(work())
    assert len(storage.released) == 3
    assert locks._releasing == {}  # what is left behind is the point


def test_drain_waits_for_the_releases_on_their_way() -> None:
    """The storage client is closed after drain: a release still on its way then would be lost."""
    storage = Storage(blobs={lock_blob_name("hub", "a"): {}}, call_seconds=1.0)
    locks = lease_locks(storage)

    async def work() -> None:
        lease = await locks.try_acquire("hub", "a", 5.0)
        assert lease is not None
        locks.release(lease)
        await locks.drain()

    on_virtual_time(work())
    assert storage.released == [lock_blob_name("hub", "a")]


def test_a_release_and_a_share_that_hang_are_cut_off() -> None:
    """A storage call with no answer must not hold a release (and the next acquire) or a request forever."""
    storage = Storage(blobs={lock_blob_name("hub", "a"): {}}, call_seconds=3600.0)
    locks = lease_locks(storage)

    async def release() -> None:
        lease = await locks.try_acquire("hub", "a", 5.0)
        assert lease is not None
        await locks.release(lease)

    _, took = on_virtual_time(release())
    assert took < 60

    async def share() -> None:
        lease = await locks.try_acquire("hub", "a", 5.0)
        assert lease is not None
        await locks.share(lease, 1.0)

    with pytest.raises(Unavailable):
        on_virtual_time(asyncio.wait_for(share(), 60))


def test_the_lock_record_carries_the_blobs_creation_time() -> None:
    """A blob made after an instance was created may have lost its keys' record: the start compares the two."""
    storage = Storage(blobs={lock_blob_name("hub", "a"): {"key": "recorded"}})
    record, _ = on_virtual_time(lease_locks(storage).read_record("hub", "a", 5.0))
    assert (dict(record.metadata), record.blob_created) == ({"key": "recorded"}, CREATED)


def test_a_blob_another_host_made_and_leased_while_this_one_made_the_container_goes_on_to_the_acquire() -> None:
    """On a fresh account two hosts may both find no container: the one that loses the race finds the blob made
    and leased (412), which means the lock is held, not that storage failed; its acquire then says so."""
    name = lock_blob_name("hub", "a")
    storage = Storage(
        container=False,
        upload_errors=[ResourceNotFoundError("ContainerNotFound"), failure(412, "LeaseIdMissing")],
        acquire_errors=[failure(409, "LeaseAlreadyPresent")],
        made_meanwhile=name,
    )
    lease, _ = on_virtual_time(lease_locks(storage).try_acquire("hub", "a", 5.0, blob_may_be_missing=True))
    assert lease is None


def test_event_requests_of_one_id_in_a_process_share_one_acquire_and_join_the_lease_it_holds() -> None:
    """Twenty events at once must not queue behind twenty acquires of the same lease: one acquire serves them all,
    and later ones join the lease while it has half its length left, each with a Lease of its own."""
    storage = Storage(blobs={lock_blob_name("hub", "a"): {}}, acquire_seconds=1.0)
    locks = lease_locks(storage)

    async def work() -> None:
        began = asyncio.get_running_loop().time()
        leases = await asyncio.gather(*(locks.try_acquire("hub", "a", 5.0, shared=True) for _ in range(20)))
        assert locks.calls["lease_acquire"] == 1
        assert all(lease is not None and lease.shared for lease in leases)
        assert {lease.ends_at for lease in leases if lease is not None} == {began + LEASE_SECONDS}
        assert len({id(lease) for lease in leases}) == 20
        await asyncio.sleep(LEASE_SECONDS / 2 - 1.0)  # exactly half the lease left
        joined = await locks.try_acquire("hub", "a", 5.0, shared=True)
        assert joined is not None and joined.ends_at == began + LEASE_SECONDS
        assert locks.calls["lease_acquire"] == 1
        await asyncio.sleep(0.01)
        taken = await locks.try_acquire("hub", "a", 5.0, shared=True)
        assert locks.calls["lease_acquire"] == 2
        assert taken is not None and taken.ends_at > began + LEASE_SECONDS

    on_virtual_time(work())
    assert locks.calls["lease_joined"] == 20


def test_a_shared_lease_renewed_or_made_shared_here_is_joined_by_its_new_end() -> None:
    """A renewal keeps the shared lease for every holder, and a signal's lease turned shared is the one events
    join: both are what this process knows of it."""
    storage = Storage(blobs={lock_blob_name("hub", "a"): {}, lock_blob_name("hub", "b"): {}})
    locks = lease_locks(storage)

    async def work() -> None:
        shared = await locks.try_acquire("hub", "a", 5.0, shared=True)
        alone = await locks.try_acquire("hub", "b", 5.0)
        assert shared is not None and alone is not None
        await asyncio.sleep(LEASE_SECONDS - 1.0)
        await locks.renew(shared, 5.0)
        await locks.renew(alone, 5.0)
        assert await locks.try_acquire("hub", "a", 5.0, shared=True) is not None
        assert locks.calls["lease_acquire"] == 2
        await locks.share(alone, 5.0)
        joined = await locks.try_acquire("hub", "b", 5.0, shared=True)
        assert joined is not None and joined.shared and joined.ends_at == alone.ends_at
        assert locks.calls["lease_acquire"] == 2

    on_virtual_time(work())


def test_a_lease_renewed_only_by_one_holder_is_not_known_shorter_by_another() -> None:
    """What this process knows of a shared lease is its latest end: an older Lease renewed later, or noted
    again, must not move it back."""
    storage = Storage(blobs={lock_blob_name("hub", "a"): {}})
    locks = lease_locks(storage)

    async def work() -> None:
        first = await locks.try_acquire("hub", "a", 5.0, shared=True)
        assert first is not None
        await asyncio.sleep(LEASE_SECONDS / 2 + 1.0)
        second = await locks.try_acquire("hub", "a", 5.0, shared=True)  # a new acquire, with a later end
        assert second is not None and second.ends_at > first.ends_at
        await locks.share(first, 5.0)  # notes the older end again
        await asyncio.sleep(LEASE_SECONDS / 2 - 1.5)
        assert await locks.try_acquire("hub", "a", 5.0, shared=True) is not None
        assert locks.calls["lease_acquire"] == 2

    on_virtual_time(work())


def test_a_request_that_leaves_does_not_fail_the_others_waiting_for_its_acquire() -> None:
    """The first event request's acquire is the others' too: its caller leaving, or its own timeout, must not
    cancel it for them; each waits by its own timeout."""
    storage = Storage(blobs={lock_blob_name("hub", "a"): {}}, acquire_seconds=1.0)
    locks = lease_locks(storage)

    async def work() -> None:
        first = asyncio.ensure_future(locks.try_acquire("hub", "a", 5.0, shared=True))
        await asyncio.sleep(0.1)
        impatient = asyncio.ensure_future(locks.try_acquire("hub", "a", 0.5, shared=True))
        patient = asyncio.ensure_future(locks.try_acquire("hub", "a", 5.0, shared=True))
        await asyncio.sleep(0.1)
        first.cancel()
        with pytest.raises(Unavailable):
            await impatient
        assert await patient is not None
        assert locks.calls["lease_acquire"] == 1

    on_virtual_time(work())


def test_a_shared_acquire_is_bounded_by_its_first_requests_timeout() -> None:
    """The acquire the others join is cut off at the first request's timeout, as its own would be: an
    acquire with no answer must not be waited for by every later event request."""
    storage = Storage(blobs={lock_blob_name("hub", "a"): {}}, acquire_seconds=3600.0)
    locks = lease_locks(storage)

    async def work() -> None:
        first = asyncio.ensure_future(locks.try_acquire("hub", "a", 1.0, shared=True))
        await asyncio.sleep(0.1)
        later = asyncio.ensure_future(locks.try_acquire("hub", "a", 30.0, shared=True))
        for waiting in (first, later):
            with pytest.raises(Unavailable):
                await waiting

    _, took = on_virtual_time(work())
    assert took == pytest.approx(1.0)


def test_a_shared_lease_refused_or_failed_is_not_joined_later() -> None:
    """A lease held alone by a start answers every event waiting for that acquire with None, and a failed acquire
    fails them all; neither is remembered, so the next event request asks storage again."""
    storage = Storage(
        blobs={lock_blob_name("hub", "a"): {}},
        acquire_seconds=1.0,
        acquire_errors=[failure(409, "LeaseAlreadyPresent"), failure(500, "InternalError")],
    )
    locks = lease_locks(storage)

    async def work() -> None:
        refused = await asyncio.gather(*(locks.try_acquire("hub", "a", 5.0, shared=True) for _ in range(3)))
        assert refused == [None, None, None]
        failed = await asyncio.gather(
            *(locks.try_acquire("hub", "a", 5.0, shared=True) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(each, Unavailable) for each in failed)
        assert await locks.try_acquire("hub", "a", 5.0, shared=True) is not None
        assert locks.calls["lease_acquire"] == 3

    on_virtual_time(work())


def test_the_memory_of_shared_leases_is_bounded() -> None:
    """One known shared lease per ID an event reached: at the bound they are forgotten, so it cannot grow."""
    storage = Storage()
    locks = lease_locks(storage)
    bound = BLOB_CLIENTS_KEPT * 16

    async def acquires_of(instance_id: str) -> int:
        before = locks.calls["lease_acquire"]
        await locks.try_acquire("hub", instance_id, 5.0, shared=True, blob_may_be_missing=True)
        return locks.calls["lease_acquire"] - before

    async def work() -> None:
        for n in range(bound):
            await acquires_of(f"id-{n}")
        assert await acquires_of("id-0") == 0  # still remembered at the bound
        assert await acquires_of("id-new") == 1  # one more forgets the rest
        assert await acquires_of("id-1") == 1
        assert await acquires_of("id-new") == 0

    on_virtual_time(work())
