"""The well-known check-then-start sample, kept only as the reference the contention tests beat.

Read the status, start when no instance is active, answer with create_check_status_response.
Between the read and the start another request can do the same, and the backend's own
duplicate check has a window of its own: two callers can both be told 202 while only one
input survives.
"""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

RESTARTABLE = (
    None,
    df.OrchestrationRuntimeStatus.Completed,
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
)


async def naive_main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = df.DurableOrchestrationClient(starter)
    function_name = req.route_params["functionName"]
    instance_id = req.route_params["instanceId"]
    existing = await client.get_status(instance_id)
    if existing.runtime_status in RESTARTABLE:
        instance_id = await client.start_new(function_name, instance_id, req.get_json())
        return client.create_check_status_response(req, instance_id)
    return func.HttpResponse(f"An instance with ID '{existing.instance_id}' already exists.", status_code=409)
