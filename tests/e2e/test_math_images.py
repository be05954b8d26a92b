"""Display math as images, end to end: `/summary view`, paging, `math:text`, the `/summarize`
preview, the reading-session digest, and formulas that cannot be typeset.

A page with display equations sends one PNG card stacking them, numbered as in its text, as
a multipart message (`payload_json` + `files[0]`, `attachments[0]` with the alt text) whose
embed image is `attachment://equations-<page>.png`; the emulator resolves that reference
and counts a reference to a file the message does not hold as a violation.
"""

from __future__ import annotations

import re
from typing import Any

from bot.bot import ShortScienceBot
from bot.storage.summaries import SummaryRepository
from bot.typeset import png_size
from tests.e2e.search_seed import find_paper, import_sample
from tests.e2e.test_community import preview as preview_summary
from tests.e2e.test_community import publish, write
from tests.emulator import DiscordEmulator, Message
from tests.emulator.rest import RequestRecord

THREE_EQUATIONS = r"""Batch normalisation in three steps. ![curves](https://i.imgur.com/bn.png)

First the mini-batch mean:

$$\mu_{\mathcal{B}} = \frac{1}{m} \sum_{i=1}^{m} x_i$$

then each input is normalised,

\[ \hat{x}_i = \frac{x_i - \mu_{\mathcal{B}}}{\sqrt{\sigma_{\mathcal{B}}^2 + \epsilon}} \]

and scaled and shifted, with $\gamma$ and $\beta$ learned:

\begin{align} y_i &= \gamma \hat{x}_i + \beta \\ &\equiv \mathrm{BN}_{\gamma,\beta}(x_i) \end{align}
"""
FILLER = " ".join(
    f"Sentence {n} says a little more about the method and why it trains faster." for n in range(60)
)
CARD_PAGE = re.compile(r"attachment://equations-(\d+)\.png")


async def add_summary(bot: ShortScienceBot, body: str, guid: str) -> int:
    paper = await find_paper(bot, "arxiv", "1502.03167")
    saved = await SummaryRepository(bot.db).upsert_external(
        external_id=guid, body=body, author_name="reader", paper_id=paper.id, url=None, score=1
    )
    return saved.summary_id


def card_of(message: Message) -> Any:
    """The message's only attachment, which its embed shows."""
    [card] = message.attachments
    assert message.embed is not None
    assert message.embed["image"]["url"] == card.url, message.embed.get("image")
    assert card.content_type == "image/png" and card.data.startswith(b"\x89PNG")
    return card


def multipart_with_card(record: RequestRecord) -> dict[str, Any]:
    """A request sent as Discord wants a file used in an embed; returns its payload_json."""
    assert [upload.field for upload in record.files] == ["files[0]"], record.files
    body = record.json
    assert isinstance(body, dict)
    data = body.get("data", body)  # interaction callbacks wrap the message in `data`
    [attachment] = data["attachments"]
    assert attachment["id"] == 0 and attachment["filename"] == record.files[0].filename
    [embed] = data["embeds"]
    assert embed["image"]["url"] == f"attachment://{record.files[0].filename}"
    return data


async def test_summary_view_sends_the_numbered_equations_as_the_embed_image(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    summary_id = await add_summary(running_bot, THREE_EQUATIONS, "urn:math:three")

    message = await (await emulator.slash(f"/summary view id:{summary_id}")).wait_reply(10.0)
    card = card_of(message)
    assert card.filename == "equations-1.png"
    width, height = png_size(card.data)
    assert width == 800 and 150 < height <= 750
    # The text keeps each equation's Unicode form where it stands, numbered like the card.
    text = message.embed["description"]  # type: ignore[index]
    # (Markdown-escaped: Discord shows `\_` as `_`.)
    assert "(1)\u2002μ\\_ℬ = 1/m ∑ᵢ₌₁ᵐ xᵢ" in text
    assert "(2)\u2002x̂ᵢ = (xᵢ − μ\\_ℬ)/√(σ\\_ℬ² + ε)" in text
    assert "(3)\u2002yᵢ = γ x̂ᵢ + β\n≡ BNᵧ,ᵦ(xᵢ)" in text
    assert "\\frac" not in text and "\\begin" not in text
    # The alt text carries the same forms; the summary's own image became a link.
    assert card.description.startswith("(1) μ_ℬ = 1/m ∑ᵢ₌₁ᵐ xᵢ; (2) x̂ᵢ")
    assert "(3) yᵢ = γ x̂ᵢ + β ≡ BNᵧ,ᵦ(xᵢ)" in card.description
    assert "https://i.imgur.com/bn.png" in text
    # Sent as a spec-valid multipart message: payload_json plus files[0].
    [callback] = [
        r for r in emulator.requests_matching("POST /interactions/**") if r.files
    ] or emulator.requests_matching("POST /webhooks/**")
    multipart_with_card(callback)


async def test_paging_replaces_the_card_and_a_page_without_equations_sends_none(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    body = (
        "Opening.\n\n$$a^2 + b^2 = c^2$$\n\n"
        + "\n\n".join([FILLER] * 3)
        + "\n\nAnd at the end:\n\n$$e^{i\\pi} + 1 = 0$$\n"
    )
    summary_id = await add_summary(running_bot, body, "urn:math:paged")
    message = await (await emulator.slash(f"/summary view id:{summary_id}")).wait_reply(10.0)
    footer = message.embed["footer"]["text"]  # type: ignore[index]
    pages = int(footer.rsplit(" ", 1)[1])
    assert pages >= 3
    assert card_of(message).filename == "equations-1.png"

    seen: list[list[str]] = []
    for page in range(2, pages + 1):
        click = await emulator.click(message, label="Next")
        await click.wait_callback(timeout=10.0)
        await emulator.wait_for(
            lambda p=page: f"page {p} of" in message.embed["footer"]["text"],  # type: ignore[index]
            timeout=10.0,
        )
        seen.append([attachment.filename for attachment in message.attachments])
        image = (message.embed or {}).get("image")
        if message.attachments:
            card_of(message)
        else:
            assert image is None
    # Never more than one card: each page's replaces the last, pages without equations
    # send none.
    assert seen[:-1] == [[]] * (pages - 2)
    assert seen[-1] == [f"equations-{pages}.png"]
    assert "(2)\u2002e^(iπ) + 1 = 0" in message.embed["description"]  # type: ignore[index]
    click = await emulator.click(message, label="Prev")
    await click.wait_callback(timeout=10.0)
    await emulator.wait_for(lambda: not message.attachments, timeout=10.0)
    # The turn to a page without equations said so with an empty attachment list (in an
    # interaction update, or the edit after a deferred one).
    bodies = [
        r.json.get("data", r.json)
        for r in emulator.requests_matching("POST /interactions/**")
        + emulator.requests_matching("PATCH /webhooks/**")
        if isinstance(r.json, dict)
    ]
    assert any(body.get("attachments") == [] and body.get("embeds") for body in bodies)


async def test_math_text_shows_unicode_only_and_sends_no_image(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    summary_id = await add_summary(running_bot, THREE_EQUATIONS, "urn:math:text")
    handle = await emulator.slash(f"/summary view id:{summary_id} math:text")
    message = await handle.wait_reply(5.0)
    assert message.attachments == []
    text = message.embed["description"]  # type: ignore[index]
    assert "μ\\_ℬ = 1/m ∑ᵢ₌₁ᵐ xᵢ" in text and "(1)" not in text
    # The summary's own image is shown as usual.
    assert message.embed["image"]["url"] == "https://i.imgur.com/bn.png"  # type: ignore[index]
    assert not [r for r in emulator.requests if r.files]


async def test_a_second_view_of_the_same_page_renders_nothing(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    summary_id = await add_summary(running_bot, THREE_EQUATIONS, "urn:math:twice")
    first = await (await emulator.slash(f"/summary view id:{summary_id}")).wait_reply(10.0)
    typesetter = running_bot.typesetter
    assert typesetter is not None
    rendered = (typesetter.rendered_formulas, typesetter.rendered_cards)
    second = await (await emulator.slash(f"/summary view id:{summary_id}")).wait_reply(5.0)
    assert (typesetter.rendered_formulas, typesetter.rendered_cards) == rendered
    assert card_of(second).data == card_of(first).data


async def test_formulas_that_cannot_be_typeset_stay_unicode_without_a_number(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    body = (
        "Fine: $$x^2$$\n\nA loop: $$\\def\\a{\\a\\a}\\a$$\n\n"
        "A mile: $$x \\hspace{1609344mm} y$$\n\nHuge: $$\\rule{100000pt}{100000pt}$$\n\n"
        "Unknown: $$\\KL(p \\| q)$$\n\nLong: $$" + "x+" * 10_000 + "x$$\n\nFine again: $$y^2$$"
    )
    summary_id = await add_summary(running_bot, body, "urn:math:hostile")
    typesetter = running_bot.typesetter
    assert typesetter is not None and running_bot.warm_up is not None
    await running_bot.warm_up  # the usual numbers, typeset at start
    before = typesetter.rendered_formulas
    message = await (await emulator.slash(f"/summary view id:{summary_id}")).wait_reply(10.0)
    assert not message.ephemeral
    text = message.embed["description"]  # type: ignore[index]
    assert "(1)\u2002x²" in text
    assert "\nKL(p ‖ q)" in text and "(2)\u2002KL" not in text
    assert card_of(message).description == "(1) x²"
    page = 1
    while "(2)\u2002y²" not in (message.embed or {}).get("description", ""):
        click = await emulator.click(message, label="Next")
        await click.wait_callback(timeout=10.0)
        page += 1
        await emulator.wait_for(
            lambda p=page: f"page {p} of" in message.embed["footer"]["text"],  # type: ignore[index]
            timeout=10.0,
        )
    # The last page's card holds the other formula that could be typeset, numbered (2).
    assert card_of(message).description == "(2) y²"
    # Only what passed the screen reached a worker: x², y² and \KL.
    assert typesetter.rendered_formulas - before == 3


async def test_the_summarize_preview_and_the_published_summary_show_the_card(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    alice = emulator.guild.member("alice")
    _, preview = await preview_summary(
        emulator,
        alice,
        "1502.03167",
        body="The update is\n\n$$\\theta_{t+1} = \\theta_t - \\eta \\nabla_\\theta L$$\n\nSimple.",
    )
    assert "Preview" in preview.embed["footer"]["text"]  # type: ignore[index]
    assert card_of(preview).description == "(1) θₜ₊₁ = θₜ − η ∇_θ L"
    assert "(1)\u2002θₜ₊₁" in preview.embed["description"]  # type: ignore[index]
    preview_card = card_of(preview).data
    _, card_message = await publish(emulator, preview, alice)
    # Published, the summary's card leads to the whole summary: Read shows the same card.
    assert not card_message.ephemeral
    read = await emulator.click(card_message, label="Read", member=emulator.guild.member("mod"))
    shown = await read.wait_reply(10.0)
    assert shown.ephemeral
    assert card_of(shown).data == preview_card


async def test_the_reading_digest_shows_equations_from_the_tldrs(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    guild = emulator.guild
    alice, bob = guild.member("alice"), guild.add_member("bob")
    papers = guild.channel("papers")
    started = await emulator.slash(
        "/reading start paper:1502.03167 due:3d", options={"channel": papers}, member=alice
    )
    await started.wait_reply(10.0)
    [thread] = guild.threads
    await write(
        emulator, bob, tldr="Normalise: $$\\hat{x} = \\frac{x - \\mu}{\\sigma}$$", channel=thread
    )
    closing = await emulator.slash("/reading close", member=alice, channel=thread)
    digest = await closing.wait_reply(10.0)
    card = card_of(digest)
    assert card.description == "(1) x̂ = (x − μ)/σ"
    assert "(1)\u2002x̂ = (x − μ)/σ" in digest.embed["description"]  # type: ignore[index]
