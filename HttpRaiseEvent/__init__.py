"""POST api/orchestrators/{functionName}/{instanceId}/events/{eventName}: signal an allowlisted instance."""

import azure.functions as func

from singleton_start.http.routes import EventRoute

# Settings are checked once, when the worker loads the function.
endpoint = EventRoute.from_environment()


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    return await endpoint.handle(req, starter)
