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
import re
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


# IPv6 prefixes whose addresses carry an IPv4 address in their last 32 bits: NAT64's
# well-known prefix (RFC 6052; a gateway forwards to that IPv4 address) and the deprecated
# IPv4-compatible addresses.
_IPV4_IN_LAST_32_BITS = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("::/96"),
)
# NAT64's local-use prefix (RFC 8215): translated by the operator's own network, where the
# IPv4 address may sit anywhere in the address.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def is_public_address(address: str) -> bool:
    """Whether an IP address is globally routable (not loopback, private, link-local...).

    An IPv6 address that carries an IPv4 address (IPv4-mapped or -compatible, NAT64, 6to4,
    Teredo) is public only when every IPv4 address it carries is: otherwise
    `64:ff9b::7f00:1` would reach 127.0.0.1 through a NAT64 gateway.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_public(ip)
    if ip.ipv4_mapped is not None:
        return _is_public(ip.ipv4_mapped)
    if ip in _LOCAL_NAT64:
        return False
    return _is_public(ip) and all(_is_public(inner) for inner in _embedded_ipv4(ip))


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (6to4, Teredo, NAT64, IPv4-compatible)."""
    embedded: list[ipaddress.IPv4Address] = []
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.extend(ip.teredo)
    if any(ip in network for network in _IPV4_IN_LAST_32_BITS):
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
    return embedded


# A DNS label once IDNA-encoded: letters, digits and hyphens, not starting or ending with a
# hyphen (underscores occur in real host names, so they are let through too).
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
MAX_HOST_NAME_LENGTH = 253


def is_valid_host_name(host: str) -> bool:
    """Whether `host` (a URL's host) is an IP address or a host name that can be looked up.

    Empty labels (`a..b`, `.invalid`), labels over 63 characters, names over 253 and
    characters DNS has no place for are refused here, rather than by the resolver, which
    raises UnicodeError for some of them.
    """
    if is_ip_literal(host):
        return True
    try:
        encoded = host.encode("idna")
        encoded.decode("idna")  # refuses broken punycode labels (`xn--a`)
    except UnicodeError:
        return False
    name = encoded.decode("ascii").removesuffix(".")
    return 0 < len(name) <= MAX_HOST_NAME_LENGTH and all(
        _HOST_LABEL.fullmatch(label) for label in name.split(".")
    )


def is_ip_literal(host: str) -> bool:
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
    if is_ip_literal(host) and not is_public_address(host.strip("[]")):
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
