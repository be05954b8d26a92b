"""Issue 13: interactions work whichever bot process receives them.

Each test creates a message (or opens a form) with one bot, stops that bot, starts another
on the same database, and clicks, chooses or submits there: the emulator keeps the
messages, the new bot has nothing in memory but what it loaded. The last test does the same
with the real entry point (`python -m bot run`) killed with SIGKILL between the preview and
Publish. Every test runs on both engines (on PostgreSQL, the processes share a database
server as several bot processes would).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.bot import ShortScienceBot
from bot.config import Settings
from bot.papers import PaperId
from bot.storage import Database
from bot.storage.community import CommunityRepository
from bot.storage.feeds import SubscriptionRepository
from bot.storage.papers import PaperRepository
from tests.e2e.conftest import SpawnBot, StartBot
from tests.e2e.search_seed import (
    add_community_summary,
    add_long_summary,
    import_sample,
    interactive_components,
    select_menu,
)
from tests.e2e.test_community import (
    cog,
    menu_options,
    modal_inputs,
    new_step,
    open_form,
    preview,
    publish,
    score,
    settings,
    start_community_bot,
    summary_id_of,
    write,
)
from tests.e2e.test_search_commands import footer_numbers, ranks
from tests.e2e.test_summary_command import page_of
from tests.emulator import DiscordEmulator, Message
from tests.emulator.botharness import make_settings
from tests.feedserver import FeedServer, feed_server
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.unit.announce.test_poller import Item, shortscience_rss

__all__ = ["feed_server", "settings"]  # fixtures, used by name

DATABASE_ENGINES = ("sqlite", "postgresql")

TLDR = "Normalise over groups of channels."
BODY = "Unlike $\\mu_B$ of a batch, the statistics of **GN** do not depend on the batch size."


async def next_process(
    start_bot: StartBot, settings: Settings, running: ShortScienceBot
) -> ShortScienceBot:
    """Stop the running bot (its timers and memory go with it) and start another one on the
    same database."""
    await running.close()
    assert running.is_closed()
    return await start_community_bot(start_bot, settings)


async def click_and_wait(emulator: DiscordEmulator, message: Message, **click: Any) -> None:
    handle = await emulator.click(message, **click)
    await handle.wait_callback()


# --- reading: a summary's pages, result lists, paper cards -----------------------------------


async def test_summary_pages_turn_in_another_process(
    emulator: DiscordEmulator, start_bot: StartBot, settings: Settings
) -> None:
    first = await start_community_bot(start_bot, settings)
    await import_sample(first)
    summary_id = await add_long_summary(first)
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    message = await (
        await emulator.slash(f"/summary view id:{summary_id}", member=alice)
    ).wait_reply(10.0)
    _, pages = page_of(message)
    assert pages >= 3

    await next_process(start_bot, settings, first)
    # Alice, for whom the message was made, turns it to page 2.
    await click_and_wait(emulator, message, label="Next", member=alice)
    await emulator.wait_for(lambda: page_of(message)[0] == 2)
    # Mod gets a private copy of page 3; Alice's message stays at page 2.
    copy = await (await emulator.click(message, label="Next", member=mod)).wait_reply(5.0)
    assert copy.ephemeral and page_of(copy) == (3, pages)
    assert page_of(message)[0] == 2
    download = await (await emulator.click(message, label="Download .md", member=mod)).wait_reply()
    assert download.ephemeral and download.attachments[0].filename == f"summary-{summary_id}.md"


async def test_search_and_latest_page_and_open_results_in_another_process(
    emulator: DiscordEmulator, start_bot: StartBot, settings: Settings
) -> None:
    first = await start_community_bot(start_bot, settings)
    await import_sample(first)
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    results = await (await emulator.slash("/search query:gradient", member=alice)).wait_reply(3.0)
    assert ranks(results) == [1, 2, 3, 4, 5]
    latest = await (await emulator.slash("/latest count:8", member=alice)).wait_reply(3.0)
    assert ranks(latest) == [1, 2, 3, 4, 5]

    await next_process(start_bot, settings, first)
    # The query and its filters come from the database: page 2 of the same search.
    await click_and_wait(emulator, results, label="Next", member=alice)
    await emulator.wait_for(lambda: footer_numbers(results)[2] == 2)
    assert ranks(results)[0] == 6 and results.embed["title"] == "Search: gradient"  # type: ignore[index]
    await click_and_wait(emulator, latest, label="Next", member=alice)
    await emulator.wait_for(lambda: ranks(latest) == [6, 7, 8])
    # Someone else pages in a private copy; opening a result answers them privately too.
    copy = await (await emulator.click(results, label="Prev", member=mod)).wait_reply(3.0)
    assert copy.ephemeral and ranks(copy) == [1, 2, 3, 4, 5]
    option = select_menu(results)["options"][0]
    private = await (await emulator.select(results, [option["value"]], member=mod)).wait_reply()
    assert private.ephemeral and f"#{option['value']}" in private.embed["footer"]["text"]  # type: ignore[index]
    public = await (await emulator.select(results, [option["value"]], member=alice)).wait_reply()
    assert not public.ephemeral


async def test_paper_card_controls_work_in_another_process(
    emulator: DiscordEmulator, start_bot: StartBot, settings: Settings
) -> None:
    first = await start_community_bot(start_bot, settings)
    await import_sample(first)
    paper = await PaperRepository(first.db).find(PaperId("arxiv", "1502.03167"))
    assert paper is not None
    await PaperRepository(first.db).update(paper.id, abstract="A long abstract. " * 120)
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    card = await (await emulator.slash("/paper id:1502.03167", member=alice)).wait_reply(3.0)
    similar = await (await emulator.slash("/similar paper:1502.03167", member=alice)).wait_reply()

    await next_process(start_bot, settings, first)
    # More belongs to Alice: from Discord's record of whom the card was made for.
    refused = await (await emulator.click(card, label="More", member=mod)).wait_reply()
    assert refused.ephemeral and "belong to the person who ran the command" in refused.content
    await click_and_wait(emulator, card, label="More", member=alice)
    await emulator.wait_for(lambda: card.find_component(type=2, label="Less"))
    option = select_menu(card)["options"][0]
    opened = await (await emulator.select(card, [option["value"]], member=mod)).wait_reply()
    assert opened.ephemeral and opened.embed is not None
    theirs = await (await emulator.click(card, label="Similar", member=mod)).wait_reply(3.0)
    assert theirs.ephemeral and theirs.embed["title"].startswith("Similar to:")  # type: ignore[index]
    # The /similar list made by the first process opens a paper's card in this one.
    choice = select_menu(similar)["options"][0]
    shown = await (await emulator.select(similar, [choice["value"]], member=alice)).wait_reply()
    assert not shown.ephemeral and shown.embed["title"] == "Layer Normalization"  # type: ignore[index]


async def test_an_expired_result_list_says_so_in_another_process(
    emulator: DiscordEmulator, start_bot: StartBot, settings: Settings
) -> None:
    """The process that would have removed the controls stopped: a click after the list
    expired is answered, clearly, and the controls go."""
    first = await start_community_bot(start_bot, settings)
    await import_sample(first)
    results = await (await emulator.slash("/search query:gradient")).wait_reply(3.0)
    second = await next_process(start_bot, settings, first)
    search = second.get_cog("Search")
    assert search is not None
    search.clock = lambda: time.time() + 3600  # type: ignore[attr-defined]
    clicked = await emulator.click(results, label="Next")
    told = await clicked.wait_followup()
    assert told.ephemeral and "These results expired: run `/search` again" in told.content
    assert not interactive_components(results) and ranks(results) == [1, 2, 3, 4, 5]


# --- writing: forms, the paper picker, previews, votes -----------------------------------------


async def test_a_form_opened_by_one_process_is_submitted_to_another(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    settings: Settings,
    arxiv: ArxivFixtureServer,
) -> None:
    first = await start_community_bot(start_bot, settings)
    alice = emulator.guild.member("alice")
    opened = await open_form(emulator, alice, "1502.03167")
    paragraphs = [f"Paragraph {i}: " + "the layer statistics drift. " * 30 for i in range(12)]
    body = "\n\n".join(paragraphs)
    upload = emulator.upload_attachment("batchnorm.md", body.encode())
    with_file = await open_form(emulator, alice, "1706.03762", file=upload)
    assert set(modal_inputs(with_file)) == {"paper", "tldr"}

    second = await next_process(start_bot, settings, first)
    submitted = await emulator.submit_modal(
        opened, {"paper": "1502.03167", "tldr": "Per batch.", "body": "Short."}
    )
    shown = await submitted.wait_reply()
    assert shown.embed is not None and "Per batch." in shown.embed["description"]
    # The file is fetched by the process that receives the form.
    from_file = await emulator.submit_modal(with_file, {"paper": "1706.03762", "tldr": "Long."})
    long_preview = await from_file.wait_reply()
    assert "page 1 of" in long_preview.embed["footer"]["text"]  # type: ignore[index]
    _, card = await publish(emulator, long_preview, alice)
    stored = await CommunityRepository(second.db).get(summary_id_of(card))
    assert stored is not None and stored.body == body


async def test_a_preview_made_by_one_process_is_paged_edited_and_published_by_another(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    settings: Settings,
    arxiv: ArxivFixtureServer,
) -> None:
    first = await start_community_bot(start_bot, settings)
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    long_body = "\n\n".join(f"Part {i}: " + "words about batches. " * 55 for i in range(3))
    _, shown = await preview(emulator, alice, "1502.03167", tldr="First.", body=long_body)
    _, cancelled = await preview(emulator, alice, "1706.03762")
    asked = len(arxiv.requests)

    second = await next_process(start_bot, settings, first)
    # Someone else's click is refused: the draft's owner is kept with it.
    stranger = await emulator.click(shown, label="Publish", member=mod)
    assert "belong to the person who ran the command" in (await stranger.wait_reply()).content
    await click_and_wait(emulator, shown, label="Next ▶", member=alice)
    await emulator.wait_for(lambda: "page 2 of" in shown.embed["footer"]["text"])  # type: ignore[index]
    # Edit: the form comes with the text kept in the database; the new preview replaces it.
    edit = await emulator.click(shown, label="Edit", member=alice)
    await edit.wait_modal()
    assert modal_inputs(edit)["tldr"]["value"] == "First."
    third = await next_process(start_bot, settings, second)
    resubmitted = await emulator.submit_modal(
        edit, {"paper": "1502.03167", "tldr": "Second.", "body": "Shorter now."}
    )
    again = await new_step(resubmitted)
    assert "Replaced by your edited version below." in shown.content and shown.buttons == []
    assert "Second." in again.embed["description"]  # type: ignore[index]
    clicked, card = await publish(emulator, again, alice)
    await clicked.wait_for(
        lambda h: h.message is not None and h.message.content.startswith("Published: summary #")
    )
    stored = await CommunityRepository(third.db).get(summary_id_of(card))
    assert stored is not None and stored.tldr == "Second." and stored.body == "Shorter now."
    assert len(arxiv.requests) == asked  # the paper as previewed: arXiv is not asked again
    assert await third.db.fetchval("SELECT count(*) FROM summaries") == 1

    gone = await emulator.click(cancelled, label="Cancel", member=alice)
    assert (await gone.wait_reply()).content == "Cancelled: nothing was saved."


async def test_the_paper_picker_answers_in_another_process_and_an_expired_one_hands_text_back(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    settings: Settings,
    arxiv: ArxivFixtureServer,
) -> None:
    first = await start_community_bot(start_bot, settings)
    alice = emulator.guild.member("alice")
    _, picker = await preview(emulator, alice, "Group Normalization", tldr=TLDR, body=BODY)
    _, stale = await preview(emulator, alice, "Group Normalisation", tldr=TLDR, body=BODY)
    assert [o["value"] for o in menu_options(picker)] == ["arxiv:1803.08494", "new"]

    second = await next_process(start_bot, settings, first)
    chosen = await emulator.select(picker, ["arxiv:1803.08494"], member=alice)
    await chosen.wait_callback()
    await emulator.wait_for(lambda: "Publish" in [b.get("label") for b in picker.buttons])
    assert picker.embed is not None and picker.embed["title"] == "Group Normalization"
    _, card = await publish(emulator, picker, alice)
    stored = await CommunityRepository(second.db).get(summary_id_of(card))
    assert stored is not None and stored.tldr == TLDR and stored.body == BODY

    # The other picker expired while no process was there to hand the text back: the next
    # click does it.
    cog(second).clock = lambda: time.time() + 3600
    late = await emulator.select(stale, ["new"], member=alice)
    await late.wait_callback()
    await emulator.wait_for(lambda: "expired" in stale.content)
    assert "nothing was published" in stale.content
    assert [b["label"] for b in stale.buttons] == ["Edit and try again"]
    assert stale.attachments[0].data.decode() == f"TL;DR: {TLDR}\n\n{BODY}\n"
    reopened = await emulator.click(stale, label="Edit and try again", member=alice)
    await reopened.wait_modal()
    inputs = modal_inputs(reopened)
    assert (inputs["paper"]["value"], inputs["tldr"]["value"]) == ("Group Normalisation", TLDR)


async def test_an_edit_preview_is_saved_by_another_process(
    emulator: DiscordEmulator, start_bot: StartBot, settings: Settings
) -> None:
    first = await start_community_bot(start_bot, settings)
    alice = emulator.guild.member("alice")
    card = await write(emulator, alice)
    summary_id = summary_id_of(card)
    opened = await emulator.slash(f"/summary edit id:{summary_id}", member=alice)
    await opened.wait_modal()

    second = await next_process(start_bot, settings, first)
    submitted = await emulator.submit_modal(opened, {"tldr": "Edited.", "body": "New text."})
    shown = await submitted.wait_reply()
    assert shown.embed is not None and shown.embed["footer"]["text"].startswith("Preview of")
    third = await next_process(start_bot, settings, second)
    saved = await emulator.click(shown, label="Save changes", member=alice)
    await saved.wait_for(
        lambda h: h.message is not None and h.message.content.startswith("Saved your changes")
    )
    stored = await CommunityRepository(third.db).get(summary_id)
    assert stored is not None and stored.tldr == "Edited." and stored.body == "New text."


async def test_votes_on_a_card_posted_by_one_process_are_counted_by_another(
    emulator: DiscordEmulator, start_bot: StartBot, settings: Settings
) -> None:
    first = await start_community_bot(start_bot, settings)
    card = await write(emulator, emulator.guild.member("alice"))
    await next_process(start_bot, settings, first)
    vote = await emulator.click(
        card, custom_id=f"ss:vote:{summary_id_of(card)}:up", member=emulator.guild.member("mod")
    )
    assert "You voted 👍" in (await vote.wait_followup()).content
    assert score(card) == "▲ 1"


async def test_mysummaries_pages_in_another_process(
    emulator: DiscordEmulator, start_bot: StartBot, settings: Settings
) -> None:
    first = await start_community_bot(start_bot, settings)
    alice = emulator.guild.member("alice")
    papers = PaperRepository(first.db)
    for number in range(80):
        paper = await papers.find_or_create(
            [PaperId("arxiv", f"2401.{number:05d}")],
            title=f"A paper on reading groups and their many long titles, number {number}",
        )
        await add_community_summary(
            first,
            guild_id=emulator.guild.id,
            paper_id=paper.id,
            author_id=alice.id,
            author_name="Alice",
            body="Text.",
        )
    mine = await (await emulator.slash("/mysummaries", member=alice)).wait_reply()
    assert "page 1 of" in mine.embed["footer"]["text"]  # type: ignore[index]

    await next_process(start_bot, settings, first)
    await click_and_wait(emulator, mine, label="Next ▶", member=alice)
    await emulator.wait_for(lambda: "page 2 of" in mine.embed["footer"]["text"])  # type: ignore[index]


# --- feeds --------------------------------------------------------------------------------------


async def test_the_feeds_a_page_links_to_are_chosen_in_another_process(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    settings: Settings,
    feed_server: FeedServer,
) -> None:
    first = await start_community_bot(start_bot, settings)
    feed_url = feed_server.set_feed("ss", shortscience_rss([Item("old/1")]))
    page = (
        "<!DOCTYPE html><html><head><title>Blog</title>"
        '<link rel="alternate" type="application/rss+xml" title="Summaries" href="/dynamic/ss">'
        "</head><body>hi</body></html>"
    )
    page_url = feed_server.set_feed("page", page, content_type="text/html; charset=utf-8")
    mod = emulator.guild.member("mod")
    offered = await (
        await emulator.slash(f"/feed add url:{page_url} channel:#papers", member=mod)
    ).wait_reply(15)
    assert "links to 1 feed" in offered.content

    second = await next_process(start_bot, settings, first)
    refused = await emulator.select(offered, ["0"], member=emulator.guild.member("alice"))
    assert "belong to the person who ran the command" in (await refused.wait_reply()).content
    chosen = await emulator.select(offered, ["0"], member=mod)
    await chosen.wait_for(
        lambda h: h.original is not None and "Subscribed" in h.original.content, timeout=15
    )
    subscriptions = await SubscriptionRepository(second.db).for_guild(emulator.guild.id)
    assert [s.feed.url for s in subscriptions] == [feed_url]


# --- the rate limit -----------------------------------------------------------------------------


async def test_the_rate_limit_is_one_limit_for_every_process(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    bot_database: str,
    arxiv: ArxivFixtureServer,
) -> None:
    limited = make_settings(
        emulator,
        bot_database,
        arxiv_api_url=arxiv.url,
        arxiv_min_interval=0,
        submissions_per_window=1,
        submission_window_seconds=600,
    )
    first = await start_community_bot(start_bot, limited)
    alice = emulator.guild.member("alice")
    _, kept = await preview(emulator, alice, "1706.03762")
    await write(emulator, alice)

    await next_process(start_bot, limited, first)
    # The publication counted by the first process counts here too.
    refused = await (await emulator.slash("/summarize", member=alice)).wait_reply()
    assert refused.ephemeral and "You can publish 1 summary per 10 minutes" in refused.content
    late = await emulator.click(kept, label="Publish", member=alice)
    told = await late.wait_followup()
    assert "Your preview stays here" in told.content
    assert "Publish" in [b.get("label") for b in kept.buttons]


# --- the real entry point, killed -----------------------------------------------------------------


@pytest.mark.parametrize("action", ["Publish", "Next ▶"])
async def test_a_preview_survives_a_hard_kill_of_the_process_that_made_it(
    emulator: DiscordEmulator,
    spawn_bot: SpawnBot,
    arxiv: ArxivFixtureServer,
    bot_database: str,
    action: str,
) -> None:
    settings = {"arxiv_api_url": arxiv.url, "arxiv_min_interval": 0}
    first = await spawn_bot(**settings)
    alice = emulator.guild.member("alice")
    long_body = "\n\n".join(f"Part {i}: " + "words about batches. " * 55 for i in range(3))
    _, shown = await preview(emulator, alice, "1502.03167", tldr="Kept.", body=long_body)
    assert await first.kill() == -9

    await spawn_bot(**settings)
    if action == "Next ▶":
        await click_and_wait(emulator, shown, label=action, member=alice)
        await emulator.wait_for(lambda: "page 2 of" in shown.embed["footer"]["text"])  # type: ignore[index]
        return
    general = emulator.guild.channel("general")
    clicked = await emulator.click(shown, label="Publish", member=alice)
    await clicked.wait_for(
        lambda h: h.message is not None and h.message.content.startswith("Published"),
        timeout=15,
    )
    await emulator.wait_for_message(general, lambda m: bool(m.buttons), timeout=15)
    db = await Database.open(bot_database)
    try:
        assert await db.fetchval("SELECT tldr FROM summaries WHERE origin = 'community'") == (
            "Kept."
        )
    finally:
        await db.close()
