"""The gateway websocket: HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME, dispatch.

Frames go out as plain JSON text (the client asks for zlib-stream but reads text frames as
they are). A session outlives its connection: events dispatched while the bot is
disconnected are kept and replayed when it RESUMEs.

Sharding as Discord does it: a session identified with `shard: [shard_id, shard_count]` gets
only the events of guilds with `(guild_id >> 22) % shard_count == shard_id` (READY lists only
those guilds), and events without a guild (direct messages) go to shard 0 only; without
`shard` a session is `[0, 1]`. IDENTIFYs are rate limited per bucket
(`shard_id % max_concurrency`, one per `identify_interval` seconds, for the whole bot), and
count against the session start limit; an invalid shard closes with 4010, a shard with more
than `max_guilds_per_shard` guilds with 4011.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
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
CLOSE_INVALID_SHARD = 4010
CLOSE_SHARDING_REQUIRED = 4011

# Events whose guild is their `id` (the others name it in `guild_id`).
GUILD_ID_IS_ID = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends a guild's events to."""
    return (guild_id >> 22) % shard_count


def event_guild_id(event: str, data: dict[str, Any]) -> int | None:
    """The guild an event belongs to (None: a direct message or a guildless event)."""
    value = data.get("id") if event in GUILD_ID_IS_ID else data.get("guild_id")
    return int(value) if value else None


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
    # When the IDENTIFY was accepted (time.monotonic()).
    identified_at: float = 0.0

    @property
    def intents(self) -> int:
        return int(self.identify.get("intents") or 0)

    @property
    def shard(self) -> tuple[int, int]:
        """(shard_id, shard_count) as identified; [0, 1] without `shard`."""
        shard = self.identify.get("shard") or [0, 1]
        return int(shard[0]), int(shard[1])

    @property
    def shard_id(self) -> int:
        return self.shard[0]

    def routes(self, guild_id: int | None) -> bool:
        """Whether Discord sends this guild's events (None: direct messages) to this session."""
        shard_id, shard_count = self.shard
        if guild_id is None:
            return shard_id == 0
        return shard_of(guild_id, shard_count) == shard_id

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
        # False while the gateway is "down" (`DiscordEmulator.stop_gateway`).
        self.available = True
        # When each IDENTIFY bucket last accepted an IDENTIFY (monotonic seconds).
        self._bucket_identified_at: dict[int, float] = {}
        # IDENTIFYs refused for coming too fast (answered with op 9).
        self.refused_identifies = 0

    @property
    def live_sessions(self) -> list[GatewaySession]:
        return [session for session in self.sessions if not session.invalid]

    @property
    def connected_sessions(self) -> list[GatewaySession]:
        return [s for s in self.live_sessions if s.connection is not None and s.ready]

    def connected_for(self, guild_id: int | None) -> list[GatewaySession]:
        """Connected sessions that get `guild_id`'s events (None: direct messages)."""
        return [s for s in self.connected_sessions if s.routes(guild_id)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.available:
            # An outage: no websocket, as when Discord's gateway answers with an error page.
            return web.Response(status=503, text="gateway unavailable")
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
        emulator = self.emulator
        if data.get("token") != emulator.token:
            await connection.close(CLOSE_AUTHENTICATION_FAILED, "Authentication failed")
            return
        shard = data.get("shard", [0, 1])
        if not _valid_shard(shard):
            await connection.close(CLOSE_INVALID_SHARD, "Invalid shard")
            return
        shard_id, shard_count = int(shard[0]), int(shard[1])
        bucket = shard_id % emulator.max_concurrency
        now = time.monotonic()
        last = self._bucket_identified_at.get(bucket)
        if last is not None and now - last < emulator.identify_interval:
            # Discord: "Clients are limited by maximum concurrency when Identifying; if they
            # exceed this limit, the gateway will respond with an Opcode 9 Invalid Session."
            self.refused_identifies += 1
            emulator.violations.append(
                f"IDENTIFY of shard [{shard_id}, {shard_count}] {now - last:.2f} s after the "
                f"previous one of bucket {bucket} (max_concurrency "
                f"{emulator.max_concurrency}: one per {emulator.identify_interval} s)"
            )
            connection.send({"op": OP_INVALID_SESSION, "d": False})
            return
        guilds = [g for g in emulator.guilds if shard_of(g.id, shard_count) == shard_id]
        if len(guilds) > emulator.max_guilds_per_shard:
            await connection.close(CLOSE_SHARDING_REQUIRED, "Sharding required")
            return
        if not emulator._take_session_start():
            # Discord terminates every session and resets the token.
            emulator.violations.append(
                "IDENTIFY beyond the session start limit: every session was closed and the "
                "token reset"
            )
            emulator.reset_token()
            for known in self.sessions:
                known.invalid = True
            for other in list(self.connections):
                await other.close(CLOSE_AUTHENTICATION_FAILED, "Authentication failed")
            return
        self._bucket_identified_at[bucket] = now
        self.identify_count += 1
        session = GatewaySession(session_id=secrets.token_hex(16), identify=data, identified_at=now)
        session.connection = connection
        connection.session = session
        self.sessions.append(session)
        session.dispatch("READY", emulator._ready_payload(session, guilds))
        for guild in guilds:
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

    def broadcast(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: int | None = None,
        guild_id: int | None = None,
    ) -> int:
        """Dispatch to every live session that asked for `intent` and whose shard gets the
        event's guild (`guild_id`, else read from the event; none: shard 0); returns how many
        sessions got it."""
        if guild_id is None:
            guild_id = event_guild_id(event, data)
        count = 0
        for session in self.live_sessions:
            if session.ready and session.wants(intent) and session.routes(guild_id):
                session.dispatch(event, data)
                count += 1
        return count

    async def drop_connections(self, code: int = 4000, *, shard_id: int | None = None) -> int:
        """Close every open websocket (or those of shard `shard_id`) with `code` (4000 lets
        the client resume)."""
        connections = [
            c
            for c in self.connections
            if shard_id is None or (c.session is not None and c.session.shard_id == shard_id)
        ]
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


def _valid_shard(shard: object) -> bool:
    """`[shard_id, shard_count]` with 0 <= shard_id < shard_count."""
    if not isinstance(shard, list) or len(shard) != 2:
        return False
    if not all(isinstance(part, int) and not isinstance(part, bool) for part in shard):
        return False
    return 0 <= shard[0] < shard[1]
