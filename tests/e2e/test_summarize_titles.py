"""`/summarize` with a typed title never creates a paper silently (issue 9, "Papers as
complete as ShortScience's paper page", last bullet).

The member types a title in the form and gets a private picker: the closest papers this
server may see, then arXiv's title search (the local fixture server, `search_query=ti:...`,
bodies in many chunks), then "a new paper titled ..." last. Choosing one shows the usual
preview with the member's text; the paper is stored at Publish only. An exact title of a
known paper skips the picker; arXiv down, a slow arXiv, an expired picker, Edit and Cancel
all keep the member's text; hostile titles reach arXiv as plain words.
"""

from __future__ import annotations

import pytest

from bot.bot import ShortScienceBot
from bot.config import Settings
from bot.storage.community import CommunityRepository
from tests.e2e.conftest import StartBot
from tests.e2e.test_community import (
    BATCH_NORM,
    cog,
    menu_options,
    modal_inputs,
    new_step,
    pick,
    preview,
    preview_new_paper,
    publish,
    settings,
    start_community_bot,
    summary_id_of,
    write,
)
from tests.emulator import Channel, DiscordEmulator, Guild, Member, Message
from tests.fixtures.arxiv import search
from tests.fixtures.arxiv.server import ArxivFixtureServer

__all__ = ["settings"]  # the fixture, used by name

TLDR = "Normalise over groups of channels."
BODY = "Unlike $\\mu_B$ of a batch, the statistics of **GN** do not depend on the batch size."


@pytest.fixture
async def bot(start_bot: StartBot, settings: Settings) -> ShortScienceBot:
    return await start_community_bot(start_bot, settings)


async def count(bot: ShortScienceBot, table: str) -> int:
    return int(await bot.db.fetchval("SELECT count(*) FROM " + table))


async def picker_for(
    emulator: DiscordEmulator, member: Member, title: str, channel: Channel | None = None
) -> Message:
    """Type `title` in the form (with the TL;DR and summary); the picker that comes back."""
    _, picker = await preview(emulator, member, title, tldr=TLDR, body=BODY, channel=channel)
    assert picker.ephemeral and picker.embeds == [], picker.text
    return picker


def labels(picker: Message) -> list[str]:
    return [option["label"] for option in menu_options(picker)]


def values(picker: Message) -> list[str]:
    return [option["value"] for option in menu_options(picker)]


async def other_server(emulator: DiscordEmulator, bot: ShortScienceBot) -> tuple[Guild, Member]:
    other = emulator.add_guild("Other Lab")
    other.add_text_channel("lobby")
    mallory = other.add_member("mallory")
    await bot.sync_commands(other.id)
    return other, mallory


async def test_a_title_offers_known_papers_then_arxiv_then_a_new_paper(
    emulator: DiscordEmulator, bot: ShortScienceBot, arxiv: ArxivFixtureServer
) -> None:
    guild = emulator.guild
    alice, mod = guild.member("alice"), guild.member("mod")
    bob = guild.add_member("bob")
    await write(emulator, alice, "1502.03167")  # Batch Normalization, known here now
    zoo = await preview_new_paper(emulator, mod, "Normalization Zoo")
    await publish(emulator, zoo, mod)
    papers_before = await count(bot, "papers")
    arxiv.requests.clear()
    arxiv.searches.clear()

    picker = await picker_for(emulator, bob, "normalization")
    assert "Which paper is **“normalization”**?" in picker.content
    assert "📚 2 papers known here · 📄 1 paper on arXiv" in picker.content
    assert "nothing is saved before you publish" in picker.content
    options = menu_options(picker)
    # Known papers first (the closest first), then arXiv's papers not already known here
    # (Batch Normalization is on arXiv too: listed once, as known), then a new paper.
    assert labels(picker) == [
        "Normalization Zoo",
        BATCH_NORM + " Covariate Shift",
        "Group Normalization",
        "A new paper titled “normalization”",
    ]
    assert [option["emoji"]["name"] for option in options] == ["📚", "📚", "📄", "➕"]
    assert options[1]["description"] == (
        "Known here · Sergey Ioffe and Christian Szegedy · 2015 · arXiv:1502.03167"
    )
    assert options[2]["description"] == "arXiv:1803.08494 · Yuxin Wu and Kaiming He · 2018"
    assert options[2]["value"] == "arxiv:1803.08494" and options[3]["value"] == "new"
    assert [b["label"] for b in picker.buttons] == ["Edit", "Cancel"]
    # One title search, by words of the title only, and nothing stored yet.
    assert [query for query, _ in arxiv.searches] == ['ti:"normalization"']
    assert await count(bot, "papers") == papers_before

    # arXiv's Group Normalization: the preview has arXiv's title and the member's text; the
    # paper comes from the search (no second request), and is stored when published.
    shown = await pick(emulator, picker, bob, "arxiv:1803.08494")
    assert shown.embed is not None and shown.embed["title"] == "Group Normalization"
    assert TLDR in shown.embed["description"]
    assert "Preview" in shown.embed["footer"]["text"]
    assert len(arxiv.requests) == 1
    assert await count(bot, "papers") == papers_before
    _, card = await publish(emulator, shown, bob)
    stored = await CommunityRepository(bot.db).get(summary_id_of(card))
    assert stored is not None and stored.tldr == TLDR and stored.body == BODY
    paper = await bot.db.fetchone(
        "SELECT arxiv_id, title, authors, year FROM papers WHERE id = ?", (stored.paper_id,)
    )
    assert paper is not None
    assert tuple(paper) == ("1803.08494", "Group Normalization", "Yuxin Wu, Kaiming He", 2018)
    assert await count(bot, "papers") == papers_before + 1

    # Another server sees none of this server's papers: only arXiv's, and a new one.
    other, mallory = await other_server(emulator, bot)
    lobby = other.channel("lobby")
    elsewhere = await picker_for(emulator, mallory, "normalization", channel=lobby)
    assert "Normalization Zoo" not in elsewhere.text and "📚" not in elsewhere.content
    assert values(elsewhere) == ["arxiv:1502.03167", "arxiv:1803.08494", "new"]


async def test_picking_a_known_paper_summarises_that_paper(
    emulator: DiscordEmulator, bot: ShortScienceBot, arxiv: ArxivFixtureServer
) -> None:
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    first = await write(emulator, alice, "1502.03167")
    paper_id = (await CommunityRepository(bot.db).get(summary_id_of(first))).paper_id  # type: ignore[union-attr]
    # Words of the title, not all of it and in another order: still the first choice.
    picker = await picker_for(
        emulator, mod, "Accelerating deep network training, batch normalisation"
    )
    assert values(picker)[0] == f"known:{paper_id}"
    shown = await pick(emulator, picker, mod, f"known:{paper_id}")
    assert shown.embed is not None and shown.embed["title"].startswith(BATCH_NORM)
    _, card = await publish(emulator, shown, mod)
    stored = await CommunityRepository(bot.db).get(summary_id_of(card))
    assert stored is not None and stored.paper_id == paper_id and stored.author_id == mod.id
    assert await count(bot, "papers") == 1


async def test_an_exact_title_of_a_known_paper_skips_the_picker(
    emulator: DiscordEmulator, bot: ShortScienceBot, arxiv: ArxivFixtureServer
) -> None:
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    await write(emulator, alice, "1502.03167")
    arxiv.requests.clear()
    typed = (
        "  batch normalization: ACCELERATING deep network training by   reducing internal "
        "covariate shift "
    )
    _, shown = await preview(emulator, mod, typed)
    assert shown.embed is not None and shown.embed["title"].startswith(BATCH_NORM)
    assert [b["label"] for b in shown.buttons] == ["Publish", "Edit", "Cancel"]
    assert arxiv.requests == []  # known, described: nothing to ask arXiv


async def test_a_new_paper_is_stored_at_publish_and_a_cancelled_flow_stores_nothing(
    emulator: DiscordEmulator, bot: ShortScienceBot, arxiv: ArxivFixtureServer
) -> None:
    alice = emulator.guild.member("alice")
    title = "A Field Guide to Reading Group Snacks"
    # Cancel at the picker.
    picker = await picker_for(emulator, alice, title)
    assert "Neither this server nor arXiv knows a paper with that title" in picker.content
    assert values(picker) == ["new"]
    cancelled = await emulator.click(picker, label="Cancel", member=alice)
    assert (await cancelled.wait_reply()).content == "Cancelled: nothing was saved."
    assert picker.buttons == [] and "new" not in str(picker.components)
    # Cancel at the preview of the new paper.
    shown = await preview_new_paper(emulator, alice, title)
    assert shown.embed is not None and shown.embed["title"] == title
    await (await emulator.click(shown, label="Cancel", member=alice)).wait_reply()
    assert (await count(bot, "papers"), await count(bot, "summaries")) == (0, 0)
    # Someone else's click on the picker is refused, privately.
    picker = await picker_for(emulator, alice, title)
    stranger = await emulator.select(picker, ["new"], member=emulator.guild.member("mod"))
    refusal = await stranger.wait_reply()
    assert refusal.ephemeral and "belong to the person who ran the command" in refusal.content
    # Published: one paper with the title as typed, no identifier.
    shown = await pick(emulator, picker, alice, "new")
    _, card = await publish(emulator, shown, alice)
    stored = await CommunityRepository(bot.db).get(summary_id_of(card))
    assert stored is not None and stored.paper_title == title
    assert await bot.db.fetchval("SELECT arxiv_id FROM papers") is None
    assert (await count(bot, "papers"), await count(bot, "summaries")) == (1, 1)


@pytest.mark.parametrize("fault", ["outage", "timeout"])
async def test_arxiv_down_still_lets_the_member_continue(
    emulator: DiscordEmulator, bot: ShortScienceBot, arxiv: ArxivFixtureServer, fault: str
) -> None:
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    await write(emulator, alice, "1502.03167")
    if fault == "outage":
        arxiv.outage_status = 503
        reason = "arXiv answered HTTP 503"
    else:
        arxiv.hang_searches = True
        cog(bot).service.titles.arxiv_patience = 0.5
        reason = "arXiv did not answer within 0.5 s"
    picker = await picker_for(emulator, mod, "Batch Normalization for Everyone")
    assert f"arXiv could not be searched just now ({reason})" in picker.content
    assert "press **Edit** and give its arXiv id or link" in picker.content
    assert [option["emoji"]["name"] for option in menu_options(picker)] == ["📚", "➕"]
    shown = await pick(emulator, picker, mod, "new")
    assert shown.embed is not None
    assert shown.embed["title"] == "Batch Normalization for Everyone"
    _, card = await publish(emulator, shown, mod)
    stored = await CommunityRepository(bot.db).get(summary_id_of(card))
    assert stored is not None and stored.tldr == TLDR and stored.body == BODY


async def test_an_expired_picker_hands_the_text_back(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    cog(bot).picker_timeout = 0.5
    picker = await picker_for(emulator, alice, "Group Normalization")
    await emulator.wait_for(lambda: "expired" in picker.content, timeout=5)
    assert "nothing was published" in picker.content
    assert [b["label"] for b in picker.buttons] == ["Edit and try again"]
    assert [a.filename for a in picker.attachments] == ["your-summary.md"]
    assert picker.attachments[0].data.decode() == f"TL;DR: {TLDR}\n\n{BODY}\n"
    reopened = await emulator.click(picker, label="Edit and try again", member=alice)
    await reopened.wait_modal()
    inputs = modal_inputs(reopened)
    assert inputs["paper"]["value"] == "Group Normalization"
    assert (inputs["tldr"]["value"], inputs["body"]["value"]) == (TLDR, BODY)
    assert (await count(bot, "papers"), await count(bot, "summaries")) == (0, 0)


async def test_edit_at_the_picker_and_at_the_preview_keep_the_text_and_the_choice(
    emulator: DiscordEmulator, bot: ShortScienceBot, arxiv: ArxivFixtureServer
) -> None:
    alice = emulator.guild.member("alice")
    picker = await picker_for(emulator, alice, "Group Normalisation")  # not arXiv's spelling
    assert values(picker) == ["new"]
    edit = await emulator.click(picker, label="Edit", member=alice)
    await edit.wait_modal()
    inputs = modal_inputs(edit)
    assert (inputs["paper"]["value"], inputs["tldr"]["value"]) == ("Group Normalisation", TLDR)
    resubmitted = await emulator.submit_modal(
        edit, {"paper": "Group Normalization", "tldr": TLDR, "body": BODY}
    )
    second = await new_step(resubmitted)
    assert "Replaced by your edited version below." in picker.content and picker.buttons == []
    assert values(second) == ["arxiv:1803.08494", "new"]
    shown = await pick(emulator, second, alice, "arxiv:1803.08494")

    # Edit at the preview: the form names the chosen paper, and keeps it without asking.
    searches = len(arxiv.searches)
    again = await emulator.click(shown, label="Edit", member=alice)
    await again.wait_modal()
    assert modal_inputs(again)["paper"]["value"] == "arXiv:1803.08494"
    edited = await emulator.submit_modal(
        again, {"paper": "arXiv:1803.08494", "tldr": "Groups, not batches.", "body": BODY}
    )
    third = await new_step(edited)
    assert third.embed is not None and third.embed["title"] == "Group Normalization"
    assert "Groups, not batches." in third.embed["description"]
    assert len(arxiv.searches) == searches
    _, card = await publish(emulator, third, alice)
    stored = await CommunityRepository(bot.db).get(summary_id_of(card))
    assert stored is not None and stored.tldr == "Groups, not batches."
    assert await count(bot, "papers") == 1


@pytest.mark.parametrize(
    "hostile",
    [
        'Attention" OR au:Vaswani ANDNOT ti:"need',
        "ti:x AND au:Vaswani) OR (all:attention",
        "Align AND Translate (OR ANDNOT) au:*",
    ],
)
async def test_hostile_titles_reach_arxiv_as_plain_title_words(
    emulator: DiscordEmulator, bot: ShortScienceBot, arxiv: ArxivFixtureServer, hostile: str
) -> None:
    alice = emulator.guild.member("alice")
    picker = await picker_for(emulator, alice, hostile)
    assert "arXiv could not be searched" not in picker.content
    [(query, node)] = arxiv.searches
    assert node is not None, query  # arXiv could read it
    assert {term.field for term in search.terms(node)} == {"ti"}
    assert set(search.operators(node)) <= {"AND", "OR"}
    assert values(picker)[-1] == "new"


async def test_the_message_menu_takes_a_title_when_no_link_is_found(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    general = emulator.guild.channel("general")
    message = await emulator.post_user_message(
        general, alice, "Tonight: the one about groups https://example.org/group-norm"
    )
    # Discord's link preview of the page (no paper identifier in it).
    message.payload["embeds"] = [
        {"type": "link", "url": "https://example.org/group-norm", "title": "Group Normalization"}
    ]
    menu = await emulator.message_command("Summarize this paper", message, member=alice)
    await menu.wait_modal()
    assert modal_inputs(menu)["paper"]["value"] == "Group Normalization"
    submitted = await emulator.submit_modal(
        menu, {"paper": "Group Normalization", "tldr": TLDR, "body": BODY}
    )
    picker = await submitted.wait_reply()
    assert values(picker) == ["arxiv:1803.08494", "new"]
    shown = await pick(emulator, picker, alice, "arxiv:1803.08494")
    _, card = await publish(emulator, shown, alice)
    stored = await CommunityRepository(bot.db).get(summary_id_of(card))
    assert stored is not None and stored.paper_title == "Group Normalization"


async def test_a_known_paper_gone_meanwhile_is_refused_and_the_picker_stays(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    zoo = await preview_new_paper(emulator, mod, "Normalization Zoo")
    _, card = await publish(emulator, zoo, mod)
    picker = await picker_for(emulator, alice, "Normalization Zoos")
    [known] = [value for value in values(picker) if value.startswith("known:")]
    # Its only summary is deleted before Alice chooses: the paper is no longer known here.
    deleted = await emulator.slash(f"/summary delete id:{summary_id_of(card)}", member=mod)
    await deleted.wait_reply()
    chosen = await emulator.select(picker, [known], member=alice)
    refusal = await chosen.wait_followup()
    assert refusal.ephemeral and "no longer known in this server" in refusal.content
    assert values(picker)[-1] == "new"  # still there to choose from
    shown = await pick(emulator, picker, alice, "new")
    assert shown.embed is not None and shown.embed["title"] == "Normalization Zoos"
