"""`/search`: ranked results five a page, paging, opening a result, hostile input, autocomplete."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any, cast

import pytest

from bot.bot import ShortScienceBot
from bot.papers import PaperId
from bot.search.query import MAX_PHRASES, analyze
from bot.storage.papers import PaperRepository
from bot.storage.summaries import SummaryRepository
from tests.e2e.search_seed import (
    GRADIENT_MATCHES,
    SECRET_WORD,
    add_alice_summary,
    add_other_guild_secret,
    import_sample,
    interactive_components,
    select_menu,
)
from tests.emulator import DiscordEmulator, Message

# Run on both engines (SQLite, and PostgreSQL on the session's server).
DATABASE_ENGINES = ("sqlite", "postgresql")

if TYPE_CHECKING:
    from cogs.search.cog import SearchCog

RESULT_FOOTER = re.compile(r"Results (\d+)–(\d+) · page (\d+)")
RANKS = re.compile(r"^\*\*(\d+)\.\*\* ", re.MULTILINE)

HOSTILE_QUERIES = [
    '"',
    '"unbalanced quote',
    'gradient "',
    "*",
    "gradient*",
    "-gradient",
    "- - -",
    "title:gradient",
    ":",
    "col:umn:s",
    "(",
    "(gradient OR",
    ")) ((",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "gradient AND",
    "NOT gradient",
    "NEAR(gradient descent, 2)",
    "gradient NEAR/3 descent",
    "🔥🚀 gradient 🧠",
    "🔥",
    "x" * 1000,
    "gradient " * 111,
    "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "^gradient",
    "{gradient}",
    "gradient\\",
    "'; DROP TABLE summaries; --",
    "\u0000\u200b\u202e",
]


def footer_numbers(message: Message) -> tuple[int, int, int]:
    embed = message.embed
    assert embed is not None
    match = RESULT_FOOTER.search(embed["footer"]["text"])
    assert match is not None, embed["footer"]
    return tuple(int(group) for group in match.groups())  # type: ignore[return-value]


def ranks(message: Message) -> list[int]:
    return [int(rank) for rank in RANKS.findall(message.embed["description"])]  # type: ignore[index]


def has_next(message: Message) -> bool:
    try:
        return not message.find_component(label="Next").get("disabled")
    except LookupError:
        return False


async def count_results(emulator: DiscordEmulator, message: Message) -> int:
    """How many results the search found: the last rank, after paging to the end."""
    while has_next(message):
        page = footer_numbers(message)[2]
        click = await emulator.click(message, label="Next")
        await click.wait_callback(timeout=3.0)
        await emulator.wait_for(lambda p=page: footer_numbers(message)[2] == p + 1)
    return ranks(message)[-1]


async def test_search_lists_five_results_a_page_with_bold_matches(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    interaction = await emulator.slash("/search query:gradient")
    message = await interaction.wait_reply(timeout=3.0)
    assert not message.ephemeral
    embed = message.embed
    assert embed is not None
    assert embed["title"] == "Search: gradient"
    assert footer_numbers(message) == (1, 5, 1)
    assert ranks(message) == [1, 2, 3, 4, 5]
    description = embed["description"]
    assert description.count("**gradient**") + description.count("**Gradient**") >= 5
    # Each result: a linked paper title, the author and score, a one-line excerpt.
    assert re.search(r"\*\*1\.\*\* \[[^\]]+\]\(https://www\.shortscience\.org/", description)
    assert re.search(r"· ▲ \d+ · #\d+", description)
    assert len(select_menu(message)["options"]) == 5
    assert message.find_component(label="Prev").get("disabled") is True
    assert not message.find_component(label="Next").get("disabled")


async def test_the_searcher_pages_through_results(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    message = await (await emulator.slash("/search query:gradient")).wait_reply(3.0)
    first_page = message.embed["description"]  # type: ignore[index]

    click = await emulator.click(message, label="Next")
    await click.wait_callback(timeout=3.0)
    assert click.callback_type == 7
    await emulator.wait_for(lambda: footer_numbers(message)[2] == 2)
    assert footer_numbers(message) == (6, GRADIENT_MATCHES, 2)
    assert ranks(message) == list(range(6, GRADIENT_MATCHES + 1))
    assert message.find_component(label="Next").get("disabled") is True
    assert len(select_menu(message)["options"]) == GRADIENT_MATCHES - 5
    second_options = {o["value"] for o in select_menu(message)["options"]}

    click = await emulator.click(message, label="Prev")
    await click.wait_callback(timeout=3.0)
    await emulator.wait_for(lambda: footer_numbers(message)[2] == 1)
    assert message.embed["description"] == first_page  # type: ignore[index]
    first_options = {o["value"] for o in select_menu(message)["options"]}
    assert not first_options & second_options


async def test_someone_else_pages_the_results_in_a_private_copy(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    """Paging that works for a group: Next from someone other than the searcher opens a
    private copy of the results at page 2 (it was a refusal); the searcher's message stays."""
    await import_sample(running_bot)
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    message = await (await emulator.slash("/search query:gradient", member=alice)).wait_reply(3.0)
    click = await emulator.click(message, label="Next", member=mod)
    copy = await click.wait_reply(timeout=3.0)
    assert copy.ephemeral
    assert footer_numbers(copy)[2] == 2 and ranks(copy)[0] == 6
    assert footer_numbers(message)[2] == 1
    assert message.edits == 0
    # The copy is Mod's: Mod pages it back in place.
    turn = await emulator.click(copy, label="Prev", member=mod)
    await turn.wait_callback(timeout=3.0)
    await emulator.wait_for(lambda: footer_numbers(copy)[2] == 1)
    assert message.edits == 0


async def test_the_select_menu_opens_a_result(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    message = await (await emulator.slash("/search query:adam", member=alice)).wait_reply(3.0)
    option = select_menu(message)["options"][0]
    assert option["label"].startswith("1. Adam")

    chosen = await emulator.select(message, [option["value"]], member=alice)
    opened = await chosen.wait_reply(timeout=3.0)
    assert not opened.ephemeral  # the searcher shows it to the channel
    assert opened.id != message.id
    embed = opened.embed
    assert embed is not None
    assert embed["title"] == "Adam: A Method for Stochastic Optimization"
    assert embed["footer"]["text"] == f"Summary #{option['value']} · page 1 of 1"
    assert "running averages" in embed["description"]

    # Anyone may open a result; they see it privately.
    chosen = await emulator.select(message, [option["value"]], member=mod)
    private = await chosen.wait_reply(timeout=3.0)
    assert private.ephemeral
    assert private.embed["title"] == embed["title"]  # type: ignore[index]


async def test_no_results_says_so_and_suggests_a_broader_query(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    reply = await (await emulator.slash("/search query:xylophone")).wait_reply(3.0)
    assert reply.ephemeral
    assert "No summaries match **xylophone**" in reply.content
    assert "fewer or more general words" in reply.content


async def test_a_query_of_too_many_words_says_which_were_searched(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    body = await running_bot.db.fetchval(
        "SELECT body FROM summaries WHERE body LIKE '%stochastic gradient descent%' LIMIT 1"
    )
    words = list(dict.fromkeys(analyze(body)))[:MAX_PHRASES]
    message = await (
        await emulator.slash("/search", options={"query": " ".join([*words, "xylophone"])})
    ).wait_reply(3.0)
    assert message.embed is not None, message.content
    note = f"Only the first {MAX_PHRASES} words were searched for: *{' '.join(words)}*."
    assert note in message.text, message.text


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=range(len(HOSTILE_QUERIES)))
async def test_hostile_input_never_errors(
    emulator: DiscordEmulator, running_bot: ShortScienceBot, query: str
) -> None:
    await import_sample(running_bot)
    interaction = await emulator.slash("/search", options={"query": query})
    reply = await interaction.wait_reply(timeout=3.0)
    assert "Something went wrong" not in reply.text
    assert (
        reply.embed is not None
        or "No summaries match" in reply.content
        or "has no words to search for" in reply.content
    ), reply.text


async def test_quoted_phrases_match_as_phrases(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    message = await (
        await emulator.slash("/search", options={"query": '"stochastic gradient descent"'})
    ).wait_reply(3.0)
    assert message.embed is not None, message.content
    assert ranks(message) == [1]
    assert "SGDR" in message.embed["description"]


async def test_filters_narrow_the_results(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    message = await (await emulator.slash("/search query:gradient author:udibr")).wait_reply(3.0)
    assert message.embed is not None, message.content
    assert ranks(message) == [1, 2, 3]  # Batch norm, Adam, Weight norm
    assert not has_next(message)
    assert "Filters: author udibr" in message.embed["description"]

    message = await (await emulator.slash("/search query:gradient year:2016")).wait_reply(3.0)
    assert message.embed is not None, message.content
    assert ranks(message) == [1, 2, 3]  # Layer norm, SGDR, Weight norm

    reply = await (await emulator.slash("/search query:gradient year:1999")).wait_reply(3.0)
    assert reply.ephemeral and "year 1999" in reply.content


async def test_origin_separates_feeds_from_community_summaries(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    await add_alice_summary(
        emulator,
        running_bot,
        arxiv_id="1412.6980",
        body="Our reading group's take: the gradient moments make Adam forgiving.",
    )
    message = await (await emulator.slash("/search query:gradient origin:community")).wait_reply(
        3.0
    )
    assert message.embed is not None, message.content
    assert ranks(message) == [1]
    assert "Alice" in message.embed["description"]
    assert "this server" in message.embed["description"]

    message = await (await emulator.slash("/search query:gradient origin:feeds")).wait_reply(3.0)
    assert await count_results(emulator, message) == GRADIENT_MATCHES
    assert "Alice" not in message.text
    message = await (await emulator.slash("/search query:gradient")).wait_reply(3.0)
    assert await count_results(emulator, message) == GRADIENT_MATCHES + 1


async def test_community_summaries_of_another_guild_never_appear(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    other, _ = await add_other_guild_secret(emulator, running_bot)

    reply = await (await emulator.slash(f"/search query:{SECRET_WORD}")).wait_reply(3.0)
    assert reply.ephemeral and "No summaries match" in reply.content
    message = await (await emulator.slash("/search query:attention")).wait_reply(3.0)
    assert SECRET_WORD not in message.text and "Bob" not in message.text

    # In its own guild it is found.
    there = await (await emulator.slash(f"/search query:{SECRET_WORD}", guild=other)).wait_reply(
        3.0
    )
    assert there.embed is not None, there.content
    assert SECRET_WORD in there.embed["description"]


async def test_query_autocomplete_suggests_at_most_25_titles(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    papers = PaperRepository(running_bot.db)
    summaries = SummaryRepository(running_bot.db)
    for number in range(30):
        paper = await papers.find_or_create(
            [PaperId("bibtex", f"conf/test/Zeta{number:02d}")], title=f"Zeta functions {number:02d}"
        )
        await summaries.upsert_external(
            external_id=f"zeta-{number}", body="About zeta functions.", paper_id=paper.id
        )

    choices = await (
        await emulator.autocomplete("/search", "query", {"query": "atten"})
    ).wait_choices(3.0)
    assert choices == [{"name": "Attention Is All You Need", "value": "Attention Is All You Need"}]

    choices = await (
        await emulator.autocomplete("/search", "query", {"query": "zeta"})
    ).wait_choices(3.0)
    assert len(choices) == 25
    assert all(c["value"].startswith("Zeta functions") for c in choices)

    # Nothing typed yet: recent papers, still at most 25.
    choices = await (await emulator.autocomplete("/search", "query", {"query": ""})).wait_choices(
        3.0
    )
    assert 0 < len(choices) <= 25

    # A long title is cut at a word to fit a choice value (100 characters).
    long_title = "Quite " * 30 + "Long"
    paper = await papers.find_or_create([PaperId("bibtex", "conf/test/Long")], title=long_title)
    await summaries.upsert_external(external_id="long", body="Long title.", paper_id=paper.id)
    choices = await (
        await emulator.autocomplete("/search", "query", {"query": "quite quite"})
    ).wait_choices(3.0)
    [choice] = choices
    assert len(choice["name"]) <= 100 and len(choice["value"]) <= 100
    assert choice["value"].endswith("Quite")


async def test_autocomplete_never_suggests_another_guilds_papers(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    papers = PaperRepository(running_bot.db)
    await papers.find_or_create([PaperId("arxiv", "1706.03762")], title="Attention Is All You Need")
    await add_other_guild_secret(emulator, running_bot)
    handle = await emulator.autocomplete("/search", "query", {"query": "atten"})
    await handle.wait_callback(3.0)
    assert handle.choices == []


async def test_search_controls_go_when_the_view_times_out(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    running_bot.get_cog("Search").view_timeout = 0.3  # type: ignore[union-attr]
    message = await (await emulator.slash("/search query:gradient")).wait_reply(3.0)
    assert interactive_components(message)
    await emulator.wait_for(lambda: not message.components, timeout=5.0)
    assert message.embed is not None  # the results stay


async def test_a_slow_search_is_deferred_then_answered(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    # (Not isinstance: reloading the extension elsewhere makes a new class object.)
    cog = cast("SearchCog", running_bot.get_cog("Search"))
    cog.slow_reply_seconds = 0.05
    search_page = cog.search_page

    async def slow_search_page(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.3)
        return await search_page(*args, **kwargs)

    cog.search_page = slow_search_page

    interaction = await emulator.slash("/search query:gradient")
    message = await interaction.wait_reply(timeout=3.0)
    assert interaction.callback_type == 5  # "thinking" first
    assert ranks(message) == [1, 2, 3, 4, 5]
    click = await emulator.click(message, label="Next")
    await click.wait_callback(timeout=3.0)
    assert click.callback_type == 6  # a deferred update, then the edit
    await emulator.wait_for(lambda: footer_numbers(message)[2] == 2)
    assert ranks(message)[0] == 6

    interaction = await emulator.slash("/search query:xylophone")
    reply = await interaction.wait_reply(timeout=3.0)
    assert "No summaries match **xylophone**" in reply.content
