"""Issue 9: math and images everywhere text is shown, and paging that works for a group.

A summary written as ShortScience readers write it (`$ ... $` with spaces inside, a
Markdown image, a bare image link, an `<img>`, display math) is read page by page as a user
reads it: what each page says, which image it shows, and that every image stays a link in
order. A second member pressing Prev/Next on the first member's public summary gets a
private copy at the page they asked for. Lists (`/latest`, `/search`), the paper card,
`/mysummaries` and the announcement card show the same summary's math converted the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.bot import ShortScienceBot
from bot.papers import PaperId
from bot.storage.papers import PaperRepository
from tests.e2e.conftest import StartBot
from tests.e2e.search_seed import add_community_summary, import_sample
from tests.e2e.test_community import write
from tests.e2e.test_math_images import add_summary
from tests.emulator import DiscordEmulator, Message
from tests.emulator.botharness import make_settings

SEED_SUMMARIES = Path(__file__).resolve().parents[1] / "fixtures" / "shortscience"
FOOTER = re.compile(r"Summary #(\d+) · page (\d+) of (\d+)")
IMAGE_LINK = re.compile(r"\[🖼 [^\]]*\]\((https://[^)\s]+)\)")
RAW_TEX = re.compile(r"\\(?:pi|sum|gamma|mathbb|infty|alpha|min|left|right|bar|theta)\b|\$ ")

SPACED = r"$ V_D^{\pi}(s) = \sum_{t=0}^{\infty} \gamma^t \mathbb{E}[r_t] $"
SPACED_SHOWN = "V\\_D^π(s) = ∑ₜ₌₀^∞ γᵗ 𝔼\\[rₜ\\]"
VALUE_IMAGE = "https://i.imgur.com/brac-value.png"
Q_IMAGE = "https://i.imgur.com/brac-q.png"
POLICY_IMAGE = "https://i.imgur.com/brac-policy.gif"


def filler(topic: str, count: int) -> str:
    return " ".join(
        f"Sentence {n} about {topic} adds a detail the authors measured on the Mujoco tasks."
        for n in range(count)
    )


Q_OBJECTIVE = (
    r"$$\min_{Q} \mathbb{E}_{(s,a,r,s') \sim D}"
    r"\left[(r + \gamma \bar{Q}(s',a') - Q(s,a))^2\right]$$"
)
# Three pages at the default SUMMARY_PAGE_CHARS (1,800): the first shows the Markdown image,
# the second the display equation's card (its bare image link stays a link), the third the
# `<img>`.
THREE_IMAGES = f"""Behaviour-regularised actor critic keeps the learned policy near the data. \
The value it learns is {SPACED}, a discounted sum of rewards. \
![The value penalty]({VALUE_IMAGE})

{filler("the value penalty", 9)}

{filler("the ensemble", 9)}

The Q-function objective is

{Q_OBJECTIVE}

and {Q_IMAGE} plots it against the number of updates.

{filler("the Q-function", 9)}

{filler("divergences", 9)}

Finally the policy update <img src="{POLICY_IMAGE}" alt="policy curves"> trades return \
against $ \\alpha D(\\pi, \\pi_b) $; a budget of $5 or $10 of compute is no formula.

{filler("the baselines", 6)}
"""


def page_of(message: Message) -> tuple[int, int]:
    assert message.embed is not None
    match = FOOTER.search(message.embed["footer"]["text"])
    assert match is not None, message.embed["footer"]
    return int(match.group(2)), int(match.group(3))


def shown_image(message: Message) -> str | None:
    assert message.embed is not None
    return (message.embed.get("image") or {}).get("url")


async def turn(emulator: DiscordEmulator, message: Message, label: str) -> None:
    """Press Prev or Next as the message's reader; wait until the page changed."""
    before = page_of(message)[0]
    click = await emulator.click(message, label=label)
    await click.wait_callback(timeout=5.0)
    assert click.callback_type in (6, 7), click.describe()
    step = 1 if label == "Next" else -1
    await emulator.wait_for(lambda: page_of(message)[0] == before + step, timeout=10.0)


async def test_a_summary_with_spaced_math_and_three_images_page_by_page(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    summary_id = await add_summary(running_bot, THREE_IMAGES, "urn:brac:three-images")
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    message = await (
        await emulator.slash(f"/summary view id:{summary_id}", member=alice)
    ).wait_reply(10.0)
    assert page_of(message) == (1, 3)

    # Page 1: the spaced formula in Unicode; the Markdown image is the embed image.
    first = message.embed["description"]  # type: ignore[index]
    assert SPACED_SHOWN in first and not RAW_TEX.search(first)
    assert shown_image(message) == VALUE_IMAGE and not message.attachments
    assert IMAGE_LINK.findall(first) == [VALUE_IMAGE]
    texts = [first]

    # Page 2: the display equation's card takes the embed image; the bare link is a link.
    await turn(emulator, message, "Next")
    second = message.embed["description"]  # type: ignore[index]
    [card] = message.attachments
    assert card.filename == "equations-2.png" and shown_image(message) == card.url
    assert "(1)\u2002min\\_Q 𝔼" in second and not RAW_TEX.search(second)
    assert IMAGE_LINK.findall(second) == [Q_IMAGE]
    texts.append(second)

    # Page 3: the `<img>` is the embed image; the card of page 2 is gone; `$5 or $10` is text.
    await turn(emulator, message, "Next")
    third = message.embed["description"]  # type: ignore[index]
    assert shown_image(message) == POLICY_IMAGE and not message.attachments
    assert IMAGE_LINK.findall(third) == [POLICY_IMAGE]
    assert "α D(π, π\\_b)" in third and "a budget of $5 or $10 of compute" in third
    texts.append(third)

    # Every page within SUMMARY_PAGE_CHARS, every image a link, in order, none dropped.
    assert all(len(text) <= 1800 for text in texts)
    assert [url for text in texts for url in IMAGE_LINK.findall(text)] == [
        VALUE_IMAGE,
        Q_IMAGE,
        POLICY_IMAGE,
    ]

    # Back to page 2 for Alice; Mod presses Next on her message: a private page 3.
    await turn(emulator, message, "Prev")
    edits = message.edits
    press = await emulator.click(message, label="Next", member=mod)
    copy = await press.wait_reply(timeout=10.0)
    assert copy.ephemeral and page_of(copy) == (3, 3)
    assert shown_image(copy) == POLICY_IMAGE
    assert message.edits == edits and page_of(message) == (2, 3)
    # Mod's Prev on Alice's page 2: a private page 1, with its own image.
    press = await emulator.click(message, label="Prev", member=mod)
    copy = await press.wait_reply(timeout=10.0)
    assert copy.ephemeral and page_of(copy) == (1, 3) and shown_image(copy) == VALUE_IMAGE
    # Mod pages that copy in place to the card's page; Alice's message stays on page 2.
    press = await emulator.click(copy, label="Next", member=mod)
    await press.wait_callback(timeout=5.0)
    await emulator.wait_for(lambda: page_of(copy) == (2, 3), timeout=10.0)
    [card] = copy.attachments
    assert shown_image(copy) == card.url and card.filename == "equations-2.png"
    assert message.edits == edits and page_of(message) == (2, 3)


async def test_lists_the_paper_card_and_mysummaries_convert_math_the_same_way(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    guild, alice = emulator.guild, emulator.guild.member("alice")
    # Real ShortScience summaries (BRAC's formulas have spaces inside the dollars).
    for name in ("brac", "facenet"):
        body = (SEED_SUMMARIES / f"{name}.md").read_text(encoding="utf-8")
        await add_summary(running_bot, body, f"urn:shortscience:{name}")
    # A paper with math in its title and abstract, summarised here by Alice.
    paper = await PaperRepository(running_bot.db).find_or_create(
        [PaperId("arxiv", "1910.11361")],
        title=r"Behavior Regularized Offline RL with $ \epsilon $-greedy \(\pi_b\)",
    )
    await PaperRepository(running_bot.db).update(
        paper.id,
        abstract=r"We regularise towards \(\pi_b\) with $ \alpha D(\pi, \pi_b) $ for $10 or $5.",
    )
    await add_community_summary(
        running_bot,
        guild_id=guild.id,
        paper_id=paper.id,
        author_id=alice.id,
        author_name="Alice",
        tldr=r"The value $ V_D^{\pi}(s) = \sum_t \gamma^t r_t $ given $p(y|x,\theta)$.",
        body="Notes.",
    )

    # /latest: the TL;DR's formulas converted, `|` kept (not taken for Markdown).
    latest = await (await emulator.slash("/latest")).wait_reply(5.0)
    text = latest.embed["description"]  # type: ignore[index]
    assert "The value V\\_D^π\\(s\\) = ∑ₜ γᵗ rₜ given p\\(y\\|x,θ\\)." in text
    assert "ε-greedy π\\_b" in text and not RAW_TEX.search(text)

    # /search: a query's words inside a formula's TeX are not bolded; the formula is shown
    # converted and whole (it showed `$\**mathbb{R**}^{128}$`, and BRAC's formula raw).
    found = await (await emulator.slash("/search query:facenet mathbb")).wait_reply(5.0)
    text = found.embed["description"]  # type: ignore[index]
    assert "**FaceNet** directly maps face images to ℝ¹²⁸ where" in text, text
    assert "mathbb" not in text
    found = await (await emulator.slash("/search query:value function gamma")).wait_reply(5.0)
    text = found.embed["description"]  # type: ignore[index]
    # (BRAC's formula there is too long for a one-line excerpt: left out whole, not cut.)
    assert "the **value** **function** of BRAC takes the following form:" in text
    assert "gamma**" not in text and not RAW_TEX.search(text), text

    # /paper: title and abstract converted; a lone dollar stays text.
    card = await (await emulator.slash("/paper id:1910.11361")).wait_reply(5.0)
    assert card.embed["title"] == "Behavior Regularized Offline RL with ε-greedy π_b"  # type: ignore[index]
    description = card.embed["description"]  # type: ignore[index]
    assert "We regularise towards π\\_b with α D(π, π\\_b) for $10 or $5." in description

    # /mysummaries: titles converted.
    mine = await (await emulator.slash("/mysummaries", member=alice)).wait_reply(5.0)
    assert "ε-greedy π\\_b" in mine.embed["description"]  # type: ignore[index]


async def test_the_announcement_card_converts_spaced_math(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    card = await write(
        emulator,
        emulator.guild.member("alice"),
        tldr=r"Stay near the data: $ V_D^{\pi}(s) = \sum_t \gamma^t r_t $, not $5 or $10.",
        body="More on it.",
    )
    description = card.embed["description"]  # type: ignore[index]
    assert "Stay near the data: V\\_D^π(s) = ∑ₜ γᵗ rₜ, not $5 or $10." in description


async def test_summary_page_chars_sets_the_page_size(
    emulator: DiscordEmulator, start_bot: StartBot, tmp_path: Path
) -> None:
    bot = await start_bot(make_settings(emulator, tmp_path / "pages.db", summary_page_chars=700))
    await import_sample(bot)
    summary_id = await add_summary(bot, THREE_IMAGES, "urn:brac:small-pages")
    message = await (await emulator.slash(f"/summary view id:{summary_id}")).wait_reply(10.0)
    _, pages = page_of(message)
    assert pages > 5
    texts = [message.embed["description"]]  # type: ignore[index]
    for _ in range(pages - 1):
        await turn(emulator, message, "Next")
        texts.append(message.embed["description"])  # type: ignore[index]
    assert all(len(text) <= 700 for text in texts)
    # The spaced formula is on one page, whole.
    assert sum(SPACED_SHOWN in text for text in texts) == 1


async def test_a_private_page_that_is_slow_to_come_stays_private(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    """A private copy, or Read under a card, answered after "thinking" (its equations being
    typeset): the thinking message is private, so the page that replaces it is too (a
    public "thinking" message would have shown it to the whole channel)."""
    await import_sample(running_bot)
    summary_id = await add_summary(running_bot, THREE_IMAGES, "urn:brac:slow")
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    card = await write(emulator, alice, body="Read me: $$x^2 + y^2 = z^2$$")
    message = await (
        await emulator.slash(f"/summary view id:{summary_id}", member=alice)
    ).wait_reply(10.0)
    running_bot.get_cog("Search").slow_reply_seconds = 0.0  # type: ignore[union-attr]

    press = await emulator.click(message, label="Next", member=mod)
    copy = await press.wait_reply(timeout=10.0)
    assert press.callback_type == 5  # "thinking" first
    assert copy.ephemeral and page_of(copy) == (2, 3)
    assert [m for m in emulator.messages(message.channel) if m.id == copy.id] == []

    read = await emulator.click(card, label="Read", member=mod)
    shown = await read.wait_reply(timeout=10.0)
    assert read.callback_type == 5
    assert shown.ephemeral and "x² + y² = z²" in shown.embed["description"]  # type: ignore[index]
