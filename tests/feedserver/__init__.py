"""A local feed server for tests: serves fixture feeds and injects faults.

Runs an aiohttp app on 127.0.0.1 (a free port) inside the test's event loop. Use the
`feed_server` fixture (register `tests.feedserver.plugin`, or import `feed_server` from here
into a test module) and build URLs with `feed_server.url("/fixtures/shortscience.xml")`.

Routes:
    /fixtures/{name}            a file from tests/fixtures/feeds, with ETag, Last-Modified
                                (both answered with 304) and Cache-Control: max-age=300
    /dynamic/{name}             a body the test sets with `set_feed(name, body)`; ETag and
                                Last-Modified change with it, 304 when unchanged
    /hang                       headers only after `hang_seconds` (for timeouts)
    /slow-body                  headers and half a feed, then nothing for `hang_seconds`
    /status/{code}              that status; 429 and 503 carry Retry-After: 120
    /redirect/{code}/{path}     a `code` redirect to /{path} (relative Location)
    /redirect-absolute/{code}/{path}  the same with an absolute Location
    /redirect-no-location       302 without a Location header
    /redirect-ftp               301 to an ftp:// URL
    /redirect-to?location=L     302 to L exactly as given (malformed hosts, odd schemes)
    /loop/a, /loop/b            302 to each other
    /chain/{n}                  302 to /chain/{n-1}; /chain/0 serves the ShortScience fixture
    /big                        `big_size` bytes, streamed without Content-Length
    /big-declared               `big_size` bytes with Content-Length
    /gzip/{name}, /deflate/{name}, /raw-deflate/{name}
                                a fixture compressed with that Content-Encoding
    /gzip-bomb                  a few KiB of gzip that inflate to `bomb_size` bytes
    /broken-gzip                Content-Encoding: gzip over bytes that are not gzip
    /brotli                     Content-Encoding: br (which we never ask for)
    /empty                      200 with an empty body
    /cache/{seconds}            the ShortScience fixture with Cache-Control: max-age={seconds}

`requests[path]` counts requests per path; `last_headers[path]` keeps the last request's
headers (to check conditional GET and the User-Agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest_asyncio
from aiohttp import web
from aiohttp.typedefs import Handler

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
FIXED_LAST_MODIFIED = datetime(2024, 1, 22, 5, 0, tzinfo=UTC)

_CONTENT_TYPES = {
    ".xml": "application/xml",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain",
}


@dataclass(slots=True)
class _Resource:
    body: bytes
    content_type: str
    last_modified: datetime

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


class FeedServer:
    def __init__(self, fixtures: Path = FIXTURES) -> None:
        self.fixtures = fixtures
        self.requests: Counter[str] = Counter()
        self.last_headers: dict[str, dict[str, str]] = {}
        self.hang_seconds = 30.0
        self.big_size = 6 * 1024 * 1024
        self.bomb_size = 32 * 1024 * 1024
        self._dynamic: dict[str, _Resource] = {}
        # Seconds every /dynamic/ feed takes to answer (slow polls, to act in the middle of
        # a poll cycle).
        self.dynamic_delay = 0.0
        self._bomb: bytes | None = None
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---

    async def start(self) -> None:
        app = web.Application(middlewares=[self._count])
        app.add_routes(
            [
                web.get("/fixtures/{name}", self._fixture),
                web.get("/dynamic/{name}", self._dynamic_feed),
                web.get("/hang", self._hang),
                web.get("/slow-body", self._slow_body),
                web.get("/status/{code:\\d+}", self._status),
                web.get("/redirect/{code:\\d+}/{target:.*}", self._redirect),
                web.get("/redirect-absolute/{code:\\d+}/{target:.*}", self._redirect_absolute),
                web.get("/redirect-no-location", self._redirect_no_location),
                web.get("/redirect-ftp", self._redirect_ftp),
                web.get("/redirect-to", self._redirect_to),
                web.get("/loop/{side}", self._loop),
                web.get("/chain/{n:\\d+}", self._chain),
                web.get("/big", self._big),
                web.get("/big-declared", self._big_declared),
                web.get("/gzip/{name}", self._gzip),
                web.get("/deflate/{name}", self._deflate),
                web.get("/raw-deflate/{name}", self._raw_deflate),
                web.get("/gzip-bomb", self._gzip_bomb),
                web.get("/broken-gzip", self._broken_gzip),
                web.get("/brotli", self._brotli),
                web.get("/empty", self._empty),
                web.get("/cache/{seconds:\\d+}", self._cache),
            ]
        )
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- helpers for tests ---

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def set_feed(
        self,
        name: str,
        body: bytes | str,
        content_type: str = "application/rss+xml; charset=utf-8",
    ) -> str:
        """Serve `body` at /dynamic/{name} from now on; returns its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        previous = self._dynamic.get(name)
        if previous is None or previous.body != data:
            # Whole seconds, as HTTP dates have; strictly later than the previous version.
            moment = datetime.now(UTC).replace(microsecond=0)
            if previous is not None and moment <= previous.last_modified:
                moment = previous.last_modified + timedelta(seconds=1)
            self._dynamic[name] = _Resource(data, content_type, moment)
        return self.url(f"/dynamic/{name}")

    def fixture_bytes(self, name: str) -> bytes:
        return (self.fixtures / name).read_bytes()

    # --- middleware and handlers ---

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests[request.path] += 1
        self.last_headers[request.path] = dict(request.headers)
        return await handler(request)

    def _load(self, name: str) -> _Resource:
        path = (self.fixtures / name).resolve()
        if path.parent != self.fixtures.resolve() or not path.is_file():
            raise web.HTTPNotFound()
        content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        return _Resource(path.read_bytes(), content_type, FIXED_LAST_MODIFIED)

    def _conditional(
        self, request: web.Request, resource: _Resource, max_age: int | None = 300
    ) -> web.Response:
        headers = {
            "ETag": resource.etag,
            "Last-Modified": format_datetime(resource.last_modified, usegmt=True),
        }
        if max_age is not None:
            headers["Cache-Control"] = f"public, max-age={max_age}"
        if_none_match = request.headers.get("If-None-Match")
        if_modified_since = request.headers.get("If-Modified-Since")
        if if_none_match is not None:
            if resource.etag in [tag.strip() for tag in if_none_match.split(",")]:
                return web.Response(status=304, headers=headers)
        elif if_modified_since is not None:
            try:
                since = parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                since = None
            if since is not None and resource.last_modified <= since:
                return web.Response(status=304, headers=headers)
        return _with_type(web.Response(body=resource.body, headers=headers), resource.content_type)

    async def _fixture(self, request: web.Request) -> web.Response:
        return self._conditional(request, self._load(request.match_info["name"]))

    async def _dynamic_feed(self, request: web.Request) -> web.Response:
        resource = self._dynamic.get(request.match_info["name"])
        if resource is None:
            raise web.HTTPNotFound()
        if self.dynamic_delay:
            await self._wait_or_close(self.dynamic_delay)
        return self._conditional(request, resource, max_age=None)

    async def _wait_or_close(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _hang(self, request: web.Request) -> web.Response:
        await self._wait_or_close(self.hang_seconds)
        return web.Response(text="too late")

    async def _slow_body(self, request: web.Request) -> web.StreamResponse:
        body = self.fixture_bytes("shortscience.xml")
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        await self._wait_or_close(self.hang_seconds)
        return response

    async def _status(self, request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        headers = {"Retry-After": "120"} if code in (429, 503) else {}
        # `?reason=...` sends that reason phrase, which a hostile server controls.
        reason = request.query.get("reason")
        return web.Response(status=code, reason=reason, text=f"status {code}", headers=headers)

    async def _redirect(self, request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.Response(status=code, headers={"Location": "/" + request.match_info["target"]})

    async def _redirect_absolute(self, request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        location = self.url("/" + request.match_info["target"])
        return web.Response(status=code, headers={"Location": location})

    async def _redirect_no_location(self, request: web.Request) -> web.Response:
        return web.Response(status=302)

    async def _redirect_ftp(self, request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": "ftp://127.0.0.1/feed.xml"})

    async def _redirect_to(self, request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": request.query["location"]})

    async def _loop(self, request: web.Request) -> web.Response:
        other = "b" if request.match_info["side"] == "a" else "a"
        return web.Response(status=302, headers={"Location": f"/loop/{other}"})

    async def _chain(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return self._conditional(request, self._load("shortscience.xml"))
        return web.Response(status=302, headers={"Location": f"/chain/{n - 1}"})

    async def _big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"<!-- padding -->" * 4096
        sent = 0
        while sent < self.big_size:
            try:
                await response.write(chunk)
            except ConnectionError:
                break  # the client hung up at its cap, as it should
            sent += len(chunk)
        return response

    async def _big_declared(self, request: web.Request) -> web.Response:
        return web.Response(body=b" " * self.big_size, content_type="application/rss+xml")

    def _encoded(self, name: str, encoding: str, body: bytes) -> web.Response:
        response = web.Response(body=body, headers={"Content-Encoding": encoding})
        return _with_type(response, "application/xml")

    async def _gzip(self, request: web.Request) -> web.Response:
        data = self._load(request.match_info["name"]).body
        return self._encoded(request.match_info["name"], "gzip", gzip.compress(data))

    async def _deflate(self, request: web.Request) -> web.Response:
        data = self._load(request.match_info["name"]).body
        return self._encoded(request.match_info["name"], "deflate", zlib.compress(data))

    async def _raw_deflate(self, request: web.Request) -> web.Response:
        data = self._load(request.match_info["name"]).body
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        raw = compressor.compress(data) + compressor.flush()
        return self._encoded(request.match_info["name"], "deflate", raw)

    async def _gzip_bomb(self, request: web.Request) -> web.Response:
        if self._bomb is None:
            compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            block = b"\0" * (1024 * 1024)
            parts = [compressor.compress(block) for _ in range(self.bomb_size // len(block))]
            self._bomb = b"".join(parts) + compressor.flush()
        return self._encoded("bomb", "gzip", self._bomb)

    async def _broken_gzip(self, request: web.Request) -> web.Response:
        return self._encoded("broken", "gzip", b"this is not gzip at all" * 10)

    async def _brotli(self, request: web.Request) -> web.Response:
        return self._encoded("brotli", "br", b"\x0b\x02\x80hello\x03")

    async def _empty(self, request: web.Request) -> web.Response:
        return _with_type(web.Response(body=b""), "application/rss+xml")

    async def _cache(self, request: web.Request) -> web.Response:
        resource = self._load("shortscience.xml")
        return self._conditional(request, resource, max_age=int(request.match_info["seconds"]))


def _with_type(response: web.Response, content_type: str) -> web.Response:
    # Set the header verbatim: aiohttp's content_type setter would add its own charset.
    response.headers["Content-Type"] = content_type
    return response


@pytest_asyncio.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A running FeedServer for one test."""
    server = FeedServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
