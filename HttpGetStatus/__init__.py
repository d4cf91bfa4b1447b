"""GET api/orchestrators/{functionName}/{instanceId}: an allowlisted instance's status, for pollers."""

import azure.functions as func

from singleton_start.routes import StatusEndpoint

# Settings are checked once, when the worker loads the function.
endpoint = StatusEndpoint.from_environment()


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    return await endpoint.handle(req, starter)
