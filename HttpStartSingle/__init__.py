"""POST api/orchestrators/{functionName}/{instanceId}: start an orchestrator as a singleton."""

import azure.functions as func

from singleton_start.http.routes import StartRoute

# Settings are checked and clients made once, when the worker loads the function.
endpoint = StartRoute.from_environment()


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    return await endpoint.handle(req, starter)
