# Waits take `timeout=` on purpose, as in the emulator's own helpers.
# ruff: noqa: ASYNC109
"""The emulator's gateway shards as Discord does: GET /gateway/bot, IDENTIFY with
`[shard_id, shard_count]`, each guild's events only to its shard (direct messages to shard 0),
and what Discord refuses (4010, 4011, op 9 beyond max_concurrency, the session start limit).

A raw websocket client speaks the protocol here, so each rule is checked on its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.emulator import DiscordEmulator
from tests.emulator.gateway import (
    CLOSE_AUTHENTICATION_FAILED,
    CLOSE_INVALID_SHARD,
    CLOSE_SHARDING_REQUIRED,
    OP_INVALID_SESSION,
    shard_of,
)


class RawGateway:
    """One websocket to the emulator's gateway, spoken by hand."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.frames: list[dict[str, Any]] = []

    async def receive(self, timeout: float = 5.0) -> dict[str, Any] | int:
        """The next frame, or the close code when the gateway closed the socket."""
        message = await self.socket.receive(timeout=timeout)
        if message.type == aiohttp.WSMsgType.TEXT:
            frame = json.loads(message.data)
            self.frames.append(frame)
            return frame
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert self.socket.close_code is not None
        return self.socket.close_code

    async def identify(self, token: str, shard: Any = None) -> dict[str, Any] | int:
        """IDENTIFY (guilds intent) and return the answer: READY, op 9, or a close code."""
        data: dict[str, Any] = {"token": token, "intents": 1, "properties": {}}
        if shard is not None:
            data["shard"] = shard
        await self.socket.send_json({"op": 2, "d": data})
        return await self.receive()

    async def dispatches(self, timeout: float = 0.3) -> list[dict[str, Any]]:
        """Every event that arrives within `timeout` seconds of quiet."""
        found: list[dict[str, Any]] = []
        while True:
            try:
                frame = await self.receive(timeout=timeout)
            except TimeoutError:
                return found
            assert isinstance(frame, dict)
            found.append(frame)


@pytest.fixture
async def gateway(emulator: DiscordEmulator) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession() as session:
        opened: list[aiohttp.ClientWebSocketResponse] = []

        async def connect() -> RawGateway:
            socket = await session.ws_connect(emulator.gateway_url)
            opened.append(socket)
            raw = RawGateway(socket)
            hello = await raw.receive()
            assert isinstance(hello, dict) and hello["op"] == 10
            return raw

        yield connect
        for socket in opened:
            await socket.close()


async def test_get_gateway_bot_says_how_to_shard(emulator: DiscordEmulator) -> None:
    emulator.recommended_shards = 3
    emulator.max_concurrency = 16
    headers = {"Authorization": f"Bot {emulator.token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.get(f"{emulator.api_base}/gateway/bot") as response,
    ):
        body = await response.json()
    assert body["url"] == emulator.gateway_url and body["shards"] == 3
    limit = body["session_start_limit"]
    assert limit["max_concurrency"] == 16 and limit["total"] == limit["remaining"] == 1000
    assert limit["reset_after"] == 24 * 3600 * 1000


async def test_each_shard_gets_only_its_guilds(emulator: DiscordEmulator, gateway: Any) -> None:
    emulator.max_concurrency = 2  # both shards identify at once
    first = emulator.add_guild("On shard 0", shard=(0, 2))
    second = emulator.add_guild("On shard 1", shard=(1, 2))
    default = emulator.guild  # "Reading Group", on whichever shard its id says
    shard0, shard1 = await gateway(), await gateway()
    ready0 = await shard0.identify(emulator.token, [0, 2])
    ready1 = await shard1.identify(emulator.token, [1, 2])
    assert isinstance(ready0, dict) and isinstance(ready1, dict)
    assert ready0["d"]["shard"] == [0, 2] and ready1["d"]["shard"] == [1, 2]

    def guild_ids(ready: dict[str, Any], creates: list[dict[str, Any]]) -> set[int]:
        listed = {int(g["id"]) for g in ready["d"]["guilds"]}
        created = {int(f["d"]["id"]) for f in creates if f.get("t") == "GUILD_CREATE"}
        assert listed == created
        return listed

    on0 = guild_ids(ready0, await shard0.dispatches())
    on1 = guild_ids(ready1, await shard1.dispatches())
    assert first.id in on0 and second.id in on1
    assert on0.isdisjoint(on1) and on0 | on1 == set(emulator.guilds_by_id)
    assert default.id in (on0 if shard_of(default.id, 2) == 0 else on1)

    # Later events follow the guild: a channel in the second guild reaches shard 1 only.
    second.add_text_channel("news")
    assert [f["t"] for f in await shard1.dispatches()] == ["CHANNEL_CREATE"]
    assert await shard0.dispatches() == []
    # Events without a guild (direct messages) go to shard 0 only.
    assert await emulator.dispatch("USER_UPDATE", {"id": "1"}) == 1
    assert [f["t"] for f in await shard0.dispatches()] == ["USER_UPDATE"]
    assert await shard1.dispatches() == []


async def test_an_invalid_shard_is_closed_with_4010(
    emulator: DiscordEmulator, gateway: Any
) -> None:
    for shard in ([2, 2], [0, 0], [-1, 2], [0], "0,1", [0, True]):
        assert await (await gateway()).identify(emulator.token, shard) == CLOSE_INVALID_SHARD


async def test_a_shard_with_too_many_guilds_is_closed_with_4011(
    emulator: DiscordEmulator, gateway: Any
) -> None:
    emulator.max_guilds_per_shard = 1
    emulator.add_guild("Second", shard=(1 - shard_of(emulator.guild.id, 2), 2))
    assert await (await gateway()).identify(emulator.token) == CLOSE_SHARDING_REQUIRED
    # Two shards hold one guild each: accepted.
    emulator.max_concurrency = 2
    for shard_id in (0, 1):
        answer = await (await gateway()).identify(emulator.token, [shard_id, 2])
        assert isinstance(answer, dict) and answer["t"] == "READY"


async def test_identifies_beyond_max_concurrency_get_an_invalid_session(
    emulator: DiscordEmulator, gateway: Any
) -> None:
    emulator.identify_interval = 1.0
    emulator.max_concurrency = 2
    # Buckets 0 and 1 (shards 0 and 1 of 4) may identify at once...
    for shard_id in (0, 1):
        answer = await (await gateway()).identify(emulator.token, [shard_id, 4])
        assert isinstance(answer, dict) and answer["t"] == "READY"
    # ...but shard 2 is in bucket 0 again: too soon.
    refused = await (await gateway()).identify(emulator.token, [2, 4])
    assert refused == {"op": OP_INVALID_SESSION, "d": False}
    assert emulator.gateway.refused_identifies == 1
    [violation] = emulator.take_violations()
    assert "bucket 0" in violation and "max_concurrency 2" in violation
    # Once the bucket's window has passed it may.
    await asyncio.sleep(1.0)
    answer = await (await gateway()).identify(emulator.token, [2, 4])
    assert isinstance(answer, dict) and answer["t"] == "READY"


async def test_going_over_the_session_start_limit_resets_the_token(
    emulator: DiscordEmulator, gateway: Any
) -> None:
    emulator.exhaust_session_starts(reset_after=60)
    old_token = emulator.token
    assert await (await gateway()).identify(old_token) == CLOSE_AUTHENTICATION_FAILED
    assert emulator.token != old_token
    assert "session start limit" in emulator.take_violations()[0]
    headers = {"Authorization": f"Bot {old_token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.get(f"{emulator.api_base}/users/@me") as response,
    ):
        assert response.status == 401


async def test_session_starts_come_back_after_reset_after(
    emulator: DiscordEmulator, gateway: Any
) -> None:
    emulator.exhaust_session_starts(reset_after=0.3)
    assert emulator.gateway_bot_payload()["session_start_limit"]["remaining"] == 0
    await asyncio.sleep(0.35)
    limit = emulator.gateway_bot_payload()["session_start_limit"]
    assert limit["remaining"] == limit["total"]
    answer = await (await gateway()).identify(emulator.token)
    assert isinstance(answer, dict) and answer["t"] == "READY"
    assert emulator.gateway_bot_payload()["session_start_limit"]["remaining"] == 999


async def test_a_stopped_gateway_refuses_connections_until_started(
    emulator: DiscordEmulator, gateway: Any
) -> None:
    connected = await gateway()
    assert isinstance(await connected.identify(emulator.token), dict)
    await emulator.stop_gateway()
    while isinstance(await connected.receive(), dict):
        pass  # the events queued before the close
    assert connected.socket.closed
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gateway()
    assert refused.value.status == 503
    emulator.start_gateway()
    await gateway()
