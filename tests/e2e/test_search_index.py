"""Search on the derived index, as users see it: typos corrected and said, `/similar` and
the Similar button, and `/search` while the index is being rebuilt."""

from __future__ import annotations

import re
import shutil

import pytest

from bot.bot import ShortScienceBot
from bot.search import SearchService
from tests.e2e.conftest import StartBot
from tests.e2e.search_seed import (
    SECRET_WORD,
    add_other_guild_secret,
    import_sample,
    select_menu,
)
from tests.emulator import DiscordEmulator
from tests.unit.search.conftest import hold_index_builds

# Run on both engines (SQLite, and PostgreSQL on the session's server).
DATABASE_ENGINES = ("sqlite", "postgresql")


async def test_a_misspelt_search_shows_results_for_the_corrected_words(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    message = await (await emulator.slash("/search query:gradiant")).wait_reply(3.0)
    embed = message.embed
    assert embed is not None, message.content
    assert (
        "No summaries match **gradiant**: showing results for *gradient*." in embed["description"]
    )
    assert "**gradient**" in embed["description"] or "**Gradient**" in embed["description"]
    assert embed["title"] == "Search: gradient"
    # Paging goes on with the corrected words.
    click = await emulator.click(message, label="Next")
    await click.wait_callback(timeout=3.0)
    await emulator.wait_for(lambda: "page 2" in message.embed["footer"]["text"])  # type: ignore[index]


async def test_similar_command_lists_papers_and_opens_one(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    message = await (await emulator.slash("/similar paper:1502.03167")).wait_reply(3.0)
    embed = message.embed
    assert embed is not None, message.content
    assert embed["title"].startswith("Similar to: Batch Normalization")
    lines = embed["description"].splitlines()
    assert 1 <= len(lines) <= 5
    assert lines[0].startswith("**1.** Layer Normalization · 1 summary")
    assert "Batch Normalization" not in embed["description"]  # never the paper itself
    options = select_menu(message)["options"]
    assert options[0]["label"] == "1. Layer Normalization"

    # Anyone may open one; the owner publicly, others privately.
    opened = await (await emulator.select(message, [options[0]["value"]])).wait_reply(3.0)
    assert opened.embed["title"] == "Layer Normalization"  # type: ignore[index]
    assert not opened.ephemeral
    mod = emulator.guild.member("mod")
    private = await (await emulator.select(message, [options[0]["value"]], member=mod)).wait_reply(
        3.0
    )
    assert private.ephemeral


async def test_the_similar_button_on_a_paper_card(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    card = await (await emulator.slash("/paper id:1502.03167")).wait_reply(3.0)
    clicked = await emulator.click(card, label="Similar")
    similar = await clicked.wait_reply(3.0)
    assert similar.embed is not None, similar.content
    assert similar.embed["title"].startswith("Similar to: Batch Normalization")
    assert not similar.ephemeral
    mod = emulator.guild.member("mod")
    theirs = await (await emulator.click(card, label="Similar", member=mod)).wait_reply(3.0)
    assert theirs.ephemeral and theirs.embed is not None


async def test_similar_never_shows_another_servers_summaries(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    other, _ = await add_other_guild_secret(emulator, running_bot)
    here = await (await emulator.slash("/similar paper:1706.03762")).wait_reply(3.0)
    assert SECRET_WORD not in here.text
    there = await (await emulator.slash("/similar paper:1706.03762", guild=other)).wait_reply(3.0)
    assert there.embed is not None, there.content


async def test_search_says_the_index_is_being_rebuilt_then_works(
    emulator: DiscordEmulator, start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await start_bot()
    await import_sample(bot)
    await bot.search.close()
    # The bot starts again without its index (deleted by hand, say); the rebuild is slow.
    index_path = bot.settings.resolved_search_index_path
    release = hold_index_builds(monkeypatch)
    shutil.rmtree(index_path)
    bot.search = SearchService(bot.db, index_path)
    await bot.search.start()
    try:
        reply = await (await emulator.slash("/search query:gradient")).wait_reply(3.0)
        assert reply.ephemeral
        assert re.search(r"being rebuilt \(\d+% done\)", reply.content), reply.content
        assert "Something went wrong" not in reply.content
        handle = await emulator.autocomplete("/search", "query", {"query": "atten"})
        await handle.wait_callback(3.0)
        assert handle.choices == []
        # A title typed in full still opens its paper (the database has it); a title not
        # found says why, rather than that there is no such paper.
        card = await (await emulator.slash("/paper id:attention is all  you need")).wait_reply(3.0)
        assert card.embed is not None and card.embed["title"] == "Attention Is All You Need"
        reply = await (await emulator.slash("/similar paper:Attention Is Al")).wait_reply(3.0)
        assert reply.ephemeral and "being rebuilt" in reply.content, reply.content
        release.set()
        await bot.search.wait_ready()
        message = await (await emulator.slash("/search query:gradient")).wait_reply(3.0)
        assert message.embed is not None
    finally:
        release.set()
        await bot.search.close()
