"""POST api/orchestrators/{functionName}/{instanceId}/terminate: stop an allowlisted instance."""

import azure.functions as func

from singleton_start.routes import TerminateEndpoint

# Settings are checked once, when the worker loads the function.
endpoint = TerminateEndpoint.from_environment()


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    return await endpoint.handle(req, starter)
