"""Drive the real v1 worker runtime (`azure-functions-runtime-v1`) in-process with host-shaped messages.

Since Python 3.13 the host's Python worker is a thin proxy that hands each gRPC message to this
package's dispatcher functions (`worker_init_request`, `function_load_request`,
`invocation_request`), together with the generated protobuf modules. This module plays the proxy:
it builds the same messages from each folder's `function.json` and reads the answers back.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import sys
import types
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from tests.support.worker import APP_ROOT, PUBLIC_BASE_URL

RUNTIME_DISTRIBUTION = "azure-functions-runtime-v1"
# The wheel ships its protobuf modules in a top-level `tests` package, which would clash with ours;
# they are imported from their folder under this name instead.
PROTOS_PACKAGE = "_functions_runtime_protos"
HOST_VERSION = "4.1040.0"


def load_protos() -> types.ModuleType:
    """The runtime's generated messages as one module, the shape the proxy worker passes as `protos`."""
    folder = Path(str(importlib.metadata.distribution(RUNTIME_DISTRIBUTION).locate_file("tests/protos")))
    if PROTOS_PACKAGE not in sys.modules:
        # A bare package: its __init__ would import grpc, which only the proxy's transport needs.
        package = types.ModuleType(PROTOS_PACKAGE)
        package.__path__ = [str(folder)]
        sys.modules[PROTOS_PACKAGE] = package
    protos = types.ModuleType("protos")
    for module_name in ("FunctionRpc_pb2", "shared.NullableTypes_pb2"):
        module = importlib.import_module(f"{PROTOS_PACKAGE}.{module_name}")
        protos.__dict__.update({name: value for name, value in vars(module).items() if not name.startswith("_")})
    return protos


@dataclass
class RuntimeRequest:
    """What the proxy worker hands the runtime: the host's message plus the protobuf modules."""

    request: Any
    properties: dict[str, Any]


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP function's answer as the runtime sends it back to the host."""

    status_code: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class RuntimeFailure(AssertionError):
    """The runtime answered a load or an invocation with a failure status; the message is its exception."""


@dataclass
class FunctionRuntime:
    """The runtime with every function folder of the app loaded, ready to invoke by folder name."""

    runtime: types.ModuleType
    protos: types.ModuleType
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _message(self, **fields: Any) -> RuntimeRequest:
        return RuntimeRequest(self.protos.StreamingMessage(**fields), {"protos": self.protos, "host": "127.0.0.1"})

    async def init(self) -> None:
        init = self.protos.WorkerInitRequest(
            host_version=HOST_VERSION, capabilities={}, function_app_directory=str(APP_ROOT)
        )
        response = await self.runtime.worker_init_request(self._message(worker_init_request=init))
        self._check(response.result)

    def _binding_info(self, binding: Mapping[str, Any]) -> Any:
        info = self.protos.BindingInfo
        direction = info.Direction.Value(binding.get("direction", "in"))
        data_type = info.DataType.Value(binding.get("dataType", "undefined"))
        return info(type=binding["type"], direction=direction, data_type=data_type)

    async def load(self, name: str) -> None:
        """Send the FunctionLoadRequest the host builds from the folder's function.json."""
        folder = APP_ROOT / name
        config = json.loads((folder / "function.json").read_text())
        metadata = self.protos.RpcFunctionMetadata(
            name=name,
            directory=str(folder),
            script_file=str(folder / config.get("scriptFile", "__init__.py")),
            entry_point=config.get("entryPoint", ""),
            bindings={binding["name"]: self._binding_info(binding) for binding in config["bindings"]},
        )
        load = self.protos.FunctionLoadRequest(function_id=name, metadata=metadata)
        response = await self.runtime.function_load_request(self._message(function_load_request=load))
        self._check(response.result)
        self.functions[name] = config

    async def load_all(self) -> None:
        """Load every function folder of the app, the way the host indexes function.json files."""
        for folder in sorted(path.parent for path in APP_ROOT.glob("*/function.json")):
            await self.load(folder.name)

    def module(self, name: str) -> types.ModuleType:
        """The function's script module as the runtime imported it (under the `__app__` namespace)."""
        return sys.modules[f"__app__.{name}"]

    def _check(self, result: Any) -> None:
        if result.status != self.protos.StatusResult.Success:
            raise RuntimeFailure(result.exception.message)

    async def invoke(self, name: str, **inputs: Any) -> Any:
        """Invoke with one TypedData per input binding; returns the return value's TypedData."""
        invocation = self.protos.InvocationRequest(
            invocation_id=str(uuid.uuid4()),
            function_id=name,
            input_data=[self.protos.ParameterBinding(name=key, data=data) for key, data in inputs.items()],
        )
        response = await self.runtime.invocation_request(self._message(invocation_request=invocation))
        self._check(response.result)
        return response.return_value

    def string(self, value: str) -> Any:
        return self.protos.TypedData(string=value)

    def json_data(self, value: Any) -> Any:
        return self.protos.TypedData(json=json.dumps(value))

    def _http_binding(self, name: str) -> dict[str, Any]:
        return next(binding for binding in self.functions[name]["bindings"] if binding["type"] == "httpTrigger")

    async def http(
        self,
        name: str,
        route_params: Mapping[str, str],
        *,
        method: str = "POST",
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        **other_inputs: Any,
    ) -> HttpAnswer:
        """Invoke an HTTP function through its route, with RpcHttp as the host sends it."""
        trigger = self._http_binding(name)
        path = trigger["route"]
        for key, value in route_params.items():
            path = path.replace(f"{{{key}}}", quote(value, safe=""))
        url = f"{PUBLIC_BASE_URL}/api/{path}" + (f"?{urlencode(query)}" if query else "")
        request = self.protos.RpcHttp(
            method=method,
            url=url,
            headers=dict(headers or {}),
            body=self.protos.TypedData(bytes=body),
            params=dict(route_params),
            query=dict(query or {}),
        )
        answer = await self.invoke(name, **{trigger["name"]: self.protos.TypedData(http=request)}, **other_inputs)
        http = answer.http
        body_data = http.body
        raw = body_data.bytes if body_data.WhichOneof("data") == "bytes" else body_data.string.encode()
        return HttpAnswer(int(http.status_code), dict(http.headers), raw)


def runtime_available() -> str | None:
    """Why the real runtime cannot run here, or None when it can."""
    if sys.version_info < (3, 13):
        return "azure-functions-runtime-v1 runs the v1 model on Python 3.13 and later only"
    try:
        importlib.metadata.distribution(RUNTIME_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return f"{RUNTIME_DISTRIBUTION} is not installed (requirements-test.txt installs it on 3.13+)"
    return None


async def start_runtime() -> FunctionRuntime:
    """Import the runtime, send WorkerInitRequest and load every function folder."""
    if str(APP_ROOT) not in sys.path:
        # The proxy worker puts the function app directory on sys.path before loading functions.
        sys.path.insert(0, str(APP_ROOT))
    runtime = FunctionRuntime(importlib.import_module("azure_functions_runtime_v1"), load_protos())
    await runtime.init()
    await runtime.load_all()
    return runtime
