"""Settings are read once, with defaults, and a bad value fails with the setting's name."""

from __future__ import annotations

import pytest

from singleton_start.adapters.blob_lease import blob_service_from_environment
from singleton_start.settings import (
    ConflictPolicy,
    ManagementLinks,
    ReusePolicy,
    Settings,
    SettingsError,
    check_known_orchestrators,
    load_settings,
)


def test_defaults_when_nothing_is_set() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.orchestrators == ("SingletonOrchestrator",)
    assert settings.max_input_bytes == 1_048_576
    assert settings.lock_wait_seconds == 10
    assert 15 <= settings.lock_lease_seconds <= 60
    assert settings.conflict_policy is ConflictPolicy.REJECT
    assert settings.reuse_policy is ReusePolicy.ALLOW_ENDED


def test_values_are_read_and_trimmed() -> None:
    settings = load_settings(
        {
            "SINGLETON_ORCHESTRATORS": " Monitor , SyncLoop ",
            "SINGLETON_MAX_INPUT_BYTES": "2048",
            "SINGLETON_LOCK_WAIT_SECONDS": "2.5",
            "SINGLETON_LOCK_LEASE_SECONDS": "15",
            "SINGLETON_CONFLICT_POLICY": "Use-Existing",
            "SINGLETON_REUSE_POLICY": "reject-duplicate",
        }
    )
    assert settings.orchestrators == ("Monitor", "SyncLoop")
    assert settings.max_input_bytes == 2048
    assert settings.lock_wait_seconds == 2.5
    assert settings.lock_lease_seconds == 15
    assert settings.conflict_policy is ConflictPolicy.USE_EXISTING
    assert settings.reuse_policy is ReusePolicy.REJECT_DUPLICATE


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("SINGLETON_MAX_INPUT_BYTES", "lots", "whole number"),
        ("SINGLETON_MAX_INPUT_BYTES", "-1", "from 0"),
        ("SINGLETON_LOCK_WAIT_SECONDS", "soon", "a number"),
        ("SINGLETON_LOCK_LEASE_SECONDS", "10", "from 15 to 60"),
        ("SINGLETON_LOCK_LEASE_SECONDS", "61", "from 15 to 60"),
        ("SINGLETON_START_ATTEMPTS", "0", "from 1"),
        ("SINGLETON_CONFLICT_POLICY", "replace", "reject, use-existing, terminate-existing"),
        ("SINGLETON_REUSE_POLICY", "never", "allow-ended, allow-failed, reject-duplicate"),
        ("SINGLETON_ORCHESTRATORS", " , ", "at least one"),
        ("SINGLETON_ORCHESTRATORS", "Job,job", "twice"),
    ],
)
def test_bad_values_fail_naming_the_setting(name: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    assert name in str(raised.value)
    assert fragment in str(raised.value)


@pytest.mark.parametrize(
    ("timeout", "lease"),
    [("11", "15"), ("26", "30"), ("60", "60")],
)
def test_backend_timeout_and_safety_margin_not_fitting_inside_the_lease_fail_naming_both(
    timeout: str, lease: str
) -> None:
    """Each value is in its own range; together a holder could not make one call before its lease may end."""
    with pytest.raises(SettingsError) as raised:
        load_settings({"SINGLETON_BACKEND_TIMEOUT_SECONDS": timeout, "SINGLETON_LOCK_LEASE_SECONDS": lease})
    assert "SINGLETON_BACKEND_TIMEOUT_SECONDS" in str(raised.value)
    assert "SINGLETON_LOCK_LEASE_SECONDS" in str(raised.value)


def test_backend_timeout_that_fits_inside_the_lease_with_the_margin_is_accepted() -> None:
    settings = load_settings({"SINGLETON_BACKEND_TIMEOUT_SECONDS": "10", "SINGLETON_LOCK_LEASE_SECONDS": "15"})
    assert settings.backend_timeout_seconds == 10


def test_missing_storage_connection_fails_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="AzureWebJobsStorage"):
        blob_service_from_environment({})


def test_bad_connection_string_fails_without_echoing_it() -> None:
    secret = "AccountKey=c2VjcmV0LWtleS12YWx1ZQ=="
    with pytest.raises(SettingsError) as raised:
        blob_service_from_environment({"AzureWebJobsStorage": f"Nonsense;{secret}"})
    assert "AzureWebJobsStorage" in str(raised.value)
    assert "c2VjcmV0" not in str(raised.value)


def test_development_storage_connection_string_is_accepted() -> None:
    client = blob_service_from_environment({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert client.account_name == "devstoreaccount1"
    assert client.url.startswith("http://127.0.0.1:10000/devstoreaccount1")


def test_identity_based_connection_by_account_name_uses_a_token_credential() -> None:
    client = blob_service_from_environment({"AzureWebJobsStorage__accountName": "myaccount"})
    assert client.url.startswith("https://myaccount.blob.core.windows.net")
    assert type(client.credential).__name__ == "DefaultAzureCredential"


def test_identity_based_connection_by_service_uri() -> None:
    client = blob_service_from_environment(
        {
            "AzureWebJobsStorage__blobServiceUri": "https://other.blob.core.windows.net",
            "AzureWebJobsStorage__clientId": "abc",
        }
    )
    assert client.url.startswith("https://other.blob.core.windows.net")
    assert type(client.credential).__name__ == "DefaultAzureCredential"


def test_answers_carry_the_apps_own_links_and_ignore_forwarded_headers_by_default() -> None:
    settings = load_settings({})
    assert settings.management_links is ManagementLinks.APP
    assert settings.use_forwarded_host is False


def test_management_links_and_forwarded_host_are_read() -> None:
    settings = load_settings({"SINGLETON_MANAGEMENT_LINKS": " Extension ", "SINGLETON_USE_FORWARDED_HOST": "TRUE"})
    assert settings.management_links is ManagementLinks.EXTENSION
    assert settings.use_forwarded_host is True


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("SINGLETON_MANAGEMENT_LINKS", "both", "app, extension"),
        ("SINGLETON_USE_FORWARDED_HOST", "yes", "true, false"),
        ("SINGLETON_USE_FORWARDED_HOST", "1", "true, false"),
    ],
)
def test_bad_link_settings_fail_naming_the_setting_and_the_allowed_values(name: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    assert name in str(raised.value)
    assert fragment in str(raised.value)


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_allowlist_is_refused_naming_the_setting_rather_than_falling_back_to_the_sample(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"SINGLETON_ORCHESTRATORS": value})

    assert "SINGLETON_ORCHESTRATORS must name at least one orchestrator" in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SINGLETON_MAX_INPUT_BYTES", "abc", "a whole number from 0 to 67108864, got 'abc'"),
        ("SINGLETON_MAX_INPUT_BYTES", "67108865", "a whole number from 0 to 67108864, got '67108865'"),
        ("SINGLETON_BACKEND_TIMEOUT_SECONDS", "0", "a number from 0.1 to 60, got '0'"),
        ("SINGLETON_REQUEST_TIMEOUT_SECONDS", "1e9", "a number from 1 to 200, got '1e9'"),
    ],
)
def test_range_errors_show_plain_numbers(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})

    assert str(raised.value) == f"{name} must be {message}"


@pytest.mark.parametrize(("value", "written"), [("Monitor;SyncLoop", "'Monitor,SyncLoop'"), ("A; B;", "'A,B'")])
def test_semicolons_between_orchestrator_names_are_refused_with_the_list_written_with_commas(
    value: str, written: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"SINGLETON_ORCHESTRATORS": value})

    message = str(raised.value)
    assert message.startswith("SINGLETON_ORCHESTRATORS separates names with commas, not semicolons")
    assert f"write {written}" in message


@pytest.mark.parametrize("value", ["Monitor SyncLoop", "sync.loop", "1Job", "Job/Two", "x" * 129])
def test_a_name_the_functions_host_would_not_take_is_refused_naming_it(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"SINGLETON_ORCHESTRATORS": f"SingletonOrchestrator,{value}"})

    message = str(raised.value)
    assert message.startswith(f"SINGLETON_ORCHESTRATORS names {value!r}, which is not a function name")


def test_names_the_functions_host_takes_are_accepted() -> None:
    names = ("a", "Job_2", "sync-loop", "x" * 128)
    assert load_settings({"SINGLETON_ORCHESTRATORS": ",".join(names)}).orchestrators == names


def test_an_orchestrator_the_app_does_not_define_is_refused_naming_it_and_the_apps_own() -> None:
    with pytest.raises(SettingsError) as raised:
        check_known_orchestrators(("SingletonOrchestrater", "Monitor"), ["Monitor", "SingletonOrchestrator"])

    assert str(raised.value) == (
        "SINGLETON_ORCHESTRATORS names SingletonOrchestrater, which the app does not define as an orchestrator "
        "(its orchestrators are Monitor, SingletonOrchestrator)"
    )


def test_an_app_without_orchestrators_is_said_to_define_none() -> None:
    with pytest.raises(SettingsError, match=r"\(it defines no orchestrator\)"):
        check_known_orchestrators(("Job",), [])


def test_known_orchestrators_match_without_regard_to_case_as_function_names_do() -> None:
    check_known_orchestrators(("singletonORCHESTRATOR",), ["SingletonOrchestrator"])
