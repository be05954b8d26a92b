"""Fetch a feed over HTTP with aiohttp, politely and defensively.

Conditional GET (ETag / Last-Modified), redirects followed here so that a permanent move can
be reported and saved, a size cap applied while streaming and again after decompression (so
a small gzip bomb is refused), and every network or HTTP problem returned as a result with a
readable message, never raised.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Literal
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot import __version__
from bot.net import ResponseTooLarge, is_valid_host_name, iter_body, parse_retry_after

USER_AGENT: Final = f"shortscience-bot/{__version__} (Discord bot; RSS/Atom reader)"
ACCEPT: Final = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
DEFAULT_MAX_BYTES: Final = 5 * 1024 * 1024
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS: Final = frozenset({301, 308})
# Error messages quote URLs, reason phrases and library errors, all of any length.
MAX_ERROR_MESSAGE_LENGTH: Final = 300
_MAX_AGE: Final = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)

FetchOutcome = Literal["ok", "not_modified", "gone", "error"]
FetchErrorKind = Literal[
    "invalid_url",
    "timeout",
    "connection",
    "http_status",
    "too_large",
    "redirect_loop",
    "too_many_redirects",
    "bad_redirect",
    "decoding",
]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What a fetch gave. `outcome` says which fields matter:

    - ok: `body` (decompressed), `sha256`, validators (`etag`, `last_modified`), `max_age`;
    - not_modified: the server answered 304 to our validators; `body` is empty;
    - gone: 410, the feed is gone for good;
    - error: `error_kind` and a human `error_message` (with `status` for HTTP errors).

    `permanent_redirect_url` is set when every redirect up to some point was permanent
    (301/308): the URL to store in place of the old one.
    """

    url: str
    outcome: FetchOutcome
    final_url: str
    status: int | None = None
    permanent_redirect_url: str | None = None
    body: bytes = b""
    sha256: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    max_age: int | None = None  # seconds, from Cache-Control
    retry_after: float | None = None  # seconds, from Retry-After on 429/503
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    error_kind: FetchErrorKind | None = None
    error_message: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def not_modified(self) -> bool:
        return self.outcome == "not_modified"

    @property
    def gone(self) -> bool:
        return self.outcome == "gone"


class _FetchFailed(Exception):
    def __init__(self, kind: FetchErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


async def fetch_feed(
    session: aiohttp.ClientSession,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    connect_timeout: float = 10,
    total_timeout: float = 30,
    max_redirects: int = 5,
    user_agent: str = USER_AGENT,
) -> FetchResult:
    """GET `url` (following up to `max_redirects` redirects) and return what happened.

    `total_timeout` bounds the whole exchange, redirects and body included. Never raises for
    network or HTTP problems.
    """
    started = time.monotonic()
    state = _Redirects(url)
    try:
        async with asyncio.timeout(total_timeout):
            result = await _fetch(
                session, state, etag=etag, last_modified=last_modified, max_bytes=max_bytes,
                connect_timeout=connect_timeout, max_redirects=max_redirects,
                user_agent=user_agent,
            )  # fmt: skip
    except _FetchFailed as failure:
        result = _error(state, failure.kind, failure.message, failure.status)
    except TimeoutError as exc:
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            message = f"could not connect within {connect_timeout:g} s"
        else:
            message = f"no complete answer within {total_timeout:g} s"
        result = _error(state, "timeout", message)
    except aiohttp.InvalidURL as exc:
        result = _error(state, "invalid_url", f"not a valid URL: {exc}")
    except aiohttp.ClientPayloadError as exc:
        result = _error(state, "connection", f"the response body was broken off: {exc}")
    except aiohttp.ClientError as exc:
        result = _error(state, "connection", _describe_client_error(exc))
    except OSError as exc:
        result = _error(state, "connection", f"network error: {exc.strerror or exc}")
    return _with_elapsed(result, time.monotonic() - started)


@dataclass(slots=True)
class _Redirects:
    url: str
    current: str = ""
    seen: set[str] = field(default_factory=set)
    permanent_url: str | None = None
    all_permanent: bool = True

    def __post_init__(self) -> None:
        self.current = self.url
        self.seen.add(self.url)


async def _fetch(
    session: aiohttp.ClientSession,
    state: _Redirects,
    *,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    connect_timeout: float,
    max_redirects: int,
    user_agent: str,
) -> FetchResult:
    headers = {"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    timeout = aiohttp.ClientTimeout(
        total=None, connect=connect_timeout, sock_connect=connect_timeout
    )
    redirects = 0
    while True:
        _check_url(state.current)
        async with session.get(
            state.current,
            headers=headers,
            allow_redirects=False,
            auto_decompress=False,
            timeout=timeout,
        ) as response:
            status = response.status
            if status in REDIRECT_STATUSES:
                redirects += 1
                _follow(state, response, max_redirects, redirects)
                continue
            response_headers = {name.lower(): value for name, value in response.headers.items()}
            common = {
                "url": state.url,
                "final_url": state.current,
                "status": status,
                "permanent_redirect_url": state.permanent_url,
                "etag": response.headers.get("ETag"),
                "last_modified": response.headers.get("Last-Modified"),
                "max_age": _max_age(response.headers.get("Cache-Control")),
                "content_type": response.headers.get("Content-Type"),
                "headers": response_headers,
            }
            if status == 304:
                common["etag"] = common["etag"] or etag
                common["last_modified"] = common["last_modified"] or last_modified
                return FetchResult(outcome="not_modified", **common)  # type: ignore[arg-type]
            if status == 410:
                return FetchResult(
                    outcome="gone",
                    error_kind="http_status",
                    error_message="HTTP 410 Gone: the feed was removed for good",
                    **common,  # type: ignore[arg-type]
                )
            if status >= 400 or status < 200:
                return FetchResult(
                    outcome="error",
                    error_kind="http_status",
                    error_message=_capped(f"HTTP {status} {response.reason or ''}".strip()),
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    **common,  # type: ignore[arg-type]
                )
            body = await _read_body(response, max_bytes)
            return FetchResult(
                outcome="ok",
                body=body,
                sha256=hashlib.sha256(body).hexdigest(),
                **common,  # type: ignore[arg-type]
            )


def _check_url(url: str) -> None:
    """Refuse, before any request, what is not an http(s) URL with a usable host name."""
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # .port raises ValueError when out of range
    except ValueError as exc:
        raise _FetchFailed("invalid_url", f"not a valid URL ({exc}): {url[:200]}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise _FetchFailed("invalid_url", f"not an http(s) URL: {url[:200]}")
    if not is_valid_host_name(host):
        raise _FetchFailed("invalid_url", f"the host name {host[:100]!r} is malformed")


def _follow(
    state: _Redirects, response: aiohttp.ClientResponse, max_redirects: int, count: int
) -> None:
    location = response.headers.get("Location")
    if not location:
        raise _FetchFailed(
            "bad_redirect", f"HTTP {response.status} redirect without a Location", response.status
        )
    try:
        target = urljoin(state.current, location.strip()).split("#", 1)[0]
        scheme = urlsplit(target).scheme
    except ValueError as exc:
        raise _FetchFailed(
            "bad_redirect", f"redirected to an invalid URL ({exc})", response.status
        ) from None
    if scheme not in ("http", "https"):
        raise _FetchFailed(
            "bad_redirect", f"redirected to a non-http(s) URL: {target[:200]}", response.status
        )
    if target in state.seen:
        raise _FetchFailed(
            "redirect_loop", f"redirect loop: {target[:200]} was already visited", response.status
        )
    if count > max_redirects:
        raise _FetchFailed(
            "too_many_redirects", f"more than {max_redirects} redirects", response.status
        )
    if response.status in PERMANENT_REDIRECTS and state.all_permanent:
        state.permanent_url = target
    else:
        state.all_permanent = False
    state.seen.add(target)
    state.current = target


class _Decompressor:
    """Incremental gzip/deflate decoding that refuses to produce more than `limit` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.first = True
        self.decoder = self._new_decoder()

    def _new_decoder(self) -> zlib._Decompress:
        if self.encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        if self.first and self.encoding == "deflate":
            self.first = False
            try:
                self._decompress(data)
            except zlib.error:
                # Some servers send raw deflate without the zlib header.
                self.decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                self._decompress(data)
            return
        self.first = False
        self._decompress(data)

    def _decompress(self, data: bytes) -> None:
        while data:
            out = self.decoder.decompress(data, self.limit - self.size + 1)
            self._append(out)
            data = self.decoder.unconsumed_tail
            if self.decoder.eof and self.decoder.unused_data:
                # A further gzip member (concatenated gzip files).
                data = self.decoder.unused_data
                self.decoder = self._new_decoder()

    def _append(self, out: bytes) -> None:
        self.size += len(out)
        if self.size > self.limit:
            raise _FetchFailed(
                "too_large", f"the feed decompresses to over the {_size(self.limit)} limit"
            )
        if out:
            self.parts.append(out)

    def finish(self) -> bytes:
        self._append(self.decoder.flush())
        return b"".join(self.parts)


async def _read_body(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
        raise _FetchFailed(
            "decoding", f"unsupported Content-Encoding {encoding!r}", response.status
        )
    decompressor = None if encoding in ("identity", "") else _Decompressor(encoding, max_bytes)
    parts: list[bytes] = []
    try:
        async for chunk in iter_body(response, max_bytes):
            if decompressor is None:
                parts.append(chunk)
            else:
                decompressor.feed(chunk)
        if decompressor is None:
            return b"".join(parts)
        return decompressor.finish()
    except ResponseTooLarge as exc:
        size = f"{_size(exc.declared)}, " if exc.declared is not None else ""
        raise _FetchFailed(
            "too_large", f"the feed is {size}over the {_size(max_bytes)} limit", response.status
        ) from None
    except zlib.error as exc:
        raise _FetchFailed(
            "decoding", f"the {encoding} body could not be decompressed ({exc})", response.status
        ) from None


def _max_age(cache_control: str | None) -> int | None:
    if not cache_control:
        return None
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MiB"
    if count >= 1024:
        return f"{count / 1024:.0f} KiB"
    return f"{count} bytes"


def _describe_client_error(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate problem: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect to {exc.host}:{exc.port} ({exc.strerror or exc.os_error})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    return f"network error: {exc}"


def _capped(message: str) -> str:
    """An error message short enough to store, list and quote back to a user."""
    if len(message) <= MAX_ERROR_MESSAGE_LENGTH:
        return message
    return message[: MAX_ERROR_MESSAGE_LENGTH - 1] + "…"


def _error(
    state: _Redirects, kind: FetchErrorKind, message: str, status: int | None = None
) -> FetchResult:
    return FetchResult(
        url=state.url,
        outcome="error",
        final_url=state.current,
        status=status,
        permanent_redirect_url=state.permanent_url,
        error_kind=kind,
        error_message=_capped(message),
    )


def _with_elapsed(result: FetchResult, elapsed: float) -> FetchResult:
    return replace(result, elapsed=elapsed)
