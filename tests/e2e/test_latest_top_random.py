"""`/latest`, `/top` and `/random`, and community summaries staying in their own guild."""

from __future__ import annotations

import re

from bot.bot import ShortScienceBot
from bot.papers import PaperId
from bot.storage.papers import PaperRepository
from bot.storage.summaries import SummaryRepository
from tests.e2e.search_seed import (
    SAMPLE_SUMMARIES,
    SECRET_WORD,
    add_alice_summary,
    add_other_guild_secret,
    import_sample,
    select_menu,
)
from tests.emulator import DiscordEmulator, Message

RESULT_FOOTER = re.compile(r"Results (\d+)–(\d+) of (\d+) · page (\d+) of (\d+)")
HEADINGS = re.compile(r"^\*\*\d+\.\*\* \[([^\]]+)\]", re.MULTILINE)
# The line under each heading: author · score · (this server ·) date · #id
META_LINES = re.compile(r"^(?!\*\*|> ).+ · #\d+$", re.MULTILINE)


async def find_summary_time(bot: ShortScienceBot, paper_title: str) -> int:
    """The publication time (Unix seconds) of the summary of the paper with that title."""
    value = await bot.db.fetchval(
        "SELECT s.created_at FROM summaries AS s JOIN papers AS p ON p.id = s.paper_id "
        "WHERE p.title = ? ORDER BY s.created_at DESC LIMIT 1",
        (paper_title,),
    )
    assert value is not None, paper_title
    return int(value)


def titles(message: Message) -> list[str]:
    return HEADINGS.findall(message.embed["description"])  # type: ignore[index]


def footer(message: Message) -> str:
    return message.embed["footer"]["text"]  # type: ignore[index]


async def all_list_text(emulator: DiscordEmulator, message: Message) -> str:
    """The text of every page of a result list (pressing Next to the end)."""
    texts = [message.text]
    while True:
        try:
            button = message.find_component(label="Next")
        except LookupError:
            break
        if button.get("disabled"):
            break
        before = footer(message)
        click = await emulator.click(message, label="Next")
        await click.wait_callback(3.0)
        await emulator.wait_for(lambda b=before: footer(message) != b)
        texts.append(message.text)
    return "\n".join(texts)


async def test_latest_lists_the_newest_first(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    message = await (await emulator.slash("/latest")).wait_reply(3.0)
    assert message.embed["title"] == "Latest summaries"  # type: ignore[index]
    assert RESULT_FOOTER.search(footer(message)).groups() == ("1", "5", "10", "1", "2")  # type: ignore[union-attr]
    assert titles(message)[:2] == [
        "Deep Residual Learning for Image Recognition",  # 2021
        "Deep learning",  # 2019
    ]
    assert len(select_menu(message)["options"]) == 5
    # Each line says when the summary was published, relative to now ("3 years ago").
    metas = META_LINES.findall(message.embed["description"])  # type: ignore[index]
    assert len(metas) == 5 and all(re.search(r" · <t:\d+:R> · #\d+$", m) for m in metas)
    resnet = await find_summary_time(running_bot, "Deep Residual Learning for Image Recognition")
    assert f"<t:{resnet}:R>" in metas[0]

    message = await (await emulator.slash("/latest count:3")).wait_reply(3.0)
    assert len(titles(message)) == 3
    labels = {c.get("label") for c in message.buttons}
    assert "Next" not in labels and "Prev" not in labels

    opened = await (
        await emulator.select(message, [select_menu(message)["options"][0]["value"]])
    ).wait_reply(3.0)
    assert opened.embed["title"] == "Deep Residual Learning for Image Recognition"  # type: ignore[index]


async def test_top_ranks_by_score_within_the_period(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    message = await (await emulator.slash("/top period:all")).wait_reply(3.0)
    assert message.embed["title"] == "Top summaries ever"  # type: ignore[index]
    assert titles(message)[:3] == [
        "Adam: A Method for Stochastic Optimization",  # 15
        "Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
        "Covariate Shift",  # 12
        "Deep Residual Learning for Image Recognition",  # 9
    ]
    assert "▲ 15" in message.embed["description"]  # type: ignore[index]
    # Each line shows its publication date (a date reads best in a ranking).
    metas = META_LINES.findall(message.embed["description"])  # type: ignore[index]
    assert all(re.search(r" · <t:\d+:d> · #\d+$", m) for m in metas)
    adam = await find_summary_time(running_bot, "Adam: A Method for Stochastic Optimization")
    assert f"▲ 15 · <t:{adam}:d> ·" in metas[0]

    # The sample is years old: nothing in the last month (the default period)...
    reply = await (await emulator.slash("/top")).wait_reply(3.0)
    assert reply.ephemeral
    assert "No summaries were published here in the last month" in reply.content

    # ...until someone here writes one.
    await add_alice_summary(
        emulator,
        running_bot,
        arxiv_id="1607.06450",
        body="Layer norm, fresh from this week's reading group.",
    )
    message = await (await emulator.slash("/top period:week")).wait_reply(3.0)
    assert message.embed["title"] == "Top summaries of the last week"  # type: ignore[index]
    assert titles(message) == ["Layer Normalization"]
    assert "Alice" in message.embed["description"]  # type: ignore[index]


async def test_random_shows_a_whole_summary(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    seen = set()
    for _ in range(4):
        message = await (await emulator.slash("/random")).wait_reply(3.0)
        match = re.fullmatch(r"Summary #(\d+) · page 1 of 1", footer(message))
        assert match is not None, footer(message)
        assert 1 <= int(match.group(1)) <= SAMPLE_SUMMARIES
        seen.add(int(match.group(1)))
        assert message.find_component(label="Download .md")
    assert seen


async def test_an_empty_library_says_how_to_fill_it(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    for command in ("/latest", "/random", "/top period:all", "/top", "/search query:attention"):
        reply = await (await emulator.slash(command)).wait_reply(3.0)
        assert reply.ephemeral, command
        assert reply.content.startswith("The library is empty: there are no summaries"), command
        assert "`/feed add url:https://www.shortscience.org/rss.xml`" in reply.content
        assert "`shortscience-bot import https://www.shortscience.org/rss.xml`" in reply.content

    # Once there is something, the usual answers come back.
    await import_sample(running_bot)
    reply = await (await emulator.slash("/search query:zzzqqqxxy")).wait_reply(3.0)
    assert reply.content.startswith("No summaries match **zzzqqqxxy**")
    reply = await (await emulator.slash("/top")).wait_reply(3.0)
    assert "No summaries were published here in the last month" in reply.content


async def test_another_guilds_community_summary_never_appears(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    # One feed summary, then the other guild's: /random must always land on the first.
    paper = await PaperRepository(running_bot.db).find_or_create(
        [PaperId("arxiv", "1706.03762")], title="Attention Is All You Need"
    )
    feed = await SummaryRepository(running_bot.db).upsert_external(
        external_id="feed-1", body="Self-attention everywhere.", paper_id=paper.id, score=1
    )
    other, secret_id = await add_other_guild_secret(emulator, running_bot)
    assert secret_id > feed.summary_id

    for command in ("/latest count:25", "/top period:all", "/top period:week"):
        message = await (await emulator.slash(command)).wait_reply(3.0)
        text = await all_list_text(emulator, message)
        assert SECRET_WORD not in text and "Bob" not in text, command
        assert f"#{secret_id}" not in text
    for _ in range(8):
        message = await (await emulator.slash("/random")).wait_reply(3.0)
        assert footer(message) == f"Summary #{feed.summary_id} · page 1 of 1"
    reply = await (await emulator.slash(f"/summary view id:{secret_id}")).wait_reply(3.0)
    assert reply.ephemeral
    assert f"There is no summary #{secret_id} here" in reply.content
    paper_card = await (await emulator.slash("/paper id:1706.03762")).wait_reply(3.0)
    assert "Bob" not in paper_card.text and SECRET_WORD not in paper_card.text

    # Where it was written, it is there.
    there = await (await emulator.slash("/latest", guild=other)).wait_reply(3.0)
    assert SECRET_WORD in there.text
    there = await (await emulator.slash(f"/summary view id:{secret_id}", guild=other)).wait_reply(
        3.0
    )
    assert SECRET_WORD in there.embed["description"]  # type: ignore[index]
    assert there.embed["author"]["name"] == "Bob · ▲ 0 · written in this server"  # type: ignore[index]
