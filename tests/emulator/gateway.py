"""The gateway websocket: HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME, dispatch.

Frames go out as plain JSON text (the client asks for zlib-stream but reads text frames as
they are). A session outlives its connection: events dispatched while the bot is
disconnected are kept and replayed when it RESUMEs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.emulator.emulator import DiscordEmulator

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005


class GatewayConnection:
    """One websocket. Frames are queued and written in order by a writer task."""

    def __init__(self, ws: web.WebSocketResponse, url: str) -> None:
        self.ws = ws
        self.url = url
        self.session: GatewaySession | None = None
        self.heartbeats = 0
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop(), name="emulator-gateway-writer")

    @property
    def is_resume_url(self) -> bool:
        return "/gateway-resume" in self.url

    def send(self, payload: dict[str, Any]) -> None:
        self._queue.put_nowait(payload)

    async def _write_loop(self) -> None:
        while True:
            payload = await self._queue.get()
            if payload is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(json.dumps(payload))
            except (ConnectionError, RuntimeError):
                return

    async def close(self, code: int, message: str = "") -> None:
        """Flush what is queued, then close with `code`."""
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
            await asyncio.wait_for(asyncio.shield(self._writer), timeout=1.0)
        if not self.ws.closed:
            await self.ws.close(code=code, message=message.encode())

    def stop_writer(self) -> None:
        self._writer.cancel()


@dataclass
class GatewaySession:
    """A gateway session (what IDENTIFY creates and RESUME reattaches to)."""

    session_id: str
    identify: dict[str, Any]
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    connection: GatewayConnection | None = None
    ready: bool = False
    resumes: int = 0
    invalid: bool = False

    @property
    def intents(self) -> int:
        return int(self.identify.get("intents") or 0)

    def wants(self, intent: int | None) -> bool:
        return intent is None or bool(self.intents & intent)

    def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Number, store and (when connected) send one event; returns its sequence number."""
        self.seq += 1
        payload = {"op": OP_DISPATCH, "t": event, "s": self.seq, "d": data}
        self.events.append(payload)
        if self.connection is not None:
            self.connection.send(payload)
        return self.seq


class GatewayServer:
    """Serves `/gateway` (and `/gateway-resume`, the resume_gateway_url) for the emulator."""

    def __init__(self, emulator: DiscordEmulator) -> None:
        self.emulator = emulator
        self.sessions: list[GatewaySession] = []
        self.connections: list[GatewayConnection] = []
        self.identify_count = 0
        self.heartbeat_interval_ms = 41_250

    @property
    def live_sessions(self) -> list[GatewaySession]:
        return [session for session in self.sessions if not session.invalid]

    @property
    def connected_sessions(self) -> list[GatewaySession]:
        return [s for s in self.live_sessions if s.connection is not None and s.ready]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        connection = GatewayConnection(ws, str(request.url))
        self.connections.append(connection)
        connection.send({"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    try:
                        frame = json.loads(message.data)
                    except ValueError:
                        await connection.close(CLOSE_DECODE_ERROR, "Decode error")
                        break
                    await self._on_frame(connection, frame)
                elif message.type is WSMsgType.ERROR:
                    break
        finally:
            connection.stop_writer()
            if connection in self.connections:
                self.connections.remove(connection)
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
            self.emulator._notify()
        return ws

    async def _on_frame(self, connection: GatewayConnection, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == OP_HEARTBEAT:
            connection.heartbeats += 1
            connection.send({"op": OP_HEARTBEAT_ACK})
        elif op == OP_IDENTIFY:
            await self._identify(connection, data or {})
        elif op == OP_RESUME:
            await self._resume(connection, data or {})
        elif op == OP_REQUEST_GUILD_MEMBERS:
            self._request_members(connection, data or {})
        elif op in (OP_PRESENCE_UPDATE, OP_VOICE_STATE_UPDATE):
            if connection.session is None:
                await connection.close(CLOSE_NOT_AUTHENTICATED, "Not authenticated")
        else:
            await connection.close(CLOSE_UNKNOWN_OPCODE, "Unknown opcode")
        self.emulator._notify()

    async def _identify(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        if connection.session is not None:
            await connection.close(CLOSE_ALREADY_AUTHENTICATED, "Already authenticated")
            return
        if data.get("token") != self.emulator.token:
            await connection.close(CLOSE_AUTHENTICATION_FAILED, "Authentication failed")
            return
        self.identify_count += 1
        session = GatewaySession(session_id=secrets.token_hex(16), identify=data)
        session.connection = connection
        connection.session = session
        self.sessions.append(session)
        session.dispatch("READY", self.emulator._ready_payload(session))
        for guild in self.emulator.guilds:
            session.dispatch("GUILD_CREATE", guild.create_payload())
        session.ready = True

    async def _resume(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        session = next(
            (s for s in self.live_sessions if s.session_id == data.get("session_id")), None
        )
        if session is None or data.get("token") != self.emulator.token:
            # Not resumable: the client identifies again on a new connection.
            connection.send({"op": OP_INVALID_SESSION, "d": False})
            return
        previous = session.connection
        if previous is not None and previous is not connection:
            previous.session = None
            await previous.close(4000, "Session resumed elsewhere")
        session.connection = connection
        connection.session = session
        last_seen = int(data.get("seq") or 0)
        for payload in session.events:
            if payload["s"] > last_seen:
                connection.send(payload)
        session.resumes += 1
        session.dispatch("RESUMED", {})

    def _request_members(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        session = connection.session
        if session is None:
            return
        guild = self.emulator.guilds_by_id.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        members = guild.members
        user_ids = data.get("user_ids")
        if user_ids:
            wanted = {int(user_id) for user_id in user_ids}
            members = [member for member in members if member.id in wanted]
        query = data.get("query")
        if query:
            members = [m for m in members if m.user.username.lower().startswith(query.lower())]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [member.payload() for member in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    # -- test-facing -------------------------------------------------------------------------

    def broadcast(self, event: str, data: dict[str, Any], *, intent: int | None = None) -> int:
        """Dispatch to every live session that asked for `intent`; returns how many got it."""
        count = 0
        for session in self.live_sessions:
            if session.ready and session.wants(intent):
                session.dispatch(event, data)
                count += 1
        return count

    async def drop_connections(self, code: int = 4000) -> int:
        """Close every open websocket with `code` (4000 lets the client resume)."""
        connections = list(self.connections)
        for connection in connections:
            await connection.close(code, "Dropped by the emulator")
        return len(connections)

    def send_op(self, op: int, data: Any = None) -> None:
        for connection in self.connections:
            connection.send({"op": op, "d": data})

    def invalidate_sessions(self, *, resumable: bool = False) -> None:
        """Send op 9; unless resumable, the sessions are forgotten and the client re-identifies."""
        for connection in list(self.connections):
            if connection.session is not None and not resumable:
                connection.session.invalid = True
            connection.send({"op": OP_INVALID_SESSION, "d": resumable})

    async def close(self) -> None:
        for connection in list(self.connections):
            await connection.close(1001, "Emulator stopping")
