"""What each storage call costs the app: proxy settings from the environment are read per call only when there
are some, and a lock blob's client is made once while it is in use."""

from __future__ import annotations

import pytest
from azure.storage.blob.aio import ContainerClient

from singleton_start.adapters.blob_lease import BLOB_CLIENTS_KEPT, LeaseLocks, storage_options

# Never used to connect: making a blob client does no I/O.
CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=bm90LWEta2V5;"
    "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


@pytest.mark.parametrize("env", [{}, {"NO_PROXY": "localhost"}, {"HTTPS_PROXY": " "}, {"PATH": "/usr/bin"}])
def test_storage_client_skips_the_proxy_lookup_of_every_call_when_the_environment_names_no_proxy(
    env: dict[str, str],
) -> None:
    assert storage_options(env)["use_env_settings"] is False


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY"])
def test_storage_client_honours_a_proxy_named_in_the_environment(name: str) -> None:
    assert storage_options({name: "http://proxy.example:3128", "NO_PROXY": "localhost"})["use_env_settings"] is True


def test_lock_blob_client_is_made_once_per_blob_and_only_the_recent_ones_are_kept() -> None:
    container = ContainerClient.from_connection_string(CONNECTION_STRING, "singleton-locks")
    locks = LeaseLocks(container, 15)

    first = locks.lock_blob("hub", "job-1")
    again = locks.lock_blob("hub", "job-1")
    for n in range(BLOB_CLIENTS_KEPT):
        locks.lock_blob("hub", f"other-{n}")

    assert again is first
    assert locks.lock_blob("hub", "job-1") is not first
