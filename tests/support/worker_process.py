"""A second worker process: HttpStartSingle loaded as the Python worker loads it, in its own OS process,
with its own clients and in-process state, against the same Azurite and Durable API over loopback.

Run as `python -m tests.support.worker_process STARTER_JSON`: it loads the function, prints "ready",
then answers one start request per stdin line (`function instance_id body_json`) with a JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.support.worker import APP_ROOT, invoke, load_function, start_request


async def serve(starter: str) -> None:
    function = load_function("HttpStartSingle")
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        function_name, instance_id, body = line.rstrip("\n").split(" ", 2)
        request = start_request(function_name, instance_id, body.encode(), {"Content-Type": "application/json"})
        response = await invoke(function, req=request, starter=starter)
        print(json.dumps({"status": response.status_code, "body": response.get_body().decode()}), flush=True)
    await function.module.endpoint.close()


class WorkerProcess:
    """The test's handle on a second worker process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    async def post(self, instance_id: str, body: Any, function_name: str = "SingletonOrchestrator") -> int:
        """Send one start request; the answer's status code."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(f"{function_name} {instance_id} {json.dumps(body)}\n".encode())
        await self._process.stdin.drain()
        return int(json.loads(await self._process.stdout.readline())["status"])


@asynccontextmanager
async def worker_process(starter: str, timeout: float = 60) -> AsyncIterator[WorkerProcess]:
    """Start a second worker process with this process's environment (its app settings) and wait till loaded."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.worker_process",
        starter,
        cwd=APP_ROOT,
        env=dict(os.environ),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        ready = await asyncio.wait_for(process.stdout.readline(), timeout)
        assert ready == b"ready\n", ready
        yield WorkerProcess(process)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
