"""The Durable backend as the start use case sees it: read, start, terminate, each bounded in time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import azure.functions as func
from azure.durable_functions import DurableOrchestrationClient

from .durable_http import DurableHttp, Exchange, NoAnswer, NotSent
from .instance_status import InstanceStatus, instance_status
from .ports import (
    BackendUnavailable,
    CommandRefused,
    InstanceGone,
    InstanceNotFound,
    OutcomeUnknown,
    StartOutcomeUnknown,
    StartRefused,
)
from .status import Observed, UnreadableStatus, classify

if TYPE_CHECKING:
    # A 1.x model: only annotations name it, so the module also imports where the 2.x SDK is installed.
    from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

# HandleGetStatusRequestAsync answers an instance's status with 200, 202, 400 or 500 (a failed one).
STATUS_READ_CODES = frozenset({200, 202, 400, 500})
ALREADY_EXISTS_EXCEPTION = "OrchestrationAlreadyExistsException"
MAX_ERROR_TEXT = 200


def url_segment(instance_id: str) -> str:
    """The ID as one URL path segment: the SDK pastes IDs into URLs unescaped, so a '%' or a
    space would otherwise reach the extension as a different ID.

    A '+' goes as %252B: HttpApiHandler runs WebUtility.UrlDecode on the already decoded path, which
    reads a '+' as a space; this form arrives as '+' whether or not a release has that extra decode.
    """
    return quote(instance_id, safe="").replace("%2B", "%252B")


def input_matches(stored: Any, sent: Any) -> bool:
    """Whether an instance's stored input is the one a start sent.

    The SDK serializes an input to JSON text and posts that text as a JSON string, so the
    extension stores, and the status shows, the text rather than the value.
    """
    if sent is None:
        return stored is None
    if not isinstance(stored, str):
        return False
    try:
        return bool(json.loads(stored) == sent)
    except ValueError:
        return False


def status_read_problem(http_status: int | None, body: Any) -> str | None:
    """Why a status read's answer is not a status, or None when the SDK may read it.

    Only a 404 means "no such instance". The RPC listener answers an empty-bodied 500 when its
    handler throws, which the SDK would otherwise read exactly like that 404.
    """
    if http_status == 404:
        return None
    if http_status in STATUS_READ_CODES and isinstance(body, dict) and body.get("runtimeStatus"):
        return None
    return f"The status read was answered with {describe(http_status, body)}, which is not an instance status."


def start_answer(http_status: int | None, body: Any) -> StartRefused | StartOutcomeUnknown | None:
    """What a start's answer says: None for a clear acceptance, else the refusal or the unknown outcome.

    HttpApiHandler.HandleStartOrchestratorRequestAsync answers 409 for OrchestrationAlreadyExistsException
    in current releases; older ones let it reach the catch-all 500 with the exception in the body.
    """
    if http_status == 202 and isinstance(body, dict) and body.get("id"):
        return None
    if http_status == 400:
        return StartRefused(f"The start was refused as invalid: {error_text(body)}", already_exists=False)
    if http_status == 409 or (http_status == 500 and _exception_type(body).endswith(ALREADY_EXISTS_EXCEPTION)):
        return StartRefused(f"The start was refused: {error_text(body)}", already_exists=True)
    return StartOutcomeUnknown(f"The start was answered with {describe(http_status, body)}; it may still run.")


def command_answer(operation: str, http_status: int | None, body: Any) -> Exception | None:
    """What a terminate's or an event's answer says: None for 202 (queued), else what the caller must know.
    HttpApiHandler answers 404 for no instance, 410 for an ended one, 400 for bad arguments; any other
    answer (a 5xx, an empty 500) leaves open whether the message was queued."""
    if http_status == 202:
        return None
    if http_status == 404:
        return InstanceNotFound(f"{operation} found no instance.")
    if http_status == 410:
        return InstanceGone(f"{operation} found the instance ended.")
    if http_status == 400:
        return CommandRefused(f"{operation} was refused: {error_text(body)}")
    return OutcomeUnknown(f"{operation} was answered with {describe(http_status, body)}; it may still take effect.")


def describe(http_status: int | None, body: Any) -> str:
    """An answer in a few words, for log lines: its status and whether it had a body."""
    if body is None:
        return f"HTTP {http_status} and an empty body"
    return f"HTTP {http_status} ({error_text(body)})"


def error_text(body: Any) -> str:
    """The extension's error message from an answer's body, shortened for a log line."""
    if isinstance(body, dict):
        text = str(body.get("ExceptionMessage") or body.get("Message") or body)
    else:
        text = str(body)
    return text[:MAX_ERROR_TEXT].rstrip(".") + "."


def _exception_type(body: Any) -> str:
    return str(body.get("ExceptionType") or "") if isinstance(body, dict) else ""


T = TypeVar("T")


def classify_or_unavailable(status: DurableOrchestrationStatus, reduce: Callable[[DurableOrchestrationStatus], T]) -> T:
    """Reduce a status read; one that names no known state is an unusable answer."""
    try:
        return reduce(status)
    except UnreadableStatus as error:
        raise BackendUnavailable(str(error)) from None


class DurableBackend:
    """One request's view of the Durable extension through the real SDK client, over the app's session."""

    def __init__(self, http: DurableHttp, starter: str | DurableOrchestrationClient) -> None:
        self._http = http
        # The SDK parses the starter binding once per request (a v1 folder hands over the binding string, a
        # decorator app's durable_client_input the client made from it); every call works on a copy of it.
        if not isinstance(starter, DurableOrchestrationClient):
            starter = DurableOrchestrationClient(starter)
        self._client = starter
        self.task_hub: str = self._client._orchestration_bindings.task_hub_name

    def management_links(self, request: func.HttpRequest | None, instance_id: str) -> dict[str, str]:
        """The management URLs of an instance, as create_check_status_response builds them."""
        links = self._client.get_client_response_links(request, url_segment(instance_id))
        links["id"] = instance_id
        return links

    async def read(self, instance_id: str, timeout: float, *, with_input: bool = False) -> Observed:
        """The instance's status, classified; BackendUnavailable for anything but a status or a 404."""
        return classify_or_unavailable(await self._status(instance_id, timeout, with_input), classify)

    async def read_instance(self, instance_id: str, timeout: float, *, with_input: bool) -> InstanceStatus | None:
        """The instance's full status (name, output, custom status), or None when there is none."""
        return classify_or_unavailable(await self._status(instance_id, timeout, with_input), instance_status)

    async def _status(self, instance_id: str, timeout: float, with_input: bool) -> DurableOrchestrationStatus:
        """One status read that is an instance's status or the 404 of none; BackendUnavailable otherwise."""
        exchange = self._http.exchange(self._client)
        try:
            status = await asyncio.wait_for(
                exchange.client.get_status(url_segment(instance_id), show_input=with_input), timeout
            )
        except TimeoutError:
            raise BackendUnavailable(f"The status read got no answer within {timeout:.1f} seconds.") from None
        except (NotSent, NoAnswer) as error:
            raise BackendUnavailable(f"The status read failed: {error}.") from None
        except Exception:  # noqa: BLE001 - the SDK raises bare Exception for codes it does not expect
            status = None
        problem = status_read_problem(exchange.status, exchange.body)
        if problem or status is None:
            raise BackendUnavailable(problem or f"The status read was answered with HTTP {exchange.status}.")
        return status

    async def start(self, orchestrator: str, instance_id: str, orchestrator_input: Any, timeout: float) -> None:
        """Ask the extension to start; returns only on a clear acceptance.

        Raises BackendUnavailable when nothing was sent, StartRefused when the extension refused
        before queueing anything, and StartOutcomeUnknown when the start may still run.
        """
        exchange = self._http.exchange(self._client)
        try:
            await asyncio.wait_for(
                exchange.client.start_new(orchestrator, url_segment(instance_id), orchestrator_input), timeout
            )
        except TimeoutError:
            raise StartOutcomeUnknown(
                f"The start got no answer within {timeout:.1f} seconds; it may still run."
            ) from None
        except NotSent as error:
            raise BackendUnavailable(f"The start was not sent: {error}.") from None
        except NoAnswer as error:
            raise StartOutcomeUnknown(f"The start may still run: {error}.") from None
        except Exception:  # noqa: BLE001 - the SDK raises bare Exception for every non-2xx answer
            pass  # The answer kept by the exchange says what happened.
        outcome = start_answer(exchange.status, exchange.body)
        if outcome is not None:
            raise outcome

    async def terminate(self, instance_id: str, reason: str, timeout: float) -> None:
        """Ask the extension to terminate an active instance; the SDK takes its 410 for success, the app not."""
        exchange = self._http.exchange(self._client)
        await self._command(
            "The terminate", exchange, exchange.client.terminate(url_segment(instance_id), reason), timeout
        )

    async def raise_event(self, instance_id: str, event_name: str, data: Any, timeout: float) -> None:
        """Send an event to an instance; the SDK raises one bare Exception for 404, 410 and 400 alike."""
        exchange = self._http.exchange(self._client)
        call = exchange.client.raise_event(url_segment(instance_id), event_name, data)
        await self._command("The event", exchange, call, timeout)

    async def _command(self, operation: str, exchange: Exchange, call: Awaitable[Any], timeout: float) -> None:
        """A terminate or an event, classified by the extension's own answer, which the SDK hides."""
        try:
            await asyncio.wait_for(call, timeout)
        except TimeoutError:
            raise OutcomeUnknown(f"{operation} got no answer within {timeout:.1f} seconds.") from None
        except NotSent as error:
            raise BackendUnavailable(f"{operation} was not sent: {error}.") from None
        except NoAnswer as error:
            raise OutcomeUnknown(f"{operation} may still take effect: {error}.") from None
        except Exception:  # noqa: BLE001 - the SDK raises bare Exception for codes it does not expect
            pass  # The answer kept by the exchange says what happened.
        problem = command_answer(operation, exchange.status, exchange.body)
        if problem is not None:
            raise problem
