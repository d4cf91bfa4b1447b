"""The start route: a request validated into a start command, the start use case run, its outcome answered."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import azure.functions as func
from azure.storage.blob.aio import BlobServiceClient, LinearRetry

from .command import StartCommand
from .contract import (
    ContractError,
    ErrorCode,
    allowed_target,
    conflict_body,
    conflict_reason,
    error_response,
    existing_response,
    json_response,
    parse_input,
    started_response,
    unavailable_response,
    validate_idempotency_key,
)
from .flights import StartsInFlight
from .host_config import check_host_config
from .http_adapter import Call, HttpAdapter
from .idempotency import IdempotencyClaim, request_digest
from .lock import LeaseLocks
from .manage import links_for
from .outcomes import (
    ArgumentsRefused,
    Existing,
    KeyReused,
    Outcome,
    Refused,
    Started,
    TerminatePending,
    Unavailable,
    Unsettled,
)
from .settings import Settings, SettingsError, load_settings
from .start import SingletonStarter
from .status import InstanceState

LOG = logging.getLogger("singleton_start")
# The storage SDK logs every HTTP call it makes at INFO; the app logs one line per request instead.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
STORAGE_CONNECTION = "AzureWebJobsStorage"
START_ROUTE = "POST orchestrators/{functionName}/{instanceId}"


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


@dataclass(frozen=True)
class Request:
    """The parts of an HTTP request the contract reads."""

    function_name: str | None
    instance_id: str | None
    content_type: str | None
    idempotency_key: str | None
    body: bytes

    @classmethod
    def from_http(cls, req: func.HttpRequest) -> Request:
        return cls(
            function_name=req.route_params.get("functionName"),
            instance_id=req.route_params.get("instanceId"),
            content_type=req.headers.get("content-type"),
            idempotency_key=req.headers.get("idempotency-key"),
            body=req.get_body() or b"",
        )


def command_for(request: Request, settings: Settings) -> StartCommand:
    """Validate a request into a start command, with no I/O; raises ContractError."""
    orchestrator, instance_id = allowed_target(request.function_name, request.instance_id, settings.orchestrators)
    problem = validate_idempotency_key(request.idempotency_key)
    if problem:
        raise ContractError(ErrorCode.INVALID_IDEMPOTENCY_KEY, problem)
    orchestrator_input = parse_input(request.content_type, request.body, settings.max_input_bytes)
    claim = None
    if request.idempotency_key is not None:
        claim = IdempotencyClaim(request.idempotency_key, request_digest(orchestrator, request.body))
    return StartCommand(orchestrator, instance_id, orchestrator_input, claim)


def respond(outcome: Outcome, instance_id: str, links: dict[str, str], settings: Settings) -> func.HttpResponse:
    """The HTTP answer for a use-case outcome."""
    match outcome:
        case Started(replayed=replayed):
            return started_response(links, replayed=replayed)
        case Existing():
            return existing_response(links)
        case Refused(observed=observed):
            runtime_status = observed.runtime_status or "Unknown"
            reason = conflict_reason(instance_id, runtime_status, observed.state is InstanceState.ACTIVE)
            body = conflict_body(
                instance_id, runtime_status, observed.created_time, observed.last_updated_time, links, reason
            )
            return json_response(409, body, {"Location": links["statusQueryGetUri"]})
        case KeyReused():
            return error_response(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was first sent with a different request; use a new key for a new request.",
            )
        case Unavailable():
            return unavailable_response()
        case ArgumentsRefused():
            return error_response(
                ErrorCode.INTERNAL, "The Durable extension refused the start's arguments; nothing was started."
            )
        case Unsettled():
            return error_response(
                ErrorCode.UNAVAILABLE,
                "The start was sent but its outcome is not known yet; it may still run. Retry the same request "
                "later: with the same Idempotency-Key the retry gets this start's answer.",
                {"Retry-After": str(settings.lock_lease_seconds)},
            )
        case TerminatePending():
            return error_response(
                ErrorCode.UNAVAILABLE,
                "The active instance ended while this request's terminate may still be queued; nothing was "
                "started. Retry after the Retry-After seconds, when the queued terminate can no longer reach a "
                "new instance.",
                {"Retry-After": str(settings.lock_lease_seconds)},
            )
    raise AssertionError(f"unhandled outcome {outcome!r}")


OUTCOME_NAMES = {
    Started: "started",
    Existing: "existing",
    Refused: "conflict",
    KeyReused: "key_reused",
    Unavailable: "unavailable",
    Unsettled: "unsettled",
    TerminatePending: "terminate_pending",
    ArgumentsRefused: "internal",
}


class StartEndpoint(HttpAdapter):
    """HttpStartSingle's use case behind the shared adapter, with clients made once per worker process."""

    route = START_ROUTE

    def __init__(self, settings: Settings, blob_service: BlobServiceClient) -> None:
        super().__init__(settings)
        self._blob_service = blob_service
        self.flights = StartsInFlight()
        self.locks = LeaseLocks(blob_service.get_container_client(settings.lock_container), settings.lock_lease_seconds)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> StartEndpoint:
        """Read and check every setting now, so a bad one fails the function at load."""
        env = os.environ if env is None else env
        settings = load_settings(env)
        check_host_config(env)
        return cls(settings, blob_service_from_environment(env))

    async def close(self) -> None:
        """Close the storage client once the lease releases on their way are done; the worker never needs to,
        tests and tools do."""
        await self.flights.drain()
        await self.locks.drain()
        await self._blob_service.close()
        await super().close()

    async def answer(self, call: Call) -> tuple[str, func.HttpResponse]:
        command = command_for(Request.from_http(call.req), self.settings)
        backend = call.backend()
        use_case = SingletonStarter(backend, self.locks, self.settings, self.flights)
        call.stats = use_case.stats
        outcome = await use_case.start(command)
        outcome_name = OUTCOME_NAMES[type(outcome)]
        if isinstance(outcome, Started) and outcome.replayed:
            outcome_name = "replayed"
        if isinstance(outcome, Unavailable | Unsettled | TerminatePending | ArgumentsRefused):
            LOG.warning("Start of instance %r not made: %s", command.instance_id, outcome.reason)
        links = links_for(self.settings, call.req, backend, command.orchestrator, command.instance_id)
        return outcome_name, respond(outcome, command.instance_id, links, self.settings)
