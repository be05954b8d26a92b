"""A shared REST proxy in front of the emulator, as nirn-proxy sits in front of Discord.

Bot processes set DISCORD_API_BASE to `proxy.api_base`; the proxy forwards every request
(method, path, query, headers, body) to the emulator's REST API and sends its answer back
unchanged, status and rate-limit headers included. It marks what it forwards with
`X-Proxied-By: test-proxy`, so a test can tell that nothing reached the emulator around it.
It does not hold requests back itself: the emulator's own limits still answer.
"""

from __future__ import annotations

from collections import Counter

import aiohttp
from aiohttp import web

PROXY_HEADER = "X-Proxied-By"
PROXY_NAME = "test-proxy"
# Hop-by-hop headers (RFC 9110) and those aiohttp computes itself.
NOT_FORWARDED = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "content-length",
        "content-encoding",
    }
)


class RestProxy:
    """Listens on 127.0.0.1 and forwards `/api/v10/...` to `upstream` (the emulator's api_base)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.forwarded: Counter[str] = Counter()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    async def start(self) -> RestProxy:
        # No decompression: bodies pass through as they came.
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED}
        headers[PROXY_HEADER] = PROXY_NAME
        url = f"{self.upstream}/{request.match_info['tail']}"
        body = await request.read()
        self.forwarded[f"{request.method} /{request.match_info['tail']}"] += 1
        async with self._session.request(
            request.method, url, params=request.query, headers=headers, data=body or None
        ) as upstream:
            data = await upstream.read()
            answer_headers = {
                k: v for k, v in upstream.headers.items() if k.lower() not in NOT_FORWARDED
            }
            return web.Response(status=upstream.status, body=data, headers=answer_headers)
