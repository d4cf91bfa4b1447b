"""What each storage call costs the app: proxy settings from the environment are read per call only when there
are some, and a lock blob's client is made once while it is in use."""

from __future__ import annotations

import pytest
from azure.storage.blob.aio import ContainerClient

from singleton_start.adapters.blob_lease import (
    BLOB_CLIENTS_KEPT,
    STORAGE_OPTIONS,
    LeaseLocks,
    blob_service_from_environment,
    proxy_in_environment,
    storage_options,
)
from singleton_start.core.errors import SettingsError

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
    for n in range(BLOB_CLIENTS_KEPT - 1):
        locks.lock_blob("hub", f"other-{n}")
    assert locks.lock_blob("hub", "job-1") is first  # the most recent BLOB_CLIENTS_KEPT are kept
    for n in range(BLOB_CLIENTS_KEPT):
        locks.lock_blob("hub", f"more-{n}")

    assert again is first
    assert locks.lock_blob("hub", "job-1") is not first


def test_the_app_reaches_its_own_account_by_connection_string_service_uri_or_account_name() -> None:
    by_string = blob_service_from_environment({"AzureWebJobsStorage": f"  {CONNECTION_STRING}  "})
    assert (by_string.account_name, by_string.url) == ("devstoreaccount1", "http://127.0.0.1:9/devstoreaccount1/")
    by_uri = blob_service_from_environment(
        {"AzureWebJobsStorage__blobServiceUri": "https://acct.blob.core.windows.net"}
    )
    assert by_uri.url == "https://acct.blob.core.windows.net/" and by_uri.credential is not None
    by_name = blob_service_from_environment({"AzureWebJobsStorage__accountName": " acct2 "})
    assert by_name.url == "https://acct2.blob.core.windows.net/"


def test_the_storage_client_gets_the_apps_bounds_and_the_managed_identity_it_names() -> None:
    """Without the app's retry policy a storage call could eat the request's deadline; a user-assigned identity
    named in AzureWebJobsStorage__clientId is the one the account granted access to."""
    by_string = blob_service_from_environment({"AzureWebJobsStorage": CONNECTION_STRING})
    assert by_string._config.retry_policy is STORAGE_OPTIONS["retry_policy"]
    by_identity = blob_service_from_environment(
        {"AzureWebJobsStorage__accountName": "acct", "AzureWebJobsStorage__clientId": "client-1"}
    )
    assert by_identity._config.retry_policy is STORAGE_OPTIONS["retry_policy"]
    credentials = by_identity.credential.credentials
    managed = next(each for each in credentials if type(each).__name__ == "ManagedIdentityCredential")
    assert managed._credential._client._identity_config == {"client_id": "client-1"}


def test_a_bad_or_missing_storage_setting_is_refused_without_echoing_its_value() -> None:
    with pytest.raises(SettingsError, match="not a valid storage connection string") as bad:
        blob_service_from_environment({"AzureWebJobsStorage": "AccountKey=secret-value;nonsense"})
    assert "secret-value" not in str(bad.value)
    with pytest.raises(SettingsError, match="is not set"):
        blob_service_from_environment({"AzureWebJobsStorage": "  "})


def test_each_storage_call_is_retried_once_quickly_and_bounded_in_time() -> None:
    options = storage_options({})
    retry = options["retry_policy"]
    assert (retry.total_retries, retry.backoff, retry.random_jitter_range) == (1, 0.2, 0)
    assert (options["connection_timeout"], options["read_timeout"]) == (3, 5)
    assert proxy_in_environment({"https_proxy": "http://p:1"})
    assert not proxy_in_environment({"NO_PROXY": "x", "HTTPS_PROXY": ""})
