"""Outgoing HTTP: feeds and imports never reach private or local addresses, and every
response body is read whole but within a size cap.

Server admins give the bot URLs (`/feed add`); without this a URL such as
`http://169.254.169.254/` or `http://localhost:8080/admin` would make the bot fetch from
inside its own network. Names are checked when they are resolved for the connection itself
(so a DNS answer cannot change between the check and the connect), and IP literals before
each request, redirects included.
"""

from __future__ import annotations

import email.utils
import ipaddress
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

# Chunks asked of the stream at a time while reading a body.
READ_CHUNK_BYTES: Final = 64 * 1024


class PrivateAddressError(aiohttp.ClientConnectionError):
    """A URL pointed at an address the bot does not fetch from."""


def is_public_address(address: str) -> bool:
    """Whether an IP address is globally routable (not loopback, private, link-local...)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


class PublicAddressResolver(AbstractResolver):
    """Resolves names as usual, then keeps only public addresses."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._inner.resolve(host, port, family)
        public = [address for address in addresses if is_public_address(address["host"])]
        if not public:
            raise PrivateAddressError(
                f"{host} resolves only to private or local addresses, which the bot does not fetch"
            )
        return public

    async def close(self) -> None:
        await self._inner.close()


async def _refuse_private_literals(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: Any
) -> None:
    host = params.url.host or ""
    if _is_ip_literal(host) and not is_public_address(host.strip("[]")):
        raise PrivateAddressError(
            f"{host} is a private or local address, which the bot does not fetch"
        )


def public_only_session_options() -> dict[str, Any]:
    """`ClientSession` keyword arguments that keep requests to public addresses."""
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_refuse_private_literals)
    return {
        "connector": aiohttp.TCPConnector(resolver=PublicAddressResolver()),
        "trace_configs": [trace],
    }


class ResponseTooLarge(Exception):
    """A response body was (or was declared) larger than the reader accepts."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        self.limit = limit
        self.declared = declared
        size = f"{declared} bytes, " if declared is not None else ""
        super().__init__(f"the response is {size}larger than {limit} bytes")


async def iter_body(response: aiohttp.ClientResponse, max_bytes: int) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive, to its end; `ResponseTooLarge` as soon as it is
    declared or grows larger than `max_bytes` (before any more of it is read).

    Counts what the stream yields: decompressed bytes when aiohttp decompresses, so a small
    gzip bomb is refused too. (`content.read(n)` would return only what is already buffered:
    a body arriving in several chunks would be cut short.)
    """
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise ResponseTooLarge(max_bytes, declared)
    received = 0
    async for chunk in response.content.iter_chunked(READ_CHUNK_BYTES):
        received += len(chunk)
        if received > max_bytes:
            raise ResponseTooLarge(max_bytes)
        yield chunk


async def read_body(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole body, at most `max_bytes` of it (`ResponseTooLarge` beyond)."""
    return b"".join([chunk async for chunk in iter_body(response, max_bytes)])


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait, from a Retry-After of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
