"""GET api/orchestrators/{functionName}/{instanceId}: an allowlisted instance's status, for pollers."""

import azure.functions as func

from singleton_start.http.routes import StatusRoute

# Settings are checked once, when the worker loads the function.
endpoint = StatusRoute.from_environment()


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    return await endpoint.handle(req, starter)
