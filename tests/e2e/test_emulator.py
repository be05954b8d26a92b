"""The emulator's own behaviour, checked with a bare discord.py bot and with direct HTTP."""

from __future__ import annotations

import asyncio
import gc
import io
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot.collector import collections_held_back
from tests.emulator import DiscordEmulator, InvalidInvocation, Permission, most_within

SetupBot = Callable[[commands.Bot, discord.Object], None]
StartBare = Callable[..., Awaitable[commands.Bot]]


@pytest.fixture
async def bare_bot(emulator: DiscordEmulator) -> AsyncIterator[StartBare]:
    """`await bare_bot(setup)`: a plain commands.Bot whose tree `setup(bot, guild)` fills."""
    saved = (discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    discord.http.Route.BASE = emulator.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emulator.gateway_url)
    started: list[tuple[commands.Bot, asyncio.Task[None]]] = []

    async def start(setup: SetupBot | None = None) -> commands.Bot:
        intents = discord.Intents.none()
        intents.guilds = True
        bot = commands.Bot(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            guild_ready_timeout=0.01,
            chunk_guilds_at_startup=False,
        )
        guild = discord.Object(emulator.guild.id)
        if setup is not None:
            setup(bot, guild)

        async def sync() -> None:
            await bot.tree.sync(guild=guild)

        bot.setup_hook = sync
        ready = asyncio.Event()

        async def on_ready() -> None:
            ready.set()

        bot.add_listener(on_ready, "on_ready")
        task = asyncio.create_task(bot.start(emulator.token))
        started.append((bot, task))
        await asyncio.wait_for(ready.wait(), timeout=10)
        return bot

    try:
        yield start
    finally:
        for bot, task in started:
            await bot.close()
            await asyncio.wait_for(task, timeout=10)
        discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
async def http(emulator: DiscordEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    """A raw HTTP client authenticated as the bot, for requests discord.py would not send."""
    headers = {"Authorization": f"Bot {emulator.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield session


def noop_command(bot: commands.Bot, guild: discord.Object) -> None:
    """A command that never answers, so a test can answer its interaction by hand."""

    @bot.tree.command(name="noop", description="Does nothing", guild=guild)
    async def noop(interaction: discord.Interaction) -> None:
        return None


# -- responses shaped like Discord's -----------------------------------------------------------


async def test_json_responses_have_the_exact_content_type_and_rate_limit_headers(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{emulator.api_base}/users/@me") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        for header in ("Bucket", "Limit", "Remaining", "Reset", "Reset-After"):
            assert f"X-RateLimit-{header}" in response.headers
        assert (await response.json())["bot"] is True


async def test_requests_without_the_bot_token_are_unauthorized(emulator: DiscordEmulator) -> None:
    url = f"{emulator.api_base}/users/@me"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 401
        assert (await response.json())["code"] == 0


async def test_unknown_channel_and_message_are_404_with_discord_codes(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    general = emulator.guild.channel("general")
    with pytest.raises(discord.NotFound) as channel_error:
        await bot.http.send_message(123, params=_params("hi"))
    assert channel_error.value.code == 10003
    with pytest.raises(discord.NotFound) as message_error:
        await bot.http.get_message(general.id, 456)
    assert message_error.value.code == 10008


@pytest.mark.parametrize("code", [50001, 50013])
async def test_a_forbidden_channel_answers_403(
    emulator: DiscordEmulator, bare_bot: StartBare, code: int
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    papers.forbid(code)
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as error:
        await channel.send("hello")
    assert error.value.code == code
    assert emulator.messages(papers) == []


async def test_missing_bot_permissions_in_a_channel_are_403_50013(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    papers = emulator.guild.channel("papers")
    everyone = emulator.guild.everyone_role
    papers.permission_overwrites.append(
        {"id": str(everyone.id), "type": 0, "allow": "0", "deny": str(Permission.SEND_MESSAGES)}
    )
    bot = await bare_bot()
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as error:
        await channel.send("hello")
    assert error.value.code == 50013


# -- documented limits -> 50035 --------------------------------------------------------------

BUTTON = {"type": 2, "style": 1, "label": "ok", "custom_id": "ok"}
LONG_EMBEDS = [{"description": "d" * 4000}, {"description": "d" * 2001}]
LINK_BUTTON = {"type": 2, "style": 5, "label": "open"}
# What Discord refuses in an embed's URL fields (issue 8, item 1).
BAD_EMBED_URLS = [
    ("javascript:alert(1)", "URL_TYPE_INVALID_SCHEME"),
    ("data:text/html,hi", "URL_TYPE_INVALID_SCHEME"),
    ("ftp://example.org/paper.pdf", "URL_TYPE_INVALID_SCHEME"),
    ("https://", "URL_TYPE_INVALID_URL"),
    ("http://?x", "URL_TYPE_INVALID_URL"),
    ("http://exa mple.com", "URL_TYPE_INVALID_URL"),
    ("http://[::1", "URL_TYPE_INVALID_URL"),
    ("http://.invalid/", "URL_TYPE_INVALID_URL"),
    ("https://example.org/" + "a" * 2029, "BASE_TYPE_MAX_LENGTH"),
]
BAD_BUTTON_URLS = [
    ("https://example.org/" + "a" * 493, "BASE_TYPE_MAX_LENGTH"),
    ("javascript:alert(1)", "URL_TYPE_INVALID_SCHEME"),
    ("http://exa mple.com", "URL_TYPE_INVALID_URL"),
]
LIMIT_CASES: list[tuple[str, dict[str, Any], list[str], str]] = [
    ("content", {"content": "x" * 2001}, ["content"], "BASE_TYPE_MAX_LENGTH"),
    ("embed title", {"embeds": [{"title": "t" * 257}]}, ["embeds", "0", "title"], ""),
    ("description", {"embeds": [{"description": "d" * 4097}]}, ["embeds", "0", "description"], ""),
    (
        "26 fields",
        {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
        ["embeds", "0", "fields"],
        "",
    ),
    (
        "field name",
        {"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]},
        ["embeds", "0", "fields", "0", "name"],
        "",
    ),
    (
        "field value",
        {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
        ["embeds", "0", "fields", "0", "value"],
        "",
    ),
    (
        "footer",
        {"embeds": [{"footer": {"text": "f" * 2049}}]},
        ["embeds", "0", "footer", "text"],
        "",
    ),
    (
        "author",
        {"embeds": [{"author": {"name": "a" * 257}}]},
        ["embeds", "0", "author", "name"],
        "",
    ),
    ("11 embeds", {"embeds": [{"title": "t"}] * 11}, ["embeds"], ""),
    *[
        (f"embed url {url[:24]}", {"embeds": [{"url": url}]}, ["embeds", "0", "url"], code)
        for url, code in BAD_EMBED_URLS
    ],
    (
        "image url data:",
        {"embeds": [{"image": {"url": "data:image/png;base64,AAAA"}}]},
        ["embeds", "0", "image", "url"],
        "URL_TYPE_INVALID_SCHEME",
    ),
    (
        "footer icon ftp:",
        {"embeds": [{"footer": {"text": "f", "icon_url": "ftp://x.org/a.png"}}]},
        ["embeds", "0", "footer", "icon_url"],
        "URL_TYPE_INVALID_SCHEME",
    ),
    (
        "author url malformed",
        {"embeds": [{"author": {"name": "a", "url": "http://a..b/"}}]},
        ["embeds", "0", "author", "url"],
        "URL_TYPE_INVALID_URL",
    ),
    *[
        (
            f"link button {url[:24]}",
            {"components": [{"type": 1, "components": [{**LINK_BUTTON, "url": url}]}]},
            ["components", "0", "components", "0", "url"],
            code,
        )
        for url, code in BAD_BUTTON_URLS
    ],
    ("6000 in all", {"embeds": LONG_EMBEDS}, ["embeds"], "MAX_EMBED_SIZE_EXCEEDED"),
    (
        "6 buttons",
        {"components": [{"type": 1, "components": [BUTTON] * 6}]},
        ["components", "0", "components"],
        "",
    ),
    (
        "label 81",
        {"components": [{"type": 1, "components": [{**BUTTON, "label": "l" * 81}]}]},
        ["components", "0", "components", "0", "label"],
        "",
    ),
    (
        "custom_id 101",
        {"components": [{"type": 1, "components": [{**BUTTON, "custom_id": "c" * 101}]}]},
        ["components", "0", "components", "0", "custom_id"],
        "",
    ),
    (
        "empty custom_id",
        {"components": [{"type": 1, "components": [{**BUTTON, "custom_id": ""}]}]},
        ["components", "0", "components", "0", "custom_id"],
        "",
    ),
    (
        "26 options",
        {
            "components": [
                {
                    "type": 1,
                    "components": [
                        {
                            "type": 3,
                            "custom_id": "s",
                            "options": [{"label": f"o{i}", "value": f"v{i}"} for i in range(26)],
                        }
                    ],
                }
            ]
        },
        ["components", "0", "components", "0", "options"],
        "",
    ),
]


def _error_at(body: dict[str, Any], path: list[str]) -> list[dict[str, str]]:
    node: Any = body["errors"]
    for part in path:
        node = node[part]
    return node["_errors"]


@pytest.mark.parametrize(
    ("case", "payload", "path", "code"), LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES]
)
async def test_message_bodies_over_the_limits_are_rejected_with_50035(
    emulator: DiscordEmulator,
    http: aiohttp.ClientSession,
    case: str,
    payload: dict[str, Any],
    path: list[str],
    code: str,
) -> None:
    general = emulator.guild.channel("general")
    async with http.post(f"{emulator.api_base}/channels/{general.id}/messages", json=payload) as r:
        body = await r.json()
    assert r.status == 400
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body"
    errors = _error_at(body, path)
    if code:
        assert code in [error["code"] for error in errors]
    assert emulator.messages(general) == []
    assert emulator.take_violations(), "an over-limit body is a violation that fails the test"


async def test_urls_discord_accepts_pass(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    general = emulator.guild.channel("general")
    longest = "https://example.org/" + "a" * 2028
    payload = {
        "embeds": [
            {
                "url": longest,
                "image": {"url": "https://cdn.example.org/figure.png"},
                "thumbnail": {"url": "http://[2001:db8::1]:8080/t.png"},
                "author": {"name": "a", "url": "https://bücher.example/x?y=1#z"},
                "footer": {"text": "f", "icon_url": "https://cdn.example.org/i.png"},
            }
        ],
        "components": [
            {
                "type": 1,
                "components": [{**LINK_BUTTON, "url": "https://example.org/" + "b" * 492}],
            }
        ],
    }
    assert len(longest) == 2048
    async with http.post(f"{emulator.api_base}/channels/{general.id}/messages", json=payload) as r:
        assert r.status == 200, await r.text()


async def test_limits_apply_to_callbacks_follow_ups_and_edits(
    emulator: DiscordEmulator, bare_bot: StartBare, http: aiohttp.ClientSession
) -> None:
    await bare_bot(noop_command)
    too_long = {"content": "x" * 2001}
    interaction = await emulator.slash("/noop")
    base = emulator.api_base
    callback = f"{base}/interactions/{interaction.id}/{interaction.token}/callback"
    async with http.post(callback, json={"type": 4, "data": too_long}) as r:
        assert r.status == 400
        assert _error_at(await r.json(), ["data", "content"])
    async with http.post(callback, params={"with_response": "true"}, json={"type": 5}) as r:
        assert r.status == 200
    webhook = f"{base}/webhooks/{emulator.application_id}/{interaction.token}"
    async with http.post(webhook, params={"wait": "1"}, json=too_long) as r:
        assert r.status == 400
    async with http.patch(f"{webhook}/messages/@original", json=too_long) as r:
        assert r.status == 400
    async with http.patch(f"{webhook}/messages/@original", json={"content": "ok"}) as r:
        assert r.status == 200
    assert (await interaction.wait_reply()).content == "ok"
    assert len(emulator.take_violations()) == 3


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"custom_id": "m", "title": "t" * 46, "components": []}, ["data", "title"]),
        ({"custom_id": "m", "title": "t", "components": []}, ["data", "components"]),
        (
            {
                "custom_id": "m",
                "title": "t",
                "components": [
                    {
                        "type": 1,
                        "components": [{"type": 4, "custom_id": f"i{n}", "style": 1, "label": "L"}],
                    }
                    for n in range(6)
                ],
            },
            ["data", "components"],
        ),
        (
            {
                "custom_id": "m",
                "title": "t",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {
                                "type": 4,
                                "custom_id": "i",
                                "style": 2,
                                "label": "L",
                                "value": "v" * 4001,
                            }
                        ],
                    }
                ],
            },
            ["data", "components", "0", "components", "0", "value"],
        ),
    ],
    ids=["title 46", "no rows", "6 rows", "value 4001"],
)
async def test_modal_limits(
    emulator: DiscordEmulator,
    bare_bot: StartBare,
    http: aiohttp.ClientSession,
    data: dict[str, Any],
    path: list[str],
) -> None:
    await bare_bot(noop_command)
    interaction = await emulator.slash("/noop")
    url = f"{emulator.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
    async with http.post(url, json={"type": 9, "data": data}) as r:
        assert r.status == 400
        assert _error_at(await r.json(), path)
    assert interaction.modal is None
    assert emulator.take_violations()


async def test_at_most_25_autocomplete_choices(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    def setup(bot: commands.Bot, guild: discord.Object) -> None:
        @bot.tree.command(name="pick", description="Pick a fruit", guild=guild)
        async def pick(interaction: discord.Interaction, fruit: str) -> None:
            await interaction.response.send_message(fruit)

        @pick.autocomplete("fruit")
        async def fruits(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            count = 30 if current == "many" else 3
            return [
                app_commands.Choice(name=f"{current}{n}", value=f"{current}{n}")
                for n in range(count)
            ]

    await bare_bot(setup)
    few = await emulator.autocomplete("/pick fruit:ap", "fruit")
    assert [c["value"] for c in await few.wait_choices()] == ["ap0", "ap1", "ap2"]
    many = await emulator.autocomplete("/pick fruit:many", "fruit")
    await many.wait_for(lambda h: h.responses or emulator.violations, what="the rejected answer")
    assert many.choices is None
    assert any("choices" in v for v in emulator.take_violations())


# -- faults ---------------------------------------------------------------------------------


async def test_a_429_has_discords_shape(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    general = emulator.guild.channel("general")
    emulator.faults.rate_limit("POST /channels/*/messages", retry_after=0.25, global_=True)
    url = f"{emulator.api_base}/channels/{general.id}/messages"
    async with http.post(url, json={"content": "hi"}) as r:
        assert r.status == 429
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["Via"]
        assert r.headers["X-RateLimit-Global"] == "true"
        body = await r.json()
    assert body["retry_after"] == 0.25 and body["global"] is True
    async with http.post(url, json={"content": "hi"}) as r:
        assert r.status == 200


async def test_discord_py_waits_out_a_global_429(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    emulator.faults.rate_limit(
        "POST /channels/{channel_id}/messages", retry_after=0.05, global_=True
    )
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("once")
    assert [m.content for m in emulator.messages(papers)] == ["once"]


async def test_a_429_without_via_is_a_cloudflare_ban_and_not_retried(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    emulator.faults.rate_limit("POST /channels/*/messages", with_via_header=False)
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as error:
        await channel.send("never")
    assert error.value.status == 429


async def test_the_global_rate_limit_is_off_by_default(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    assert emulator.global_rate_limit is None
    for _ in range(60):
        async with http.get(f"{emulator.api_base}/users/@me") as response:
            assert response.status == 200


async def test_the_opt_in_global_rate_limit_answers_a_global_429(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.global_rate_limit = 5
    emulator.global_rate_limit_window = 2.0
    me = f"{emulator.api_base}/users/@me"
    for _ in range(5):
        async with http.get(me) as response:
            assert response.status == 200
    async with http.get(me) as response:
        assert response.status == 429
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Via"]
        assert response.headers["X-RateLimit-Global"] == "true"
        assert response.headers["X-RateLimit-Scope"] == "global"
        assert int(response.headers["Retry-After"]) >= 1
        body = await response.json()
    assert body["global"] is True and body["message"] == "You are being rate limited."
    assert 0 < body["retry_after"] <= 2.0
    assert emulator.requests[-1].fault == "global_rate_limit"
    # Requests without the bot token (callbacks, webhooks) are not limited: a usual 401.
    async with aiohttp.ClientSession() as anonymous, anonymous.get(me) as response:
        assert response.status == 401
    await asyncio.sleep(body["retry_after"])
    async with http.get(me) as response:
        assert response.status == 200


async def test_discord_py_sends_everything_once_through_the_global_limit(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    # Nine concurrent sends, three per window: three windows, so at most three tries each
    # (discord.py gives up after five).
    emulator.global_rate_limit = 3
    emulator.global_rate_limit_window = 0.5
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    await asyncio.gather(*(channel.send(f"message {n}") for n in range(9)))
    contents = sorted(m.content for m in emulator.messages(papers))
    assert contents == sorted(f"message {n}" for n in range(9))
    assert any(r.fault == "global_rate_limit" for r in emulator.requests)


# Sends a GET /users/@me every 10 ms or more, 80 in all, without waiting for answers, as
# bots that pace their requests do: each leaves on time whatever the emulator is doing, and
# a late one never makes the next leave sooner.
PACED_SENDER = """
import asyncio, sys, time, aiohttp
async def main(url, token):
    async with aiohttp.ClientSession(headers={"Authorization": "Bot " + token}) as http:
        async def one():
            async with http.get(url) as response:
                await response.read()
        sent = []
        for _ in range(80):
            sent.append(asyncio.create_task(one()))
            await asyncio.sleep(0.01)
        await asyncio.gather(*sent)
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_requests_are_stamped_as_they_come_even_after_a_long_test_session() -> None:
    """A long test session leaves a large heap behind, and a full collection walks all of
    it on the emulator's event loop. Requests that come meanwhile would be stamped together
    when the loop is back: spacing checks (Discord's global limit, IDENTIFY's 5 s) would
    see bursts the bots never sent."""
    session_heap = [[None] for _ in range(1_500_000)]
    async with DiscordEmulator() as emulator:
        sender = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PACED_SENDER, f"{emulator.api_base}/users/@me", emulator.token
        )
        await emulator.wait_for(lambda: len(emulator.requests) >= 20, timeout=10)
        gc.collect()  # as the collector would, at some allocation
        assert await asyncio.wait_for(sender.wait(), timeout=30) == 0
        paced = [r for r in emulator.requests if r.path == "/users/@me"]
    assert len(paced) == 80 and len(session_heap) == 1_500_000
    # At least 10 ms apart: two or three in any 20 ms, whatever the collector did meanwhile.
    # (The collection stamped 21 together; 8 leaves room for a busy machine's scheduling.)
    assert most_within(paced, 0.02) <= 8


async def test_an_import_ending_while_an_emulator_runs_leaves_its_heap_frozen() -> None:
    """The heap's freeze is one process-wide state, held by the emulator and by a bulk job
    (an import) alike: the job ending must not unfreeze what the emulator relies on."""
    async with DiscordEmulator():
        with collections_held_back():
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


async def test_error_statuses_n_times_then_normal_answers(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("hello")
    fault = emulator.faults.error(
        "GET /channels/{channel_id}/messages/{message_id}", status=404, code=10008, times=2
    )
    for _ in range(2):
        with pytest.raises(discord.NotFound):
            await channel.fetch_message(sent.id)
    assert (await channel.fetch_message(sent.id)).content == "hello"
    assert fault.hits == 2 and fault.exhausted


async def test_a_callback_slower_than_the_deadline_is_unknown_interaction(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    def setup(bot: commands.Bot, guild: discord.Object) -> None:
        @bot.tree.command(name="slow", description="Slow", guild=guild)
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("too late")

    await bare_bot(setup)
    emulator.interaction_deadline = 0.1
    emulator.faults.delay("POST /interactions/**", 0.2)
    interaction = await emulator.slash("/slow")
    await emulator.wait_for_request("POST /interactions/**")
    assert interaction.late_callback and interaction.callback is None
    assert emulator.requests_matching("POST /interactions/**")[0].response["code"] == 10062
    assert any("after" in v for v in emulator.take_violations())


# -- idempotence ------------------------------------------------------------------------------


async def test_enforced_nonce_returns_the_earlier_message(
    emulator: DiscordEmulator, bare_bot: StartBare, http: aiohttp.ClientSession
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("announce", nonce="feed-42")
    again = await channel.send("announce", nonce="feed-42")
    assert first.id == again.id
    assert len(emulator.messages(papers)) == 1
    # Without enforce_nonce, Discord creates a second message.
    url = f"{emulator.api_base}/channels/{papers.id}/messages"
    async with http.post(url, json={"content": "announce", "nonce": "feed-42"}) as r:
        assert r.status == 200
    assert len(emulator.messages(papers)) == 2


# -- spec validation ----------------------------------------------------------------------------


async def test_a_body_that_breaks_the_spec_is_a_violation_and_a_400(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    if emulator.spec is None:
        pytest.skip(emulator.spec_skip_reason or "spec missing")
    general = emulator.guild.channel("general")
    url = f"{emulator.api_base}/channels/{general.id}/messages"
    async with http.post(url, json={"content": "hi", "embeds": [{"color": "red"}]}) as r:
        assert r.status == 400
        body = await r.json()
    assert body["code"] == 50035
    assert _error_at(body, ["embeds", "0", "color"])
    violations = emulator.take_violations()
    assert len(violations) == 1 and "embeds.0.color" in violations[0]


async def test_a_route_missing_from_the_spec_is_a_violation(
    emulator: DiscordEmulator, http: aiohttp.ClientSession
) -> None:
    if emulator.spec is None:
        pytest.skip(emulator.spec_skip_reason or "spec missing")
    async with http.get(f"{emulator.api_base}/channels/1/not-a-route") as r:
        assert r.status == 404
    assert "not-a-route" in emulator.take_violations()[0]


async def test_without_the_spec_only_that_layer_is_skipped(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="NOT validated"):
        emu = DiscordEmulator(spec_path=tmp_path / "absent.json")
    assert emu.spec is None and emu.spec_skip_reason
    guild = emu.add_guild()
    general = guild.add_text_channel("general")
    async with emu, aiohttp.ClientSession(headers={"Authorization": f"Bot {emu.token}"}) as http:
        url = f"{emu.api_base}/channels/{general.id}/messages"
        async with http.post(url, json={"content": "x" * 2001}) as r:
            assert r.status == 400  # the documented limits still apply
        async with http.post(url, json={"content": "hi", "embeds": [{"color": "red"}]}) as r:
            assert r.status == 200  # only the spec would have caught this
    assert len(emu.take_violations()) == 1


async def test_a_violation_fails_the_emulator_fixture(emulator: DiscordEmulator) -> None:
    emulator.violations.append("POST /x: made up")
    with pytest.raises(AssertionError, match="made up"):
        emulator.assert_no_violations()
    emulator.take_violations()


# -- interactions through the real client -------------------------------------------------------


async def test_slash_options_are_typed_and_resolved(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    seen: dict[str, Any] = {}

    def setup(bot: commands.Bot, guild: discord.Object) -> None:
        feed = app_commands.Group(name="feed", description="Feeds", guild_ids=[guild.id])

        @feed.command(name="add", description="Add a feed")
        async def add(
            interaction: discord.Interaction,
            url: str,
            channel: discord.TextChannel,
            limit: int,
            role: discord.Role | None = None,
            who: discord.Member | None = None,
            file: discord.Attachment | None = None,
        ) -> None:
            seen.update(url=url, channel=channel, limit=limit, role=role, who=who)
            seen["bytes"] = await file.read() if file else None
            seen["permissions"] = interaction.permissions
            await interaction.response.send_message("added", ephemeral=True)

        bot.tree.add_command(feed)

    await bare_bot(setup)
    guild = emulator.guild
    upload = emulator.upload_attachment("list.opml", b"<opml/>")
    interaction = await emulator.slash(
        "/feed add url:https://example.org/rss channel:#papers limit:3 role:@Moderator who:@mod",
        {"file": upload},
        member=guild.member("alice"),
        permissions=discord.Permissions(manage_guild=True),
    )
    reply = await interaction.wait_reply()
    assert reply.ephemeral and reply.content == "added"
    assert seen["url"] == "https://example.org/rss"
    assert seen["channel"].id == guild.channel("papers").id
    assert seen["limit"] == 3
    assert seen["role"].id == guild.role("Moderator").id
    assert seen["who"].id == guild.member("mod").id
    assert seen["bytes"] == b"<opml/>"
    assert seen["permissions"].manage_guild and not seen["permissions"].administrator


async def test_the_command_line_is_checked_like_discords_client_would(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    def setup(bot: commands.Bot, guild: discord.Object) -> None:
        @bot.tree.command(name="size", description="Size", guild=guild)
        @app_commands.choices(unit=[app_commands.Choice(name="Small", value="s")])
        async def size(interaction: discord.Interaction, unit: str) -> None:
            await interaction.response.send_message(unit)

    await bare_bot(setup)
    with pytest.raises(InvalidInvocation, match="has not synced"):
        await emulator.slash("/nothing")
    with pytest.raises(InvalidInvocation, match="missing required"):
        await emulator.slash("/size")
    with pytest.raises(InvalidInvocation, match="not one of"):
        await emulator.slash("/size unit:Huge")
    reply = await (await emulator.slash("/size unit:Small")).wait_reply()
    assert reply.content == "s"


async def test_defer_edit_follow_ups_and_deletes(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    def setup(bot: commands.Bot, guild: discord.Object) -> None:
        @bot.tree.command(name="work", description="Work", guild=guild)
        async def work(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content="done")
            extra = await interaction.followup.send("extra", ephemeral=True, wait=True)
            await extra.edit(content="extra edited")
            gone = await interaction.followup.send("gone", wait=True)
            await gone.delete()

    await bare_bot(setup)
    interaction = await emulator.slash("/work")
    await interaction.wait_for(lambda h: len(h.responses) == 6, what="six responses")
    kinds = [r.kind for r in interaction.responses]
    assert kinds == [
        "callback",
        "edit_original",
        "followup",
        "edit_followup",
        "followup",
        "delete_followup",
    ]
    assert interaction.callback_type == 5
    assert interaction.message is not None and interaction.message.content == "done"
    assert not interaction.message.loading
    extra, gone = interaction.followups
    assert extra.ephemeral and extra.content == "extra edited"
    assert gone.deleted
    general = emulator.guild.channel("general")
    assert [m.content for m in emulator.messages(general)] == ["done"]


class Counter(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.count = 0

    @discord.ui.button(label="Add", custom_id="counter:add")
    async def add(
        self, interaction: discord.Interaction, button: discord.ui.Button[Counter]
    ) -> None:
        self.count += 1
        await interaction.response.edit_message(content=f"count {self.count}")

    @discord.ui.select(
        custom_id="counter:pick",
        options=[discord.SelectOption(label=x, value=x) for x in ("a", "b", "c")],
        max_values=2,
    )
    async def pick(
        self, interaction: discord.Interaction, select: discord.ui.Select[Counter]
    ) -> None:
        await interaction.response.send_message(",".join(select.values), ephemeral=True)


class NoteModal(discord.ui.Modal, title="Write a note"):
    text: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(
        label="Note", custom_id="note:text", max_length=50
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"noted: {self.text.value}")


async def test_buttons_selects_and_modals_reach_views(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    def setup(bot: commands.Bot, guild: discord.Object) -> None:
        @bot.tree.command(name="counter", description="Counter", guild=guild)
        async def counter(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("count 0", view=Counter())

        @bot.tree.command(name="note", description="Note", guild=guild)
        async def note(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(NoteModal())

    await bare_bot(setup)
    message = await (await emulator.slash("/counter")).wait_reply()
    click = await emulator.click(message, label="Add")
    await click.wait_callback()
    assert click.callback_type == 7 and message.content == "count 1"
    choice = await emulator.select(message, ["a", "c"])
    assert (await choice.wait_reply()).content == "a,c"
    with pytest.raises(InvalidInvocation):
        await emulator.select(message, ["z"])

    opened = await emulator.slash("/note")
    modal = await opened.wait_modal()
    assert modal["title"] == "Write a note"
    submitted = await emulator.submit_modal(opened, {"note:text": "read §3"})
    assert (await submitted.wait_reply()).content == "noted: read §3"
    with pytest.raises(InvalidInvocation, match="outside"):
        await emulator.submit_modal(opened, {"note:text": "x" * 51})


async def test_message_context_menu_gets_the_target_message(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    def setup(bot: commands.Bot, guild: discord.Object) -> None:
        @app_commands.context_menu(name="Quote")
        async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(f"> {message.content}")

        bot.tree.add_command(quote, guild=guild)

    await bare_bot(setup)
    general = emulator.guild.channel("general")
    target = await emulator.post_user_message(general, emulator.guild.member("alice"), "a paper")
    reply = await (await emulator.message_command("Quote", target)).wait_reply()
    assert reply.content == "> a paper"


async def test_double_acknowledgement_is_40060_and_a_violation(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    errors: list[int] = []

    def setup(bot: commands.Bot, guild: discord.Object) -> None:
        @bot.tree.command(name="twice", description="Twice", guild=guild)
        async def twice(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("one")
            adapter = discord.webhook.async_.async_context.get()
            try:
                await adapter.create_interaction_response(
                    interaction.id,
                    interaction.token,
                    session=interaction._session,
                    params=discord.webhook.async_.interaction_response_params(5),
                )
            except discord.HTTPException as exc:
                errors.append(exc.code)

    await bare_bot(setup)
    interaction = await emulator.slash("/twice")
    await emulator.wait_for(lambda: errors, description="the second callback")
    assert errors == [40060]
    assert interaction.callback_type == 4
    assert any("twice" in v for v in emulator.take_violations())


# -- channels, files, pins, threads --------------------------------------------------------------


async def test_files_are_stored_and_served(emulator: DiscordEmulator, bare_bot: StartBare) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send(
        "export", file=discord.File(io.BytesIO(b"# notes\n"), filename="notes.md")
    )
    stored = emulator.messages(papers)[0]
    assert stored.attachments[0].data == b"# notes\n"
    assert await sent.attachments[0].read() == b"# notes\n"
    edited = await sent.edit(attachments=[])
    assert edited.attachments == [] and emulator.messages(papers)[0].attachments == []


async def test_files_in_interaction_replies_and_direct_messages(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    def setup(bot: commands.Bot, guild: discord.Object) -> None:
        @bot.tree.command(name="export", description="Export", guild=guild)
        async def export(interaction: discord.Interaction) -> None:
            data = discord.File(io.BytesIO(b"a,b\n"), filename="export.csv")
            await interaction.response.send_message("here", file=data, ephemeral=True)
            await interaction.user.send("a copy for you")

    await bare_bot(setup)
    alice = emulator.guild.member("alice")
    reply = await (await emulator.slash("/export", member=alice)).wait_reply()
    assert reply.ephemeral and reply.attachments[0].data == b"a,b\n"
    dm = emulator.dm_channel(alice.user)
    assert (await emulator.wait_for_message(dm)).content == "a copy for you"


PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


async def test_embed_images_refer_to_attached_files_as_discord_resolves_them(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    embed = discord.Embed(title="Card").set_image(url="attachment://card.png")
    card = discord.File(io.BytesIO(PNG_1X1), filename="card.png", description="(1) x = y")
    sent = await channel.send(embed=embed, file=card)
    [stored] = emulator.messages(papers)
    [attachment] = stored.attachments
    # Discord works out the type and size of an image itself (clients send octet-stream).
    assert attachment.payload()["content_type"] == "image/png"
    assert (attachment.payload()["width"], attachment.payload()["height"]) == (1, 1)
    assert attachment.description == "(1) x = y"
    assert stored.embed is not None
    assert stored.embed["image"] == {
        "url": attachment.url,
        "proxy_url": attachment.url,
        "width": 1,
        "height": 1,
        "content_type": "image/png",
    }
    assert sent.embeds[0].image.url == attachment.url

    # An edit that replaces the file and the reference: the old file goes.
    other = discord.File(io.BytesIO(PNG_1X1), filename="card-2.png")
    await sent.edit(embed=embed.set_image(url="attachment://card-2.png"), attachments=[other])
    assert [a.filename for a in stored.attachments] == ["card-2.png"]
    assert stored.embed["image"]["url"] == stored.attachments[0].url
    assert emulator.take_violations() == []


async def test_an_embed_image_without_its_file_is_a_violation(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send(embed=discord.Embed(title="x").set_image(url="attachment://missing.png"))
    [missing] = emulator.take_violations()
    assert "attachment://missing.png" in missing and "no such file" in missing
    notes = discord.File(io.BytesIO(b"# notes"), filename="notes.md")
    await channel.send(embed=discord.Embed().set_image(url="attachment://notes.md"), file=notes)
    [not_an_image] = emulator.take_violations()
    assert ".png" in not_an_image
    # Removing the file an embed shows, and keeping the embed, shows nothing.
    embed = discord.Embed(title="Card").set_image(url="attachment://card.png")
    sent = await channel.send(
        embed=embed, file=discord.File(io.BytesIO(PNG_1X1), filename="card.png")
    )
    await sent.edit(attachments=[])
    [stale] = emulator.take_violations()
    assert "removed" in stale


async def test_pins_on_both_routes_and_threads(
    emulator: DiscordEmulator, bare_bot: StartBare, http: aiohttp.ClientSession
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("first")
    second = await channel.send("second")
    await first.pin()  # discord.py uses /channels/{c}/messages/pins/{m}
    async with http.put(f"{emulator.api_base}/channels/{papers.id}/pins/{second.id}") as r:
        assert r.status == 204
    assert {m.id for m in emulator.pins(papers)} == {first.id, second.id}
    assert {m.id async for m in channel.pins()} == {first.id, second.id}

    thread = await first.create_thread(name="Discussion")
    assert thread.id == first.id and thread.parent_id == papers.id
    await thread.send("inside")
    loose = await channel.create_thread(name="Loose", type=discord.ChannelType.public_thread)
    await loose.edit(archived=True, locked=True)
    emulated = emulator.channels_by_id[loose.id]
    assert emulated.archived and emulated.locked
    with pytest.raises(discord.HTTPException) as error:
        await loose.send("no")
    assert error.value.code == 50083
    with pytest.raises(discord.HTTPException) as again:
        await first.create_thread(name="Twice")
    assert again.value.code == 160004


async def test_threads_on_messages_as_discord_makes_them(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    channel = bot.get_channel(papers.id)
    assert isinstance(channel, discord.TextChannel)
    message = await channel.send("card")
    thread = await message.create_thread(name="A paper " + "x" * 92)  # 100 characters
    # GET the message: its `thread` field names the thread, which has the message's id.
    fetched = await channel.fetch_message(message.id)
    assert fetched.thread is not None and fetched.thread.id == message.id == thread.id
    assert fetched.flags.has_thread
    with pytest.raises(discord.HTTPException) as twice:
        await message.create_thread(name="Again")
    assert (twice.value.status, twice.value.code) == (400, 160004)
    other = await channel.send("another")
    with pytest.raises(discord.HTTPException) as long_name:
        await other.create_thread(name="x" * 101)
    assert (long_name.value.status, long_name.value.code) == (400, 50035)
    violations = emulator.take_violations()
    assert violations and all("/threads: name: " in v for v in violations), violations


async def test_forum_posts_as_discord_makes_them(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    forum = emulator.guild.add_forum("summaries", tags=["paper", "news"])
    strict = emulator.guild.add_forum("strict", tags=["paper"], require_tag=True)
    await emulator.wait_for(lambda: bot.get_channel(strict.id) is not None)
    channel = bot.get_channel(forum.id)
    assert isinstance(channel, discord.ForumChannel)
    assert [tag.name for tag in channel.available_tags] == ["paper", "news"]

    # A forum holds posts, never messages of its own.
    with pytest.raises(discord.HTTPException) as refused:
        await bot.get_partial_messageable(forum.id).send("hello")
    assert (refused.value.status, refused.value.code) == (400, 50008)

    post = await channel.create_thread(
        name="Sparse Mixtures", content="first", applied_tags=[channel.available_tags[0]]
    )
    # The starter message has the post's id, and is the post's first message.
    assert post.message.id == post.thread.id
    emulated = emulator.channels_by_id[post.thread.id]
    assert emulated.parent_id == forum.id and emulated.applied_tags == [forum.tag("paper").id]
    assert [m.content for m in emulator.messages(emulated)] == ["first"]
    starter = await post.thread.fetch_message(post.thread.id)
    assert starter.content == "first"

    # Archived posts are listed by the forum.
    await post.thread.edit(archived=True)
    assert [t.id async for t in channel.archived_threads()] == [post.thread.id]

    # A post's name is 1-100 characters; a forum that requires a tag refuses a post without.
    with pytest.raises(discord.HTTPException) as long_name:
        await channel.create_thread(name="x" * 101, content="y")
    assert long_name.value.code == 50035
    assert emulator.take_violations()
    strict_channel = bot.get_channel(strict.id)
    assert isinstance(strict_channel, discord.ForumChannel)
    with pytest.raises(discord.HTTPException) as untagged:
        await strict_channel.create_thread(name="No tag", content="y")
    assert (untagged.value.status, untagged.value.code) == (400, 40067)
    tagged = await strict_channel.create_thread(
        name="Tagged", content="y", applied_tags=strict_channel.available_tags
    )
    assert tagged.thread.parent_id == strict.id


# -- gateway -----------------------------------------------------------------------------------


async def test_resume_replays_events_missed_while_disconnected(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    papers = emulator.guild.channel("papers")
    deleted = asyncio.ensure_future(bot.wait_for("guild_channel_delete", timeout=5))
    await emulator.drop_connection()
    emulator.guild.remove_channel(papers)  # dispatched while the bot is away
    session = await emulator.wait_for_resume()
    assert (await deleted).id == papers.id
    assert bot.get_channel(papers.id) is None
    assert session.connection is not None and session.connection.is_resume_url
    assert emulator.gateway.identify_count == 1


async def test_a_new_guild_arrives_as_guild_create(
    emulator: DiscordEmulator, bare_bot: StartBare
) -> None:
    bot = await bare_bot()
    joined = asyncio.ensure_future(bot.wait_for("guild_join", timeout=5))
    second = emulator.add_guild("Second group")
    second.add_text_channel("lobby")
    assert (await joined).id == second.id
    assert bot.get_guild(second.id) is not None


def _params(content: str) -> Any:
    return discord.http.handle_message_parameters(content=content)
