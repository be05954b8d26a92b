"""Community summaries end to end: the real bot against the emulator and a local arXiv.

/summarize → modal → preview → publish; a file upload; the message context menu; a
resubmission; edit/delete/restore permissions; votes (withdraw, self-vote, after a restart);
export files that parse back; the rate limit; arXiv error entries and timeouts; a reading
session from start to reminder (time moved, not waited for) to digest; 200 members
submitting at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.bot import ShortScienceBot
from bot.community.export import parse_json_export, parse_markdown_export
from bot.config import Settings
from bot.enrichment.service import PaperEnricher
from bot.storage.community import CommunityRepository
from bot.storage.feeds import CommunityAnnounceRepository
from bot.storage.outbox import OutboxRepository
from bot.storage.summaries import SummaryRepository
from cogs.community.summaries import CommunityCog
from tests.e2e.conftest import StartBot
from tests.emulator import (
    Channel,
    DiscordEmulator,
    InteractionHandle,
    Member,
    Message,
    Permission,
)
from tests.emulator.botharness import make_settings
from tests.fixtures.arxiv.server import ArxivFixtureServer

# Run on both engines (SQLite, and PostgreSQL on the session's server).
DATABASE_ENGINES = ("sqlite", "postgresql")

# The feeds extension runs the outbox sender that posts cards; the search one answers Read.
EXTENSIONS = ("cogs.meta", "cogs.feeds", "cogs.community", "cogs.search")
BATCH_NORM = "Batch Normalization: Accelerating Deep Network Training by Reducing Internal"


@pytest.fixture
def settings(emulator: DiscordEmulator, bot_database: str, arxiv: ArxivFixtureServer) -> Settings:
    return make_settings(emulator, bot_database, arxiv_api_url=arxiv.url, arxiv_min_interval=0)


async def start_community_bot(start_bot: StartBot, settings: Settings) -> ShortScienceBot:
    """The bot with its background loops off (tests drive reminders and look-up retries
    themselves), except the outbox sender, which delivers the cards of published summaries."""
    bot = await start_bot(settings, extensions=EXTENSIONS, background_tasks=False)
    feeds = bot.get_cog("FeedsCog")
    assert feeds is not None
    feeds.start_sender()  # type: ignore[attr-defined]
    return bot


@pytest.fixture
async def bot(start_bot: StartBot, settings: Settings) -> ShortScienceBot:
    return await start_community_bot(start_bot, settings)


def cog(bot: ShortScienceBot) -> CommunityCog:
    # Not isinstance: unloading an extension drops its modules, so each bot start imports
    # the cog class afresh.
    found = bot.get_cog("Community")
    assert found is not None and type(found).__name__ == "CommunityCog"
    return found  # type: ignore[return-value]


def modal_inputs(handle: InteractionHandle) -> dict[str, dict[str, Any]]:
    assert handle.modal is not None
    inputs = {}
    for row in handle.modal["components"]:
        for component in row.get("components") or [row.get("component") or row]:
            if component.get("type") == 4:
                inputs[component["custom_id"]] = component
    return inputs


async def open_form(
    emulator: DiscordEmulator,
    member: Member,
    paper: str | None = None,
    *,
    channel: Channel | None = None,
    **options: Any,
) -> InteractionHandle:
    if paper is not None:
        options["paper"] = paper
    handle = await emulator.slash("/summarize", options=options, member=member, channel=channel)
    await handle.wait_callback()
    return handle


async def preview(
    emulator: DiscordEmulator,
    member: Member,
    paper: str,
    tldr: str = "Normalise layer inputs per mini-batch.",
    body: str = "Batch norm uses $\\mu_B$ and $\\sigma_B^2$ of each **mini-batch**.",
    channel: Channel | None = None,
) -> tuple[InteractionHandle, Message]:
    opened = await open_form(emulator, member, paper, channel=channel)
    assert opened.modal is not None, opened.describe()
    values = {"paper": paper, "tldr": tldr}
    if "body" in modal_inputs(opened):
        values["body"] = body
    submitted = await emulator.submit_modal(opened, values)
    return submitted, await submitted.wait_reply()


async def new_step(submitted: InteractionHandle) -> Message:
    """The message a submitted summary form brings. A form opened from a message (a
    preview's or the picker's Edit, Edit and try again) answers with a deferred update of
    that message, which then says it was replaced: its new step is a follow-up."""
    if submitted.source_message is not None:
        return await submitted.wait_followup()
    return await submitted.wait_reply()


def menu_options(message: Message) -> list[dict[str, Any]]:
    """The options of the one select menu on `message` (the paper picker's)."""
    menus = [c for c in message.iter_components() if c.get("type") == 3]
    assert len(menus) == 1, message.components
    return list(menus[0]["options"])


async def pick(emulator: DiscordEmulator, picker: Message, member: Member, value: str) -> Message:
    """Choose `value` in the paper picker; the same message then shows the preview."""
    chosen = await emulator.select(picker, [value], member=member)
    await chosen.wait_callback()
    await emulator.wait_for(
        lambda: (
            "Publish" in [b.get("label") for b in picker.buttons]
            or "Replace my summary" in [b.get("label") for b in picker.buttons]
        ),
        description="the preview in place of the picker",
    )
    return picker


async def preview_new_paper(
    emulator: DiscordEmulator, member: Member, title: str, **kwargs: Any
) -> Message:
    """/summarize with a title nobody knows: the picker, then "a new paper titled ..."."""
    _, picker = await preview(emulator, member, title, **kwargs)
    assert menu_options(picker)[-1]["value"] == "new", picker.components
    return await pick(emulator, picker, member, "new")


async def publish(
    emulator: DiscordEmulator, preview_message: Message, member: Member, label: str = "Publish"
) -> tuple[InteractionHandle, Message]:
    """Press Publish; return the press and the card the outbox then posts in the channel."""
    channel = preview_message.channel
    earlier = {message.id for message in emulator.messages(channel)}
    clicked = await emulator.click(preview_message, label=label, member=member)
    card = await emulator.wait_for_message(
        channel,
        lambda m: m.id not in earlier and f"<@{member.id}>" in m.content and bool(m.buttons),
        timeout=10,
    )
    return clicked, card


async def write(
    emulator: DiscordEmulator, member: Member, paper: str = "1502.03167", **kwargs: Any
) -> Message:
    _, shown = await preview(emulator, member, paper, **kwargs)
    _, card = await publish(emulator, shown, member)
    return card


async def command_reply(emulator: DiscordEmulator, line: str) -> Message:
    handle = await emulator.slash(line, member=emulator.guild.member("mod"))
    return await handle.wait_reply()


async def cog_sender_drained(bot: ShortScienceBot) -> None:
    """Wait until the outbox sender posted everything queued."""
    feeds = bot.get_cog("FeedsCog")
    assert feeds is not None
    await feeds.sender.drain()  # type: ignore[attr-defined]


def score(card: Message) -> str:
    """The score a card shows."""
    assert card.embed is not None
    return card.embed["fields"][0]["value"]


def summary_id_of(card: Message) -> int:
    button = next(b for b in card.buttons if b["custom_id"].startswith("ss:vote:"))
    return int(button["custom_id"].split(":")[2])


async def test_summarize_previews_then_publishes_and_announces_once(
    emulator: DiscordEmulator, bot: ShortScienceBot, arxiv: ArxivFixtureServer
) -> None:
    alice = emulator.guild.member("alice")
    papers = emulator.guild.channel("papers")
    await CommunityAnnounceRepository(bot.db).set(
        emulator.guild.id, papers.id, set_by=alice.id, now=0
    )
    opened = await open_form(emulator, alice, "https://arxiv.org/abs/1502.03167v3")
    inputs = modal_inputs(opened)
    assert set(inputs) == {"paper", "tldr", "body"}
    assert inputs["paper"]["value"] == "https://arxiv.org/abs/1502.03167v3"
    assert inputs["tldr"]["max_length"] == 300 and inputs["body"]["max_length"] == 4000

    submitted = await emulator.submit_modal(
        opened,
        {
            "paper": "https://arxiv.org/abs/1502.03167v3",
            "tldr": "Normalise each layer's inputs. @everyone",
            "body": "We compute $\\hat{x} = (x - \\mu_B) / \\sqrt{\\sigma_B^2 + \\epsilon}$.",
        },
    )
    shown = await submitted.wait_reply()
    assert shown.ephemeral
    embed = shown.embed
    assert embed is not None and embed["title"].startswith(BATCH_NORM)
    assert "Preview" in embed["footer"]["text"]
    assert "√" in embed["description"] and "\\sqrt" not in embed["description"]
    assert "@\u200beveryone" in embed["description"]
    assert [b["label"] for b in shown.buttons] == ["Publish", "Edit", "Cancel"]
    assert len(arxiv.requests) == 1

    clicked, card = await publish(emulator, shown, alice)
    assert not card.ephemeral and card.channel.name == "general"
    assert card.content == f"📝 <@{alice.id}> wrote a summary."
    # Nothing the bot posts of user text can ping: allowed mentions are none.
    posted = emulator.requests_matching("POST /channels/{channel_id}/messages")
    assert posted and all(r.json["allowed_mentions"] == {"parse": []} for r in posted)
    assert card.embed is not None and card.embed["title"].startswith(BATCH_NORM)
    assert card.embed["footer"]["text"] == "New community summary"
    assert [b.get("label") for b in card.buttons] == ["Read", "0", "0"]
    assert [b.get("emoji", {}).get("name") for b in card.buttons][1:] == ["👍", "👎"]
    await clicked.wait_for(
        lambda h: h.message is not None and h.message.content.startswith("Published"),
        what="the preview to say it was published",
    )
    published = clicked.message
    assert published is not None and published.content.startswith("Published: summary #")
    assert published.buttons == []
    # The preview's page ("Preview, not published yet") is gone with its buttons.
    assert published.embeds == [] and "not published yet" not in published.text

    summary_id = summary_id_of(card)
    stored = await CommunityRepository(bot.db).get(summary_id)
    assert stored is not None and stored.author_id == alice.id
    assert stored.tldr == "Normalise each layer's inputs. @everyone"
    # The card where it was written, the announcement in the /announce channel: one each.
    general = emulator.guild.channel("general")
    for channel in (general, papers):
        outbox = await OutboxRepository(bot.db).for_channel(channel.id)
        assert [(row.kind, row.summary_id) for row in outbox] == [("summary", summary_id)]
    announcement = await emulator.wait_for_message(papers, timeout=10)
    assert announcement.content == card.content
    assert [b.get("label") for b in announcement.buttons] == ["Read", "0", "0"]


async def test_publishing_in_the_announce_channel_posts_the_summary_once(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    """Issue 8, item 15: the card and the announcement are one message there, not two."""
    alice = emulator.guild.member("alice")
    papers = emulator.guild.channel("papers")
    await command_reply(emulator, "/announce channel channel:#papers")
    card = await write(emulator, alice, channel=papers)
    summary_id = summary_id_of(card)
    await cog_sender_drained(bot)
    posted = [m for m in emulator.messages(papers) if f"ss:vote:{summary_id}:up" in str(m.buttons)]
    assert posted == [card]


async def test_where_the_bot_may_not_post_the_card_comes_as_a_reply(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    """Members may run commands where the bot cannot post: the outbox could not deliver the
    card there (and would disable the channel), so it comes as a follow-up instead."""
    alice = emulator.guild.member("alice")
    general = emulator.guild.channel("general")
    general.permission_overwrites.append(
        {
            "id": str(emulator.bot_user.id),
            "type": 1,
            "allow": "0",
            "deny": str(Permission.SEND_MESSAGES),
        }
    )
    _, shown = await preview(emulator, alice, "1502.03167", channel=general)
    clicked = await emulator.click(shown, label="Publish", member=alice)
    card = await clicked.wait_followup(timeout=10)
    assert card.content == f"📝 <@{alice.id}> wrote a summary."
    assert [b.get("label") for b in card.buttons] == ["Read", "0", "0"]
    await cog_sender_drained(bot)
    assert await OutboxRepository(bot.db).for_channel(general.id) == []
    assert emulator.requests_matching(f"POST /channels/{general.id}/messages") == []


async def test_a_published_summary_is_found_by_the_very_next_search(
    emulator: DiscordEmulator, start_bot: StartBot, settings: Settings
) -> None:
    """Publish waits for the search index: the next command already finds the summary,
    and after a delete the next one no longer does."""
    await start_community_bot(start_bot, settings)
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    card = await write(emulator, alice, body="Our notes on the quixotic normaliser.")
    summary_id = summary_id_of(card)
    found = await (await emulator.slash("/search query:quixotic", member=mod)).wait_reply(3.0)
    assert found.embed is not None, found.content
    assert f"#{summary_id}" in found.embed["description"]
    assert "**quixotic**" in found.embed["description"]
    deleted = await emulator.slash(f"/summary delete id:{summary_id}", member=alice)
    await deleted.wait_reply(3.0)
    gone = await (await emulator.slash("/search query:quixotic", member=mod)).wait_reply(3.0)
    # Nothing is left to find (the library is empty again, and says so).
    assert gone.ephemeral and gone.embed is None and f"#{summary_id}" not in gone.content


async def test_a_second_publish_press_publishes_nothing_more(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    """Publish takes the draft in the database before anything else, so a second press
    (a double click, or one handled by another process) finds it taken or published."""
    alice = emulator.guild.member("alice")
    _, shown = await preview(emulator, alice, "1706.03762")
    # Hold the edit that removes the preview's buttons: they can still be pressed meanwhile.
    emulator.faults.delay("PATCH /webhooks/{app}/{token}/messages/@original", 1.0, times=1)
    first = await emulator.click(shown, label="Publish", member=alice)
    await first.wait_callback()
    second = await emulator.click(shown, label="Publish", member=alice)
    refusal = await second.wait_followup()
    assert refusal.ephemeral
    assert "already being published" in refusal.content or "already published" in refusal.content
    await first.wait_for(
        lambda h: h.message is not None and h.message.content.startswith("Published")
    )
    assert await bot.db.fetchval("SELECT count(*) FROM summaries") == 1


async def test_an_expired_preview_hands_the_text_back(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    cog(bot).preview_timeout = 0.5
    _, shown = await preview(emulator, alice, "1706.03762", tldr="Kept.", body="All of it.")
    await emulator.wait_for(lambda: "expired" in shown.content, timeout=5)
    assert "This preview expired and nothing was published" in shown.content
    assert shown.embeds == [] and [b["label"] for b in shown.buttons] == ["Edit and try again"]
    assert shown.attachments[0].data.decode() == "TL;DR: Kept.\n\nAll of it.\n"
    reopened = await emulator.click(shown, label="Edit and try again", member=alice)
    await reopened.wait_modal()
    inputs = modal_inputs(reopened)
    assert (inputs["tldr"]["value"], inputs["body"]["value"]) == ("Kept.", "All of it.")
    assert inputs["paper"]["value"] == "1706.03762"
    assert await bot.db.fetchval("SELECT count(*) FROM summaries") == 0


async def test_cancel_saves_nothing(emulator: DiscordEmulator, bot: ShortScienceBot) -> None:
    alice = emulator.guild.member("alice")
    _, shown = await preview(emulator, alice, "1706.03762")
    clicked = await emulator.click(shown, label="Cancel", member=alice)
    reply = await clicked.wait_reply()
    assert "nothing was saved" in reply.content
    assert await bot.db.fetchval("SELECT count(*) FROM summaries") == 0


async def test_edit_button_reopens_the_form_with_the_text(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    _, shown = await preview(emulator, alice, "1706.03762", tldr="first try")
    edit = await emulator.click(shown, label="Edit", member=alice)
    await edit.wait_modal()
    assert modal_inputs(edit)["tldr"]["value"] == "first try"
    resubmitted = await emulator.submit_modal(
        edit, {"paper": "1706.03762", "tldr": "second try", "body": "Attention only."}
    )
    second = await new_step(resubmitted)
    assert "second try" in second.embed["description"]  # type: ignore[index]
    assert "Replaced" in shown.content and shown.buttons == []
    _, card = await publish(emulator, second, alice)
    stored = await CommunityRepository(bot.db).get(summary_id_of(card))
    assert stored is not None and stored.tldr == "second try"


async def test_a_long_summary_comes_as_a_file(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    paragraphs = [f"Paragraph {i}: " + "the layer statistics drift. " * 30 for i in range(12)]
    body = "\n\n".join(paragraphs)
    assert len(body) > 4000
    upload = emulator.upload_attachment("batchnorm.md", body.encode())
    opened = await open_form(emulator, alice, "1502.03167", file=upload)
    assert set(modal_inputs(opened)) == {"paper", "tldr"}
    submitted = await emulator.submit_modal(opened, {"paper": "1502.03167", "tldr": "Long one."})
    shown = await submitted.wait_reply()
    labels = [b["label"] for b in shown.buttons]
    assert labels[:2] == ["◀ Prev", "Next ▶"], labels
    assert "page 1 of" in shown.embed["footer"]["text"]  # type: ignore[index]
    nxt = await emulator.click(shown, label="Next ▶", member=alice)
    assert "page 2 of" in (await nxt.wait_reply()).embed["footer"]["text"]  # type: ignore[index]
    _, card = await publish(emulator, shown, alice)
    stored = await CommunityRepository(bot.db).get(summary_id_of(card))
    assert stored is not None and stored.body == body
    assert "Read" in [b.get("label") for b in card.buttons]


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("notes.md", "caf\xe9".encode("latin-1"), "not UTF-8"),
        ("notes.pdf", b"%PDF-1.4", ".md"),
        ("huge.md", b"x" * (100 * 1024 + 1), "100 KB"),
    ],
)
async def test_bad_files_are_refused_with_the_reason(
    emulator: DiscordEmulator, bot: ShortScienceBot, filename: str, data: bytes, expected: str
) -> None:
    alice = emulator.guild.member("alice")
    upload = emulator.upload_attachment(filename, data)
    opened = await open_form(emulator, alice, "1502.03167", file=upload)
    if opened.modal is None:
        reply = await opened.wait_reply()
    else:
        submitted = await emulator.submit_modal(opened, {"paper": "1502.03167", "tldr": "t"})
        reply = await submitted.wait_reply()
    assert reply.ephemeral and expected in reply.content, reply.content
    assert await bot.db.fetchval("SELECT count(*) FROM summaries") == 0


async def test_context_menu_prefills_the_paper_from_a_message(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    general = emulator.guild.channel("general")
    message = await emulator.post_user_message(
        general, alice, "Reading this tonight: https://arxiv.org/abs/1706.03762v5 <@&123>"
    )
    menu = await emulator.message_command("Summarize this paper", message, member=alice)
    await menu.wait_modal()
    assert modal_inputs(menu)["paper"]["value"] == "arXiv:1706.03762v5"
    submitted = await emulator.submit_modal(
        menu, {"paper": "arXiv:1706.03762v5", "tldr": "Attention.", "body": "Only attention."}
    )
    shown = await submitted.wait_reply()
    assert shown.embed["title"] == "Attention Is All You Need"  # type: ignore[index]

    # No link in it: the form opens for the member to name the paper (see
    # tests/e2e/test_summarize_titles.py for a title typed there).
    plain = await emulator.post_user_message(general, alice, "no paper here, just chat")
    blank = await emulator.message_command("Summarize this paper", plain, member=alice)
    await blank.wait_modal()
    assert modal_inputs(blank)["paper"].get("value") in (None, "")


async def test_resubmitting_edits_the_summary_after_a_confirm(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    first = summary_id_of(await write(emulator, alice, tldr="v1"))
    _, shown = await preview(emulator, alice, "arXiv:1502.03167", tldr="v2")
    assert f"#{first}" in shown.content and "replaces" in shown.content
    clicked, card = await publish(emulator, shown, alice, label="Replace my summary")
    assert summary_id_of(card) == first
    assert clicked.message is not None and clicked.message.content.startswith("Updated")
    assert await bot.db.fetchval("SELECT count(*) FROM summaries") == 1
    stored = await CommunityRepository(bot.db).get(first)
    assert stored is not None and stored.tldr == "v2"


async def test_edit_delete_restore_permissions(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    guild = emulator.guild
    alice, mod = guild.member("alice"), guild.member("mod")
    bob = guild.add_member("bob")
    summary_id = summary_id_of(await write(emulator, alice))
    repo = CommunityRepository(bot.db)

    for command in ("edit", "delete"):
        refused = await emulator.slash(f"/summary {command} id:{summary_id}", member=bob)
        reply = await refused.wait_reply()
        assert reply.ephemeral and "Only the summary's author" in reply.content

    # A moderator edits it: form, preview, save.
    opened = await emulator.slash(f"/summary edit id:{summary_id}", member=mod)
    await opened.wait_modal()
    assert set(modal_inputs(opened)) == {"tldr", "body"}
    submitted = await emulator.submit_modal(
        opened, {"tldr": "Moderated TL;DR", "body": "Fixed a typo."}
    )
    shown = await submitted.wait_reply()
    assert shown.embed is not None and shown.embed["footer"]["text"].startswith("Preview of")
    saved = await emulator.click(shown, label="Save changes", member=mod)
    await saved.wait_for(
        lambda h: h.message is not None and h.message.content.startswith("Saved your changes"),
        what="the preview replaced by a confirmation",
    )
    assert saved.message is not None
    assert saved.message.embeds == [] and "Preview" not in saved.message.text
    edited = await emulator.wait_for_message(
        shown.channel, lambda m: m.content.startswith("✏️"), timeout=10
    )
    assert edited.content == f"✏️ <@{mod.id}> edited summary #{summary_id}."
    assert edited.embed is not None and "Moderated TL;DR" in edited.embed["description"]
    stored = await repo.get(summary_id)
    assert stored is not None and stored.tldr == "Moderated TL;DR" and stored.edited_by == mod.id

    # The author deletes it; someone else cannot restore it; a moderator can.
    deleted = await emulator.slash(f"/summary delete id:{summary_id}", member=alice)
    assert "Deleted summary" in (await deleted.wait_reply()).content
    assert (await repo.get(summary_id)).is_deleted  # type: ignore[union-attr]
    refused = await emulator.slash(f"/summary restore id:{summary_id}", member=bob)
    assert "Manage Messages" in (await refused.wait_reply()).content
    restored = await emulator.slash(f"/summary restore id:{summary_id}", member=mod)
    assert "Restored" in (await restored.wait_reply()).content
    assert not (await repo.get(summary_id)).is_deleted  # type: ignore[union-attr]

    # A moderator deletes it: the author cannot revive it by resubmitting.
    await (await emulator.slash(f"/summary delete id:{summary_id}", member=mod)).wait_reply()
    _, blocked = await preview(emulator, alice, "1502.03167")
    assert "moderator removed your summary" in blocked.content


async def test_other_guilds_never_see_a_summary(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    alice = emulator.guild.member("alice")
    summary_id = summary_id_of(await write(emulator, alice))
    other = emulator.add_guild("Other Lab")
    lobby = other.add_text_channel("lobby")
    mallory = other.add_member("mallory")
    await bot.sync_commands(other.id)
    for command in ("edit", "delete", "restore"):
        handle = await emulator.slash(
            f"/summary {command} id:{summary_id}",
            member=mallory,
            channel=lobby,
            permissions=Permission.ALL,
        )
        assert (
            f"no community summary #{summary_id} in this server"
            in (await handle.wait_reply()).content
        )


async def test_votes_withdraw_refuse_self_votes_and_survive_a_restart(
    emulator: DiscordEmulator, start_bot: StartBot, settings: Settings
) -> None:
    first_bot = await start_community_bot(start_bot, settings)
    guild = emulator.guild
    alice, mod = guild.member("alice"), guild.member("mod")
    bob = guild.add_member("bob")
    card = await write(emulator, alice)
    summary_id = summary_id_of(card)
    up = f"ss:vote:{summary_id}:up"
    down = f"ss:vote:{summary_id}:down"

    def labels(message: Message) -> tuple[str, str]:
        return (
            message.find_component(custom_id=up)["label"],
            message.find_component(custom_id=down)["label"],
        )

    vote = await emulator.click(card, custom_id=up, member=bob)
    await vote.wait_followup()
    assert labels(card) == ("1", "0") and score(card) == "▲ 1"
    assert "You voted 👍" in vote.followups[0].content
    assert "Press the same button again to withdraw it" in vote.followups[0].content

    withdraw = await emulator.click(card, custom_id=up, member=bob)
    await withdraw.wait_followup()
    assert labels(card) == ("0", "0") and score(card) == "▲ 0"
    # Nothing left to withdraw: no hint about withdrawing.
    assert withdraw.followups[0].content == "Your vote was withdrawn. Score now 0."

    await (await emulator.click(card, custom_id=down, member=mod)).wait_followup()
    assert labels(card) == ("0", "1")

    own = await emulator.click(card, custom_id=up, member=alice)
    reply = await own.wait_reply()
    assert reply.ephemeral and "your own summary" in reply.content
    assert labels(card) == ("0", "1")

    await first_bot.close()
    second_bot = await start_community_bot(start_bot, settings)
    after = await emulator.click(card, custom_id=up, member=bob)
    await after.wait_followup()
    assert labels(card) == ("1", "1") and score(card) == "▲ 0"
    switch = await emulator.click(card, custom_id=down, member=bob)
    await switch.wait_followup()
    assert labels(card) == ("0", "2")
    assert (
        await second_bot.db.fetchval("SELECT score FROM summaries WHERE id = ?", (summary_id,))
        == -2
    )


async def test_export_files_parse_back(emulator: DiscordEmulator, bot: ShortScienceBot) -> None:
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    await write(emulator, alice, tldr="alice's take", body="Body with `code` and $x^2$.")
    await write(emulator, mod, "1706.03762", tldr="mod's take", body="## Heading\n\nText.")
    for fmt, parse in (("json", parse_json_export), ("markdown", parse_markdown_export)):
        handle = await emulator.slash(f"/export format:{fmt}", member=alice)
        reply = await handle.wait_reply()
        assert reply.ephemeral and "2 community summaries" in reply.content
        [attachment] = reply.attachments
        assert attachment.filename.endswith(".json" if fmt == "json" else ".md")
        guild_id, summaries = parse(attachment.data)
        assert guild_id == emulator.guild.id
        assert sorted(s.tldr for s in summaries) == ["alice's take", "mod's take"]
        bodies = {s.author_name: s.body for s in summaries}
        assert "## Heading\n\nText." in bodies.values()


async def test_the_rate_limit_refuses_with_a_clear_message(
    emulator: DiscordEmulator, start_bot: StartBot, bot_database: str, arxiv: ArxivFixtureServer
) -> None:
    limited = make_settings(
        emulator,
        bot_database,
        arxiv_api_url=arxiv.url,
        arxiv_min_interval=0,
        submissions_per_window=1,
        submission_window_seconds=600,
    )
    await start_community_bot(start_bot, limited)
    alice = emulator.guild.member("alice")
    await write(emulator, alice)
    refused = await emulator.slash("/summarize", member=alice)
    reply = await refused.wait_reply()
    assert reply.ephemeral
    assert "You can publish 1 summary per 10 minutes" in reply.content
    assert "Try again in 10 minutes" in reply.content
    exported = await (await emulator.slash("/export", member=alice)).wait_reply()
    assert exported.content == "1 community summary of this server."


async def test_a_slow_rate_check_opens_the_form_in_time_and_publish_still_refuses(
    emulator: DiscordEmulator, start_bot: StartBot, bot_database: str, arxiv: ArxivFixtureServer
) -> None:
    """The form must be /summarize's first answer, within 3 s: a database too busy to say
    whether the member is at the limit does not hold it back (200 members at once on a
    loaded machine did), and Publish, which counts the limit for certain, refuses."""
    limited = make_settings(
        emulator,
        bot_database,
        arxiv_api_url=arxiv.url,
        arxiv_min_interval=0,
        submissions_per_window=1,
        submission_window_seconds=600,
    )
    bot = await start_community_bot(start_bot, limited)
    alice = emulator.guild.member("alice")
    await write(emulator, alice)
    limiter = cog(bot).service.limiter
    check = limiter.check

    async def slow_check(member_id: int) -> float:
        await asyncio.sleep(2.5)
        return await check(member_id)

    limiter.check = slow_check
    _, shown = await preview(emulator, alice, "1706.03762", tldr="Too soon.")
    told = await (await emulator.click(shown, label="Publish", member=alice)).wait_followup()
    assert "You can publish 1 summary per 10 minutes" in told.content
    assert "Your preview stays here" in told.content
    assert not [h for h in emulator.interactions.values() if h.late_callback]


@pytest.mark.parametrize("fault", ["error entry", "timeout"])
async def test_arxiv_failures_keep_the_summary_and_a_retry_fills_the_paper(
    emulator: DiscordEmulator, bot: ShortScienceBot, arxiv: ArxivFixtureServer, fault: str
) -> None:
    alice = emulator.guild.member("alice")
    community = cog(bot)
    if fault == "error entry":
        arxiv.error_ids.add("1706.03762")
    else:
        community.arxiv.timeout = 0.3
        arxiv.hang_ids.add("1706.03762")
    _, shown = await preview(emulator, alice, "1706.03762", tldr="kept through the outage")
    assert "arXiv could not be reached" in shown.content
    assert shown.embed["title"] == "arXiv:1706.03762"  # type: ignore[index]
    _, card = await publish(emulator, shown, alice)
    summary_id = summary_id_of(card)
    repo = CommunityRepository(bot.db)
    stored = await repo.get(summary_id)
    assert stored is not None and stored.unresolved and stored.tldr == "kept through the outage"

    arxiv.error_ids.clear()
    arxiv.hang_ids.clear()
    community.arxiv.timeout = 10.0  # the fault is over (0.3 s is tight for a chunked body)
    now = community.clock()
    # The background loop's pass (cogs/enrichment.py), an hour later.
    enricher = PaperEnricher(bot.db, arxiv=community.arxiv, crossref=None, clock=lambda: now + 3600)
    assert (await enricher.run_once()).arxiv_filled == 1
    resolved = await repo.get(summary_id)
    assert resolved is not None and not resolved.unresolved
    assert resolved.paper_title == "Attention Is All You Need"
    # The paper's new title is searchable with the summary (the change log follows it).
    page = await bot.search.search("attention", guild_id=emulator.guild.id)
    assert [result.summary_id for result in page.results] == [summary_id]


# --- reading sessions -----------------------------------------------------------------------


def reading_cog(bot: ShortScienceBot) -> Any:
    found = bot.get_cog("Reading")
    assert found is not None
    return found


async def test_a_reading_session_from_start_to_reminder_to_digest(
    emulator: DiscordEmulator, start_bot: StartBot, settings: Settings
) -> None:
    first_bot = await start_community_bot(start_bot, settings)
    guild = emulator.guild
    alice, mod = guild.member("alice"), guild.member("mod")
    bob = guild.add_member("bob")
    papers = guild.channel("papers")

    started = await emulator.slash(
        "/reading start paper:1502.03167 due:3d", options={"channel": papers}, member=alice
    )
    reply = await started.wait_reply()
    assert "Reading session on **Batch Normalization" in reply.content
    [thread] = guild.threads
    assert thread.parent_id == papers.id and thread.name.startswith("📖 Batch Normalization")
    [card] = emulator.pins(thread)
    assert card.embed is not None and card.embed["title"].startswith("Batch Normalization")
    assert "Due" in [field["name"] for field in card.embed["fields"]]
    assert "/summarize paper:arXiv:1502.03167" in card.embed["description"]

    # A second session on the same paper is refused while this one is open.
    again = await emulator.slash("/reading start paper:arXiv:1502.03167", member=mod)
    assert "already has an open reading session" in (await again.wait_reply()).content

    # Bob writes his summary in the thread; alice votes for it.
    card_message = await write(emulator, bob, tldr="Bob's TL;DR", channel=thread)
    assert card_message.channel is thread
    vote = await emulator.click(
        card_message, custom_id=f"ss:vote:{summary_id_of(card_message)}:up", member=alice
    )
    await vote.wait_followup()

    status = await emulator.slash("/reading status", member=alice, channel=thread)
    shown = await status.wait_reply()
    assert "1 submitted" in shown.text and "bob" in shown.text

    # A day before the due date the thread gets one reminder, once, restart or not.
    cog = reading_cog(first_bot)
    start = cog.clock()
    assert await cog.send_due_reminders() == 0
    cog.clock = lambda: start + 2 * 86400 + 60
    assert await cog.send_due_reminders() == 1
    assert await cog.send_due_reminders() == 0
    reminders = [m for m in emulator.messages(thread) if m.content.startswith("⏰")]
    assert len(reminders) == 1 and "1 written so far, by bob" in reminders[0].content
    await first_bot.close()
    second_bot = await start_community_bot(start_bot, settings)
    second_cog = reading_cog(second_bot)
    second_cog.clock = lambda: start + 2 * 86400 + 120
    assert await second_cog.send_due_reminders() == 0
    assert len([m for m in emulator.messages(thread) if m.content.startswith("⏰")]) == 1

    # Someone else cannot close it; the starter can: digest with scores, thread archived.
    refused = await emulator.slash("/reading close", member=bob, channel=thread)
    assert "Only whoever started" in (await refused.wait_reply()).content
    closing = await emulator.slash("/reading close", member=alice, channel=thread)
    digest = await closing.wait_reply()
    assert digest.embed is not None and digest.embed["title"].startswith("Digest: Batch")
    assert "bob" in digest.embed["description"] and "score +1" in digest.embed["description"]
    assert "Bob's TL;DR" in digest.embed["description"]
    await emulator.wait_for(lambda: thread.archived, description="the thread to be archived")
    status = await emulator.slash("/reading status", member=alice)
    assert "No reading session is open" in (await status.wait_reply()).content


def allowed_mentions_of(emulator: DiscordEmulator, channel: Channel) -> list[dict[str, Any]]:
    """The allowed_mentions of every message the bot posted in `channel`, in order."""
    return [
        request.json["allowed_mentions"]
        for request in emulator.requests_matching("POST /channels/{channel_id}/messages")
        if request.path.endswith(f"/channels/{channel.id}/messages") and request.json
    ]


def only_role(role_id: int) -> dict[str, Any]:
    return {"parse": [], "roles": [role_id]}


def normalised(mentions: dict[str, Any]) -> dict[str, Any]:
    """Snowflakes as ints (discord.py may send either)."""
    return {**mentions, "roles": [int(r) for r in mentions.get("roles", [])]}


async def test_a_reading_session_mentions_its_role_and_links_existing_summaries(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    guild = emulator.guild
    alice, mod = guild.member("alice"), guild.member("mod")
    general, papers = guild.channel("general"), guild.channel("papers")
    group = guild.add_role("reading-group")
    # The paper already has a summary written here (its card is in #general) and one from
    # ShortScience's feed.
    mods_card = await write(emulator, mod, tldr="Mod's earlier take", channel=general)
    mods_id = summary_id_of(mods_card)
    paper_id = await bot.db.fetchval("SELECT paper_id FROM summaries WHERE id = ?", (mods_id,))
    page = "https://www.shortscience.org/paper?bibtexKey=journals/corr/IoffeS15#karpathy"
    feed = await SummaryRepository(bot.db).upsert_external(
        external_id=page, body="From the feed.", author_name="karpathy", paper_id=paper_id, url=page
    )

    # @everyone is never a session's role.
    refused = await emulator.slash(
        f"/reading start paper:1502.03167 role:<@&{guild.id}>", member=alice
    )
    assert "never mention @everyone" in (await refused.wait_reply()).content

    started = await emulator.slash(
        "/reading start paper:1502.03167 due:3d role:@reading-group",
        options={"channel": papers},
        member=alice,
    )
    await started.wait_reply()
    [thread] = guild.threads
    [card] = emulator.pins(thread)
    assert card.content.startswith(f"<@&{group.id}> 📖 A reading session on **Batch Norm")
    assert "Summaries are due <t:" in card.content
    assert card.embed is not None
    [known] = [f for f in card.embed["fields"] if f["name"].startswith("Already summarised")]
    assert known["name"] == "Already summarised (2)"
    jump = f"https://discord.com/channels/{guild.id}/{general.id}/{mods_card.id}"
    assert (
        f"**Mod** (score 0): [jump to it]({jump}) · `/summary view id:{mods_id}`"
        in (known["value"])
    )
    assert (
        f"**karpathy** (score 0): [on ShortScience]({page}) · "
        f"`/summary view id:{feed.summary_id}`" in known["value"]
    )
    # The reminder a day before the due date mentions the role too.
    cog = reading_cog(bot)
    start = cog.clock()
    cog.clock = lambda: start + 2 * 86400 + 60
    assert await cog.send_due_reminders() == 1
    [reminder] = [m for m in emulator.messages(thread) if "⏰" in m.content]
    assert reminder.content.startswith(f"<@&{group.id}> ⏰ Reminder: summaries of **Batch")

    # Exactly that role may be pinged, by those two messages, and nothing else anywhere.
    assert [normalised(m) for m in allowed_mentions_of(emulator, thread)] == [
        only_role(group.id),
        only_role(group.id),
    ]
    for request in emulator.requests:
        body = request.json if isinstance(request.json, dict) else {}
        if "allowed_mentions" in body and request.path.endswith(f"/channels/{thread.id}/messages"):
            continue
        if "allowed_mentions" in body:
            assert body["allowed_mentions"] == {"parse": []}, request.path


async def test_a_session_without_a_role_pings_nobody(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    started = await emulator.slash(
        "/reading start paper:1706.03762 due:3d", member=emulator.guild.member("alice")
    )
    await started.wait_reply()
    [thread] = emulator.guild.threads
    [card] = emulator.pins(thread)
    assert card.content == "" and card.embed is not None
    assert not [f for f in card.embed["fields"] if f["name"].startswith("Already summarised")]
    cog = reading_cog(bot)
    start = cog.clock()
    cog.clock = lambda: start + 2 * 86400 + 60
    assert await cog.send_due_reminders() == 1
    assert allowed_mentions_of(emulator, thread) == [{"parse": []}, {"parse": []}]


async def test_reading_start_with_a_typed_title_asks_which_paper(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    """A title no paper known here has exactly: the picker (known papers first, a new paper
    last), only for whoever ran the command; the session starts on the paper picked, with
    the options given to the command."""
    guild = emulator.guild
    alice, mod = guild.member("alice"), guild.member("mod")
    papers = guild.channel("papers")
    await write(emulator, mod, "1706.03762")  # "Attention Is All You Need", known here

    started = await emulator.slash(
        "/reading start paper:attention is all due:3d", options={"channel": papers}, member=alice
    )
    picker = await started.wait_reply()
    assert not picker.ephemeral and "Which paper is **“attention is all”**?" in picker.content
    options = menu_options(picker)
    assert options[0]["label"] == "Attention Is All You Need", options
    assert options[0]["value"].startswith("known:")
    assert options[-1]["value"] == "new" and "when the session starts" in options[-1]["description"]
    # Marked as the question above says: 📚 known here, ➕ a new paper.
    assert (options[0]["emoji"]["name"], options[-1]["emoji"]["name"]) == ("📚", "➕")
    assert guild.threads == []  # nothing started yet

    stranger = await emulator.select(picker, [options[0]["value"]], member=mod)
    refused = await stranger.wait_reply()
    assert refused.ephemeral and "belong to the person who ran the command" in refused.content
    assert guild.threads == []

    chosen = await emulator.select(picker, [options[0]["value"]], member=alice)
    await chosen.wait_callback()
    await emulator.wait_for(
        lambda: "Reading session on" in picker.content, description="the session started"
    )
    assert "**Attention Is All You Need**" in picker.content and "due" in picker.content
    assert picker.components == []  # the menu is gone: one pick
    [thread] = guild.threads
    assert thread.parent_id == papers.id and thread.name == "📖 Attention Is All You Need"
    [card] = emulator.pins(thread)
    assert "Due" in [field["name"] for field in card.embed["fields"]]  # type: ignore[index]


async def test_a_paper_picked_that_has_a_session_already_says_so_in_the_reply(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    guild = emulator.guild
    alice, mod = guild.member("alice"), guild.member("mod")
    asked = await emulator.slash("/reading start paper:attention is all", member=alice)
    picker = await asked.wait_reply()
    # Nothing known here yet: arXiv's papers and a new one.
    assert not [o for o in menu_options(picker) if o["value"].startswith("known:")]
    # Meanwhile the paper gets a session by its id.
    first = await emulator.slash("/reading start paper:1706.03762", member=mod)
    assert "Reading session on" in (await first.wait_reply()).content
    arxiv = [o for o in menu_options(picker) if o["value"] == "arxiv:1706.03762"]
    assert arxiv, menu_options(picker)
    chosen = await emulator.select(picker, [arxiv[0]["value"]], member=alice)
    await chosen.wait_callback()
    await emulator.wait_for(
        lambda: "already has an open reading session" in picker.content,
        description="the reply saying why",
    )
    assert len(guild.threads) == 1 and picker.components == []


async def test_a_double_pick_starts_one_session(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    guild = emulator.guild
    alice = guild.member("alice")
    asked = await emulator.slash("/reading start paper:attention is all", member=alice)
    picker = await asked.wait_reply()
    first, second = await asyncio.gather(
        emulator.select(picker, ["arxiv:1706.03762"], member=alice),
        emulator.select(picker, ["arxiv:1706.03762"], member=alice),
    )
    await first.wait_callback()
    await second.wait_callback()
    await emulator.wait_for(
        lambda: "Reading session on" in picker.content, description="the session started"
    )
    # One updates the picker (7); the other is told privately (4) that it came second.
    assert sorted(h.callback_type or 0 for h in (first, second)) == [4, 7]
    [refused] = [h for h in (first, second) if h.callback_type == 4]
    refusal = await refused.wait_reply()
    assert refusal.ephemeral and refusal.content == "A paper was already chosen from this list."
    assert len(guild.threads) == 1


async def test_due_dates_are_checked(emulator: DiscordEmulator, bot: ShortScienceBot) -> None:
    alice = emulator.guild.member("alice")
    for due, words in [
        ("yesterday-ish", "can't read"),
        ("2001-01-01", "future"),
        ("500w", "a year"),
    ]:
        handle = await emulator.slash(f"/reading start paper:1502.03167 due:{due}", member=alice)
        assert words in (await handle.wait_reply()).content
    assert emulator.guild.threads == []


async def test_two_hundred_members_submit_at_once(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    """Nothing lost, nothing doubled: 200 summaries, 200 announcements, one paper."""
    guild = emulator.guild
    papers = guild.channel("papers")
    await CommunityAnnounceRepository(bot.db).set(guild.id, papers.id, set_by=None, now=0)
    members = [guild.add_member(f"reader{i}") for i in range(200)]

    async def one(index: int) -> int:
        member = members[index]
        opened = await emulator.slash("/summarize", options={"paper": "1706.03762"}, member=member)
        await opened.wait_modal(timeout=30)
        submitted = await emulator.submit_modal(
            opened,
            {"paper": "1706.03762", "tldr": f"TL;DR number {index}", "body": f"Body {index}"},
        )
        shown = await submitted.wait_reply(timeout=30)
        await emulator.click(shown, label="Publish", member=member)
        card = await emulator.wait_for_message(
            shown.channel, lambda m: f"<@{member.id}>" in m.content, timeout=60
        )
        return summary_id_of(card)

    ids = await asyncio.gather(*(one(i) for i in range(200)))
    assert len(set(ids)) == 200
    assert await bot.db.fetchval("SELECT count(*) FROM summaries") == 200
    assert await bot.db.fetchval("SELECT count(*) FROM papers") == 1
    rows = await bot.db.fetchall("SELECT author_discord_id, tldr FROM summaries")
    assert {(r[0], r[1]) for r in rows} == {
        (member.id, f"TL;DR number {i}") for i, member in enumerate(members)
    }
    outbox = await OutboxRepository(bot.db).for_channel(papers.id)
    assert sorted(row.summary_id or 0 for row in outbox) == sorted(ids)
    repo = CommunityRepository(bot.db)
    for summary_id in ids:
        assert await repo.get(summary_id) is not None
    assert not [h for h in emulator.interactions.values() if h.late_callback]


# --- listings -----------------------------------------------------------------------------


async def test_mysummaries_leaderboard_and_paper_autocomplete(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    guild = emulator.guild
    alice, mod = guild.member("alice"), guild.member("mod")
    bob = guild.add_member("bob")
    first = await write(emulator, alice)
    await write(emulator, alice, "1706.03762")
    other = await write(emulator, mod, "1706.03762")
    for card, voter in ((first, bob), (first, mod), (other, bob)):
        click = await emulator.click(
            card, custom_id=f"ss:vote:{summary_id_of(card)}:up", member=voter
        )
        await click.wait_followup()

    mine = await (await emulator.slash("/mysummaries", member=alice)).wait_reply()
    assert mine.ephemeral and "Your summaries (2)" in mine.text
    assert "Batch Normalization" in mine.text and "Attention Is All You Need" in mine.text
    nothing = await (await emulator.slash("/mysummaries", member=bob)).wait_reply()
    assert "haven't written" in nothing.content

    board = await (await emulator.slash("/leaderboard period:all", member=bob)).wait_reply()
    lines = board.embed["description"].splitlines()  # type: ignore[index]
    assert "Alice" in lines[0] and "+2 votes" in lines[0] and "2 summaries" in lines[0]
    assert "Mod" in lines[1] and "· +1 vote received · 1 summary" in lines[1]

    typed = await emulator.autocomplete("/summarize paper:Attention", "paper", member=bob)
    choices = await typed.wait_choices()
    assert {"name": "Attention Is All You Need", "value": "arXiv:1706.03762"} in choices
