"""POST api/orchestrators/{functionName}/{instanceId}/terminate: stop an allowlisted instance."""

import azure.functions as func

from singleton_start.http.routes import TerminateRoute

# Settings are checked once, when the worker loads the function.
endpoint = TerminateRoute.from_environment()


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    return await endpoint.handle(req, starter)
