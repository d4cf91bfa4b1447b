"""Drive the real v2 worker runtime (`azure-functions-runtime`) in-process, as the host's proxy worker does
on Python 3.13+ for a decorator-model app: WorkerInitRequest indexes function_app.py, FunctionsMetadataRequest
lists what it found, InvocationRequest runs a function by the ID the runtime gave it.

The runtime ships no generated protobuf modules; the host's messages are the same FunctionRpc protocol as
for the v1 runtime, whose modules tests.support.runtime loads.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

from tests.support.runtime import HOST_VERSION, FunctionRuntime, load_protos
from tests.support.worker import APP_ROOT

V2_RUNTIME_DISTRIBUTION = "azure-functions-runtime"
EXAMPLE_APP = APP_ROOT / "examples" / "v2-app"


class DecoratorRuntime(FunctionRuntime):
    """The v2 runtime with one decorator app indexed; functions are invoked by name as in FunctionRuntime."""

    app_root: Path = EXAMPLE_APP
    function_ids: dict[str, str]

    async def init(self) -> None:
        init = self.protos.WorkerInitRequest(
            host_version=HOST_VERSION, capabilities={}, function_app_directory=str(self.app_root)
        )
        response = await self.runtime.worker_init_request(self._message(worker_init_request=init))
        self._check(response.result)
        listed = await self.runtime.functions_metadata_request(
            self._message(functions_metadata_request=self.protos.FunctionsMetadataRequest())
        )
        self._check(listed.result)
        self.function_ids = {}
        for metadata in listed.function_metadata_results:
            self.function_ids[metadata.name] = metadata.function_id
            self.functions[metadata.name] = {"bindings": [json.loads(raw) for raw in metadata.raw_bindings]}

    async def invoke(self, name: str, **inputs: Any) -> Any:
        invocation = self.protos.InvocationRequest(
            invocation_id=f"{name}-invocation",
            function_id=self.function_ids[name],
            input_data=[self.protos.ParameterBinding(name=key, data=data) for key, data in inputs.items()],
        )
        response = await self.runtime.invocation_request(self._message(invocation_request=invocation))
        self._check(response.result)
        return response.return_value

    async def close(self) -> None:
        """Close the clients of the app's Blueprint, which the worker never does."""
        await sys.modules["function_app"].blueprint.close()


def v2_runtime_available() -> str | None:
    """Why the v2 runtime cannot run the example here, or None when it can."""
    if sys.version_info < (3, 13):
        return "azure-functions-runtime (the decorator model's worker runtime) runs on Python 3.13 and later only"
    for distribution in (V2_RUNTIME_DISTRIBUTION, "azure-functions-runtime-v1"):
        try:
            importlib.metadata.distribution(distribution)
        except importlib.metadata.PackageNotFoundError:
            return f"{distribution} is not installed (the test requirements install it on 3.13+)"
    return None


async def start_decorator_runtime() -> DecoratorRuntime:
    """Import the runtime and index the example app, with its folder on sys.path as the proxy worker puts it."""
    if str(EXAMPLE_APP) not in sys.path:
        sys.path.insert(0, str(EXAMPLE_APP))
    runtime = DecoratorRuntime(importlib.import_module("azure_functions_runtime"), load_protos())
    await runtime.init()
    return runtime
