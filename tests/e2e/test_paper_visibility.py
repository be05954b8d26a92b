"""Papers known only from one server stay in that server (issue 8, item 12).

A paper is visible to a server when it has a summary from a feed (or an import), a
community summary of that server (not deleted), or a reading session there. A cancelled
`/summarize` preview stores nothing at all.
"""

from __future__ import annotations

import pytest

from bot.bot import ShortScienceBot
from bot.config import Settings
from tests.e2e.conftest import StartBot
from tests.e2e.test_community import preview, preview_new_paper, publish, settings, summary_id_of
from tests.emulator import Channel, DiscordEmulator, Guild, Member, Message

__all__ = ["settings"]  # the fixture, used by name

from tests.e2e.test_community import start_community_bot

MEMO = "Zeta Confidential Memo"


@pytest.fixture
async def bot(start_bot: StartBot, settings: Settings) -> ShortScienceBot:
    return await start_community_bot(start_bot, settings)


async def other_server(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> tuple[Guild, Channel, Member]:
    other = emulator.add_guild("Other Lab")
    lobby = other.add_text_channel("lobby")
    mallory = other.add_member("mallory")
    await bot.sync_commands(other.id)
    return other, lobby, mallory


async def suggestions(
    emulator: DiscordEmulator, line: str, option: str, member: Member, channel: Channel
) -> list[str]:
    handle = await emulator.autocomplete(line, option, member=member, channel=channel)
    return [choice["name"] for choice in await handle.wait_choices(timeout=5)]


async def assert_nothing_suggested(
    emulator: DiscordEmulator, member: Member, channel: Channel
) -> None:
    for line, option in (
        ("/summarize paper:Zeta", "paper"),
        ("/reading start paper:Zeta", "paper"),
        ("/paper id:Zeta", "id"),
        ("/search query:Zeta", "query"),
    ):
        assert await suggestions(emulator, line, option, member, channel) == [], line


async def paper_card(
    emulator: DiscordEmulator, ident: str, member: Member, channel: Channel
) -> Message:
    handle = await emulator.slash("/paper", options={"id": ident}, member=member, channel=channel)
    return await handle.wait_reply(timeout=5)


async def test_a_cancelled_preview_stores_nothing_and_leaks_nothing(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    shown = await preview_new_paper(emulator, alice, MEMO)
    assert shown.embed is not None and shown.embed["title"] == MEMO
    cancelled = await emulator.click(shown, label="Cancel", member=alice)
    assert "nothing was saved" in (await cancelled.wait_reply()).content
    assert await bot.db.fetchval("SELECT count(*) FROM papers") == 0
    assert await bot.db.fetchval("SELECT count(*) FROM summaries") == 0

    _, lobby, mallory = await other_server(emulator, bot)
    await assert_nothing_suggested(emulator, mallory, lobby)
    for number in range(1, 4):
        card = await paper_card(emulator, f"paper:{number}", mallory, lobby)
        assert card.ephemeral and "no longer known here" in card.content


async def test_a_paper_known_from_one_server_is_visible_only_there(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    guild, general = emulator.guild, emulator.guild.channel("general")
    alice = guild.member("alice")
    shown = await preview_new_paper(emulator, alice, MEMO)
    _, card = await publish(emulator, shown, alice)
    summary_id = summary_id_of(card)
    paper_id = await bot.db.fetchval("SELECT paper_id FROM summaries WHERE id = ?", (summary_id,))
    # Its own server sees it everywhere.
    for line, option in (
        ("/summarize paper:Zeta", "paper"),
        ("/reading start paper:Zeta", "paper"),
        ("/paper id:Zeta", "id"),
    ):
        assert MEMO in await suggestions(emulator, line, option, alice, general), line
    shown_here = await paper_card(emulator, f"paper:{paper_id}", alice, general)
    assert shown_here.embed is not None and shown_here.embed["title"] == MEMO

    # Another server sees nothing of it: no suggestion, no card by its number.
    _, lobby, mallory = await other_server(emulator, bot)
    await assert_nothing_suggested(emulator, mallory, lobby)
    elsewhere = await paper_card(emulator, f"paper:{paper_id}", mallory, lobby)
    assert elsewhere.ephemeral and "no longer known here" in elsewhere.content
    assert MEMO not in elsewhere.text
    typed = await paper_card(emulator, MEMO, mallory, lobby)
    assert typed.ephemeral and MEMO not in (typed.embed or {}).get("title", "")

    # Deleting the summary hides it again, even at home.
    await (await emulator.slash(f"/summary delete id:{summary_id}", member=alice)).wait_reply()
    gone = await paper_card(emulator, f"paper:{paper_id}", alice, general)
    assert gone.ephemeral and "no longer known here" in gone.content


async def test_an_arxiv_paper_from_one_servers_summary_stays_there_too(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    _, shown = await preview(emulator, alice, "1706.03762")
    cancelled = await emulator.click(shown, label="Cancel", member=alice)
    await cancelled.wait_reply()
    assert await bot.db.fetchval("SELECT count(*) FROM papers") == 0  # looked up, not stored
    _, shown = await preview(emulator, alice, "1706.03762")
    await publish(emulator, shown, alice)
    _, lobby, mallory = await other_server(emulator, bot)
    assert await suggestions(emulator, "/summarize paper:Attention", "paper", mallory, lobby) == []
    assert await suggestions(emulator, "/paper id:1706.03762", "id", mallory, lobby) == []
    card = await paper_card(emulator, "1706.03762", mallory, lobby)
    assert card.ephemeral and "I don't know the paper arXiv:1706.03762 yet" in card.content


async def test_a_reading_session_makes_its_paper_visible_in_its_server(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    guild = emulator.guild
    alice, papers = guild.member("alice"), guild.channel("papers")
    started = await emulator.slash(
        "/reading start", options={"paper": MEMO, "channel": papers}, member=alice
    )
    picker = await started.wait_reply()  # a title nobody knows: which paper is it?
    chosen = await emulator.select(picker, ["new"], member=alice)
    await chosen.wait_callback()
    await emulator.wait_for(
        lambda: "Reading session on" in picker.content, description="the session started"
    )
    general = guild.channel("general")
    assert MEMO in await suggestions(emulator, "/summarize paper:Zeta", "paper", alice, general)
    _, lobby, mallory = await other_server(emulator, bot)
    assert await suggestions(emulator, "/reading start paper:Zeta", "paper", mallory, lobby) == []
