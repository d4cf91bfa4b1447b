"""The per-instance-ID lock: a blob lease in the app's own storage account.

A lease is held by one caller across every host of the app, or shared: every event request proposes the same
well-known lease ID, which Lease Blob's acquire grants again to whoever proposes the active ID, so that any
number of them hold it at once while a start (its own random ID) is refused; within one process they join the
shared lease it holds, or the acquire of it on its way, instead of each asking storage. A holder that dies loses
the lease when it expires, so no cleanup is ever needed. Lock blobs are never deleted: the start relies on it (a
request that created its lock blob knows that no one ever held its lease). azure-core's errors are mapped here,
once, to Unavailable.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypedDict

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob.aio import BlobClient, BlobLeaseClient, BlobServiceClient, ContainerClient, LinearRetry

from ..core.errors import SettingsError, Unavailable
from ..core.ports import Clock, Lease, LockRecord
from .clock import REAL_CLOCK

LOG = logging.getLogger(__name__)
# The storage SDK logs every HTTP call it makes at INFO; the app logs one line per request instead.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
STORAGE_CONNECTION = "AzureWebJobsStorage"

RELEASE_TIMEOUT_SECONDS = 2.0
BLOB_CLIENTS_KEPT = 256
# The lease ID every shared holder proposes (any GUID; the same for every lock blob).
SHARED_LEASE_ID = "5a0e4c1e-0000-4000-8000-0000e7e175ed"
LeaseClientFactory = Callable[[BlobClient, str], BlobLeaseClient]


def lock_blob_name(task_hub: str, instance_id: str) -> str:
    """One blob per task hub and instance ID; the ID is hashed because blob names treat '/', '.' and
    trailing dots specially and are case-sensitive while task hub names are not."""
    digest = hashlib.sha256(instance_id.encode("utf-8")).hexdigest()
    return f"{task_hub.lower()}/{digest}"


@dataclass(frozen=True)
class BlobLease:
    """The Lease handle of this adapter: the lock blob and the lease client that holds it."""

    blob: BlobClient
    client: BlobLeaseClient


class LeaseLocks:
    """Takes, releases and annotates per-ID leases in one container."""

    def __init__(
        self,
        container: ContainerClient,
        lease_seconds: int,
        clock: Clock = REAL_CLOCK,
        lease_client: LeaseClientFactory = lambda blob, lease_id: BlobLeaseClient(blob, lease_id=lease_id),
    ) -> None:
        self._container = container
        self._lease_seconds = lease_seconds
        self._clock = clock
        # The lease client of a blob: the storage SDK's, or the simulator's over its model of storage.
        self._lease_client = lease_client
        self.calls: Counter[str] = Counter()
        # Releases on their way, by blob name; each kept here until done, so none is lost or leaks.
        self._releasing: dict[str, asyncio.Task[None]] = {}
        # The clients of the lock blobs used last, least recent first.
        self._blobs: dict[str, BlobClient] = {}
        # Lock blobs this process has leased: an acquire of one needs no create first (a blob deleted since
        # answers the acquire with 404, and is then made again).
        self._existing: set[str] = set()
        # The shared leases this process holds, by blob name, each with the latest end it knows, and the acquires
        # of shared leases on their way: the event requests of one ID in a process join them.
        self._shared: dict[str, Lease] = {}
        self._sharing: dict[str, asyncio.Future[Lease | None]] = {}

    @property
    def container(self) -> ContainerClient:
        """The container the lock blobs live in."""
        return self._container

    def lock_blob(self, task_hub: str, instance_id: str) -> BlobClient:
        """The lock blob's client, made once per blob while it is in recent use: making one builds a pipeline."""
        name = lock_blob_name(task_hub, instance_id)
        blob = self._blobs.pop(name, None) or self._container.get_blob_client(name)
        self._blobs[name] = blob
        if len(self._blobs) > BLOB_CLIENTS_KEPT:
            del self._blobs[next(iter(self._blobs))]
        return blob

    async def try_acquire(
        self,
        task_hub: str,
        instance_id: str,
        timeout: float,
        *,
        shared: bool = False,
        blob_may_be_missing: bool = False,
    ) -> Lease | None:
        """Take the lease, or None when it is held otherwise (by one holder, or shared while this asks for it
        alone, or the other way round).

        For an ID with no instance the lock blob is likely new too: creating it first saves the
        acquire that would fail with 404.
        """
        blob = self.lock_blob(task_hub, instance_id)
        if shared:
            return await self._join_shared(blob, timeout, blob_may_be_missing)
        # Proposing our own lease ID lets an acquire cut off by the timeout still be released.
        lease = Lease(blob.blob_name, BlobLease(blob, self._lease_client(blob, str(uuid.uuid4()))))
        try:
            return await asyncio.wait_for(self._acquire(lease, blob_may_be_missing), timeout)
        except TimeoutError:
            self.release(lease)
            raise Unavailable("taking the lease timed out") from None
        except BaseException:
            # Cancelled, or failed, while the acquire may have been granted: give it back.
            self.release(lease)
            raise

    async def _join_shared(self, blob: BlobClient, timeout: float, create_first: bool) -> Lease | None:
        """The shared lease, joined without a call while this process knows it held for at least half a lease
        more (the app never releases, changes or breaks it, so it lasts at least that long), or joined to the
        acquire of it already on its way here: any number of event requests at once cost one acquire. Each gets a
        Lease of its own, which its hold renews when a send needs more."""
        name = blob.blob_name
        known = self._shared.get(name)
        if known is not None and known.ends_at - self._clock.now() >= self._lease_seconds / 2:
            self.calls["lease_joined"] += 1
            return replace(known)
        taking = self._sharing.get(name)
        if taking is None:
            lease = Lease(name, BlobLease(blob, self._lease_client(blob, SHARED_LEASE_ID)), shared=True)
            # Bounded by the first request's timeout, and not cancelled with it: the others wait for it too.
            taking = self._sharing[name] = asyncio.ensure_future(
                asyncio.wait_for(self._acquire(lease, create_first), timeout)
            )
            taking.add_done_callback(lambda done: self._shared_taken(name, done))
        else:
            self.calls["lease_joined"] += 1
        try:
            taken = await asyncio.wait_for(asyncio.shield(taking), timeout)
        except TimeoutError:
            raise Unavailable("taking the lease timed out") from None
        return None if taken is None else replace(taken)

    def _shared_taken(self, name: str, done: asyncio.Future[Lease | None]) -> None:
        if self._sharing.get(name) is done:
            del self._sharing[name]
        if not done.cancelled() and done.exception() is None and (lease := done.result()) is not None:
            self._note_shared(lease)

    def _note_shared(self, lease: Lease) -> None:
        """Keep the latest end known of a shared lease; at the bound the others are forgotten (each then costs its
        next event request one acquire), so that the memory of them cannot grow."""
        known = self._shared.get(lease.key)
        if known is not None and known.ends_at >= lease.ends_at:
            return
        if known is None and len(self._shared) >= BLOB_CLIENTS_KEPT * 16:
            self._shared.clear()
        self._shared[lease.key] = replace(lease)

    async def _acquire(self, lease: Lease, create_first: bool) -> Lease | None:
        handle: BlobLease = lease.handle
        releasing = self._releasing.get(lease.key)
        if releasing is not None:
            # This process is still giving this lease back: wait for that (bounded) instead of finding it held.
            await asyncio.wait({releasing})
        if create_first and lease.key not in self._existing:
            await self._create_lock_blob_or_fail(handle.blob)
        for _ in range(3):
            try:
                self.calls["lease_acquire"] += 1
                sent_at = self._clock.now()
                await handle.client.acquire(lease_duration=self._lease_seconds)
                lease.ends_at = sent_at + self._lease_seconds
                self._known_to_exist(lease.key)
                return lease
            except ResourceNotFoundError:
                pass
            except HttpResponseError as error:
                # The storage SDK sets error_code on the errors it raises; azure-core's class does not declare it.
                if error.status_code == 409 and error.error_code == "LeaseAlreadyPresent":  # type: ignore[attr-defined]
                    return None
                raise Unavailable(f"taking the lease failed with HTTP {error.status_code}") from None
            except AzureError as error:
                raise Unavailable(f"taking the lease failed: {type(error).__name__}") from None
            await self._create_lock_blob_or_fail(handle.blob)
        raise Unavailable("the lock blob kept disappearing")

    def _known_to_exist(self, name: str) -> None:
        if len(self._existing) >= BLOB_CLIENTS_KEPT * 16:
            self._existing.clear()
        self._existing.add(name)

    async def _create_lock_blob_or_fail(self, blob: BlobClient) -> None:
        try:
            await self._create_lock_blob(blob)
        except AzureError as error:
            raise Unavailable(f"creating the lock blob failed: {type(error).__name__}") from None

    async def _create_lock_blob(self, blob: BlobClient) -> None:
        """Create the empty lock blob, and its container the first time, unless the blob is there."""
        try:
            await self._upload_unless_there(blob)
        except ResourceNotFoundError:
            await self._create_container()
            await self._upload_unless_there(blob)

    async def _upload_unless_there(self, blob: BlobClient) -> None:
        """Put the empty blob unless one is there: made by another holder meanwhile, or leased already."""
        try:
            self.calls["blob_create"] += 1
            await blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            return
        except HttpResponseError as error:
            # A leased blob refuses the overwrite check with 412 rather than 409; a 404 (no container) goes up.
            if error.status_code not in (409, 412):
                raise

    async def _create_container(self) -> None:
        try:
            self.calls["container_create"] += 1
            await self._container.create_container()
        except ResourceExistsError:
            pass

    def release(self, lease: Lease, first: Coroutine[None, None, None] | None = None) -> Awaitable[None]:
        """Give the lease back in the background, bounded, whether or not the caller waits or is cancelled: an
        answer need not wait for it. `first` is bounded work still to do under the lease before it is given
        back. The next acquire of the blob in this process waits for both; a failure only delays the next
        holder until the lease expires. Await the result to wait for the release."""
        self.calls["lease_release"] += 1
        name = lease.key
        releasing = self._releasing[name] = asyncio.ensure_future(self._release(lease, first))
        releasing.add_done_callback(lambda done: self._forget(name, done))
        return asyncio.shield(releasing)

    def _forget(self, name: str, done: asyncio.Task[None]) -> None:
        if self._releasing.get(name) is done:
            del self._releasing[name]

    async def drain(self) -> None:
        """Wait for the releases on their way (each bounded), e.g. before the storage client is closed."""
        if self._releasing:
            await asyncio.wait(set(self._releasing.values()))

    @staticmethod
    async def _release(lease: Lease, first: Coroutine[None, None, None] | None) -> None:
        if first is not None:
            try:
                await first
            except Exception as error:  # noqa: BLE001 - the lease is given back whatever became of it
                LOG.warning("Work under the lease before its release failed: %s", type(error).__name__)
        try:
            await asyncio.wait_for(lease.handle.client.release(), RELEASE_TIMEOUT_SECONDS)
        except (AzureError, TimeoutError):
            pass
        except Exception as error:  # noqa: BLE001 - no one may be waiting for it: it must not end in an error
            LOG.warning("Lease not released: %s", type(error).__name__)

    async def renew(self, lease: Lease, timeout: float) -> None:
        """Keep the lease for another full length, counted from before the renewal was sent."""
        try:
            self.calls["lease_renew"] += 1
            sent_at = self._clock.now()
            await asyncio.wait_for(lease.handle.client.renew(), timeout)
        except (AzureError, TimeoutError) as error:
            raise Unavailable(f"renewing the lease failed: {type(error).__name__}") from None
        lease.ends_at = sent_at + self._lease_seconds
        if lease.shared:
            self._note_shared(lease)

    async def share(self, lease: Lease, timeout: float) -> None:
        """Turn a lease held alone into the shared one (Lease Blob's change, to the well-known ID), which event
        requests join; its end stays as it was. Unavailable on failure: the lease is then still held alone, or
        already shared, and either way it is left to expire."""
        try:
            self.calls["lease_change"] += 1
            await asyncio.wait_for(lease.handle.client.change(proposed_lease_id=SHARED_LEASE_ID), timeout)
        except (AzureError, TimeoutError) as error:
            raise Unavailable(f"sharing the lease failed: {type(error).__name__}") from None
        lease.shared = True
        self._note_shared(lease)

    async def read_record(self, task_hub: str, instance_id: str, timeout: float) -> LockRecord:
        """The metadata the last starter left on the lock blob, and the blob's creation time; empty when there
        is no blob."""
        try:
            self.calls["record_read"] += 1
            properties = await asyncio.wait_for(self.lock_blob(task_hub, instance_id).get_blob_properties(), timeout)
        except ResourceNotFoundError:
            return LockRecord()
        except (AzureError, TimeoutError) as error:
            raise Unavailable(f"reading the lock record failed: {type(error).__name__}") from None
        return LockRecord(dict(properties.metadata or {}), properties.creation_time)

    async def write_record(self, lease: Lease, record: Mapping[str, str], timeout: float) -> None:
        """Leave metadata on the lock blob while holding its lease."""
        try:
            self.calls["record_write"] += 1
            handle: BlobLease = lease.handle
            await asyncio.wait_for(handle.blob.set_blob_metadata(dict(record), lease=handle.client), timeout)
        except (AzureError, TimeoutError) as error:
            raise Unavailable(f"writing the lock record failed: {type(error).__name__}") from None


class StorageOptions(TypedDict):
    """The blob client options we pass; a TypedDict lets the type checker match each to the SDK's parameters."""

    retry_policy: LinearRetry
    connection_timeout: int
    read_timeout: int


# Every storage call is also bounded by the request's deadline; these keep one call from eating it.
STORAGE_OPTIONS: StorageOptions = {
    # backoff is hinted int, but the SDK draws the wait with random.uniform, so seconds may be a fraction.
    "retry_policy": LinearRetry(backoff=0.2, random_jitter_range=0, retry_total=1),  # type: ignore[arg-type]
    "connection_timeout": 3,
    "read_timeout": 5,
}


def proxy_in_environment(env: Mapping[str, str]) -> bool:
    """Whether the environment names a proxy (HTTPS_PROXY and the like; NO_PROXY alone names none)."""
    return any(
        value.strip() and name.lower().endswith("_proxy") and name.lower() != "no_proxy" for name, value in env.items()
    )


def storage_options(env: Mapping[str, str]) -> dict[str, Any]:
    """The storage client's options. Proxy settings from the environment are honoured only when there are
    some: reading them (and ~/.netrc) costs two thread hops on every call."""
    return {**STORAGE_OPTIONS, "use_env_settings": proxy_in_environment(env)}


def blob_service_from_environment(env: Mapping[str, str]) -> BlobServiceClient:
    """The app's own storage account, by connection string or identity, as the Functions host reads it."""
    options = storage_options(env)
    connection_string = env.get(STORAGE_CONNECTION, "").strip()
    if connection_string:
        try:
            return BlobServiceClient.from_connection_string(connection_string, **options)
        except ValueError:
            # The message must not echo the value: it holds the account key.
            raise SettingsError(f"{STORAGE_CONNECTION} is not a valid storage connection string") from None
    service_uri = env.get(f"{STORAGE_CONNECTION}__blobServiceUri", "").strip()
    account = env.get(f"{STORAGE_CONNECTION}__accountName", "").strip()
    if not service_uri and account:
        service_uri = f"https://{account}.blob.core.windows.net"
    if service_uri:
        # Imported here, not at load: azure.identity (with msal) costs a few hundred ms of
        # load time that an app with a connection string never uses.
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential(
            managed_identity_client_id=env.get(f"{STORAGE_CONNECTION}__clientId") or None
        )
        return BlobServiceClient(service_uri, credential=credential, **options)
    raise SettingsError(
        f"{STORAGE_CONNECTION} is not set: give a connection string, or {STORAGE_CONNECTION}__blobServiceUri "
        f"or {STORAGE_CONNECTION}__accountName for an identity-based connection"
    )
