"""Frames between the bot and its typesetting workers.

A frame is a JSON header and a byte payload (a PNG, or nothing), each preceded by its
length as 4 big-endian bytes. Headers are small; payloads are bounded by `MAX_PAYLOAD`.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any, BinaryIO, Final

MAX_HEADER: Final = 8 << 20
MAX_PAYLOAD: Final = 32 << 20
_LENGTH: Final = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame that is not one (a worker that wrote garbage or died mid-frame)."""


def encode_frame(header: dict[str, Any], payload: bytes) -> bytes:
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return _LENGTH.pack(len(encoded)) + encoded + _LENGTH.pack(len(payload)) + payload


def write_frame(stream: BinaryIO, header: dict[str, Any], payload: bytes) -> None:
    stream.write(encode_frame(header, payload))
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
    """The next frame, or None at the end of the stream (blocking; for the worker)."""
    prefix = _read_exactly(stream, _LENGTH.size)
    if prefix is None:
        return None
    (header_length,) = _LENGTH.unpack(prefix)
    if header_length > MAX_HEADER:
        raise ProtocolError(f"header of {header_length} bytes")
    header = _read_exactly(stream, header_length)
    payload_prefix = _read_exactly(stream, _LENGTH.size) if header is not None else None
    if header is None or payload_prefix is None:
        raise ProtocolError("the stream ended inside a frame")
    (payload_length,) = _LENGTH.unpack(payload_prefix)
    if payload_length > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {payload_length} bytes")
    payload = _read_exactly(stream, payload_length)
    if payload is None:
        raise ProtocolError("the stream ended inside a frame")
    return _decode_header(header), payload


async def read_frame_async(stream: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    """The next frame from a worker; ProtocolError when it ends or sends nonsense."""
    try:
        (header_length,) = _LENGTH.unpack(await stream.readexactly(_LENGTH.size))
        if header_length > MAX_HEADER:
            raise ProtocolError(f"header of {header_length} bytes")
        header = await stream.readexactly(header_length)
        (payload_length,) = _LENGTH.unpack(await stream.readexactly(_LENGTH.size))
        if payload_length > MAX_PAYLOAD:
            raise ProtocolError(f"payload of {payload_length} bytes")
        payload = await stream.readexactly(payload_length)
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("the worker's output ended") from exc
    return _decode_header(header), payload


def _decode_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise ProtocolError("a header that is not JSON") from exc
    if not isinstance(header, dict):
        raise ProtocolError("a header that is not an object")
    return header
