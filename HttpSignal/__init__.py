"""POST api/orchestrators/{functionName}/{instanceId}/signal/{eventName}: send an event, starting the instance first."""

import azure.functions as func

from singleton_start.http.routes import SignalRoute

# Settings are checked and clients made once, when the worker loads the function.
endpoint = SignalRoute.from_environment()


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    return await endpoint.handle(req, starter)
