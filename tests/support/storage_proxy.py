"""A loopback HTTP proxy in front of real Azurite that can hold back or refuse chosen requests.

Storage stays real: every request is forwarded byte for byte and Azurite's answer is passed back.
A test picks requests by a predicate and either delays the answer (the request has already been
applied by Azurite), delays the request (applied only after the delay), or answers 500 without
forwarding (nothing was applied).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from tests.support.azurite import Azurite

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})
Predicate = Callable[[web.Request], bool]


def is_lease_acquire(request: web.Request) -> bool:
    return request.query.get("comp") == "lease" and request.headers.get("x-ms-lease-action") == "acquire"


def is_lease_release(request: web.Request) -> bool:
    return request.query.get("comp") == "lease" and request.headers.get("x-ms-lease-action") == "release"


def is_metadata_write(request: web.Request) -> bool:
    return request.method == "PUT" and request.query.get("comp") == "metadata"


@dataclass
class Rule:
    matches: Predicate
    answer_delay: float = 0.0
    request_delay: float = 0.0
    refuse: bool = False
    times: int = 1
    # When each matching request was refused, or applied by Azurite (time.monotonic()).
    seen: list[float] = field(default_factory=list)


class StorageProxy:
    """Forwards to one Azurite; rules apply to the next matching requests, in order."""

    def __init__(self, azurite: Azurite) -> None:
        self._azurite = azurite
        self._target = f"http://127.0.0.1:{azurite.port}"
        self.rules: list[Rule] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def connection_string(self) -> str:
        return self._azurite.connection_string_via(self.port)

    def delay_answer(self, matches: Predicate, seconds: float, times: int = 1) -> Rule:
        rule = Rule(matches, answer_delay=seconds, times=times)
        self.rules.append(rule)
        return rule

    def delay_request(self, matches: Predicate, seconds: float, times: int = 1) -> Rule:
        rule = Rule(matches, request_delay=seconds, times=times)
        self.rules.append(rule)
        return rule

    def refuse(self, matches: Predicate, times: int = 1) -> Rule:
        rule = Rule(matches, refuse=True, times=times)
        self.rules.append(rule)
        return rule

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _rule_for(self, request: web.Request) -> Rule | None:
        for rule in self.rules:
            if rule.times > 0 and rule.matches(request):
                rule.times -= 1
                return rule
        return None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        rule = self._rule_for(request)
        if rule is not None and rule.refuse:
            rule.seen.append(time.monotonic())
            return web.Response(status=500, text="refused by the test proxy")
        assert self._session is not None
        if rule is not None and rule.request_delay:
            await asyncio.sleep(rule.request_delay)
        headers = {name: value for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method,
            self._target + request.rel_url.raw_path_qs,
            headers=headers,
            data=await request.read(),
            skip_auto_headers=("Content-Type", "User-Agent", "Accept-Encoding", "Accept"),
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            answer_headers = {name: value for name, value in answer.headers.items() if name.lower() not in HOP_BY_HOP}
        if rule is not None:
            # Seen once Azurite has applied the request, so whatever the test does next comes after it.
            rule.seen.append(time.monotonic())
            await asyncio.sleep(rule.answer_delay)
        return web.Response(status=answer.status, body=body, headers=answer_headers)
