"""ShortScience Markdown to Discord Markdown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rendering.markdown import render_inline_text, render_summary
from bot.rendering.text import (
    ZERO_WIDTH_SPACE,
    clean_user_text,
    escape_markdown,
    neutralize_mentions,
    shorten,
)

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "long_summary.md"


def _outside_code(text: str) -> str:
    """The text with fenced code blocks and code spans removed."""
    without_blocks = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return re.sub(r"`[^`]*`", "", without_blocks)


# -- images -------------------------------------------------------------------------------


def test_image_becomes_link_and_embed_image() -> None:
    rendered = render_summary("Look: ![the curve](https://i.imgur.com/a.png) here.")
    assert rendered.text == "Look: [🖼 the curve](https://i.imgur.com/a.png) (i.imgur.com) here."
    assert rendered.first_image_url == "https://i.imgur.com/a.png"
    assert rendered.image_urls == ("https://i.imgur.com/a.png",)


def test_first_image_is_the_first_in_document_order() -> None:
    source = (
        "![one](https://x.org/1.png)\n\n"
        "| a |\n|---|\n| ![two](https://x.org/2.png) |\n\n"
        '<img src="https://x.org/3.png" alt="three">\n\n'
        "![one again](https://x.org/1.png)"
    )
    rendered = render_summary(source)
    assert rendered.first_image_url == "https://x.org/1.png"
    assert rendered.image_urls == (
        "https://x.org/1.png",
        "https://x.org/2.png",
        "https://x.org/3.png",
    )


def test_image_title_and_empty_alt() -> None:
    rendered = render_summary('![](https://x.org/a.png "A title")')
    assert rendered.text == "[🖼 image](https://x.org/a.png) (x.org)"


def test_relative_image_needs_base_url() -> None:
    without_base = render_summary("![fig](/static/fig.png)")
    assert without_base.text == "🖼 fig"
    assert without_base.first_image_url is None
    with_base = render_summary("![fig](/static/fig.png)", base_url="https://www.shortscience.org/")
    assert with_base.first_image_url == "https://www.shortscience.org/static/fig.png"
    assert with_base.text == (
        "[🖼 fig](https://www.shortscience.org/static/fig.png) (www.shortscience.org)"
    )


def test_no_images() -> None:
    rendered = render_summary("Just text.")
    assert rendered.first_image_url is None
    assert rendered.image_urls == ()


def test_image_alt_with_math() -> None:
    rendered = render_summary(r"![loss $\mathcal{L}$](https://x.org/l.png)")
    assert rendered.text == "[🖼 loss ℒ](https://x.org/l.png) (x.org)"


def test_html_img_tag() -> None:
    rendered = render_summary('<img src="https://x.org/i.png" alt="Figure 2" width="300">')
    assert rendered.text == "[🖼 Figure 2](https://x.org/i.png) (x.org)"
    assert rendered.first_image_url == "https://x.org/i.png"


# -- tables -------------------------------------------------------------------------------


def test_table_becomes_aligned_code_block() -> None:
    source = "| Model | Acc |\n|:------|----:|\n| **BN** | 74.8% |\n| $\\alpha$-net | 9% |\n"
    rendered = render_summary(source)
    assert rendered.text == ("```\nModel |   Acc\n------+------\nBN    | 74.8%\nα-net |    9%\n```")


def test_table_cells_with_links_images_and_code() -> None:
    # GFM needs `\|` for a pipe inside a cell, even in a code span.
    source = "| a | b |\n|---|---|\n| [x](http://y) | `c\\|d` ![i](https://x.org/i.png) |\n"
    rendered = render_summary(source)
    assert "x | c|d 🖼 i" in rendered.text
    assert rendered.first_image_url == "https://x.org/i.png"


def test_table_centered_column() -> None:
    source = "| a | b |\n|:-:|---|\n| long value | 1 |\n"
    assert render_summary(source).text == (
        "```\n    a      | b\n-----------+--\nlong value | 1\n```"
    )


# -- code ---------------------------------------------------------------------------------


def test_fenced_code_is_untouched() -> None:
    code = "x = a_1 * b_2  # $\\alpha$ and $$y$$\n<b>not html</b> ![no](image.png) |a|b|\n"
    rendered = render_summary(f"Before $x$.\n\n```python\n{code}```\n\nAfter.")
    assert rendered.text == f"Before x.\n\n```python\n{code}```\n\nAfter."
    assert rendered.image_urls == ()


def test_inline_code_is_untouched() -> None:
    rendered = render_summary("Use `$x^2$ and <br> and ![i](u)` here and $x^2$.")
    assert rendered.text == "Use `$x^2$ and <br> and ![i](u)` here and x²."


def test_tilde_fence_and_indented_code_become_backtick_fences() -> None:
    rendered = render_summary("~~~\na $b$\n~~~\n\ntext\n\n    indented $x$\n")
    assert rendered.text == "```\na $b$\n```\n\ntext\n\n```\nindented $x$\n```"


def test_unclosed_fence_is_closed() -> None:
    rendered = render_summary("```\nnever closed $x$")
    assert rendered.text == "```\nnever closed $x$\n```"


def test_code_containing_triple_backticks_cannot_close_the_block() -> None:
    rendered = render_summary("````\n```\ninner\n```\n````")
    assert rendered.text.count("```") == 2  # only the outer fence pair


# -- math ---------------------------------------------------------------------------------


def test_inline_math_is_converted_and_escaped_for_discord() -> None:
    rendered = render_summary(r"The optimum $x^* = \arg\min_x f(x)$ is unique.")
    assert rendered.text == r"The optimum x\* = argminₓ f(x) is unique."


def test_display_math_goes_on_its_own_line() -> None:
    rendered = render_summary(r"We get $$\frac{a+b}{c}$$ which is nice.")
    assert rendered.text == "We get\n(a+b)/c\nwhich is nice."


def test_display_math_block() -> None:
    rendered = render_summary("Intro:\n\n$$\n\\sum_{i=1}^n x_i\n$$\n\nDone.")
    assert rendered.text == "Intro:\n\n∑ᵢ₌₁ⁿ xᵢ\n\nDone."


def test_display_math_inside_quote_keeps_quote_marker() -> None:
    rendered = render_summary("> so $$a \\\\ b$$ holds")
    assert rendered.text == "> so\n> a\n> b\n> holds"


def test_math_underscores_are_not_emphasis() -> None:
    rendered = render_summary("$a_i$ and $b_y$")
    assert rendered.text == "aᵢ and b\\_y"


def test_currency_is_not_math() -> None:
    assert render_summary("It costs $5 and $10.").text == "It costs $5 and $10."


# -- markdown kept ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("# Title", "# Title"),
        ("## Section", "## Section"),
        ("### Sub", "### Sub"),
        ("#### Deep", "**Deep**"),
        ("Setext\n======", "# Setext"),
        ("Setext\n------", "## Setext"),
        ("# Closed #", "# Closed"),
        ("**bold** *it* ~~gone~~ `code`", "**bold** *it* ~~gone~~ `code`"),
        ("__bold__", "**bold**"),
        ("snake_case_name", "snake_case_name"),
        ("[a link](https://x.org/p?q=1)", "[a link](https://x.org/p?q=1) (x.org)"),
        ("[ref link][1]\n\n[1]: https://x.org/r", "[ref link](https://x.org/r) (x.org)"),
        ("- one\n- two\n  - nested", "- one\n- two\n  - nested"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted\n> text", "> quoted\n> text"),
        ("a\n\n\n\n\nb", "a\n\nb"),
        ("---", "───────────"),
        ("<https://x.org/auto>", "<https://x.org/auto>"),
        (r"not \*emphasis\*", r"not \*emphasis\*"),
        ("List<T> stays", "List<T> stays"),
    ],
)
def test_markdown_kept_or_adapted(source: str, expected: str) -> None:
    assert render_summary(source).text == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("line<br>break", "line\nbreak"),
        ("<b>bold</b> <i>it</i> <strong>s</strong> <em>e</em>", "**bold** *it* **s** *e*"),
        ("H<sub>2</sub>O and x<sup>2</sup> and e<sup>iq</sup>", "H₂O and x² and e^(iq)"),
        ('<a href="https://x.org">site</a>', "[site](https://x.org) (x.org)"),
        ("<span style='color:red'>plain</span>", "plain"),
        ("a <!-- hidden --> b", "a  b"),
        ("<script>alert(1)</script>ok", "ok"),
        ("&amp; &lt; &gt; &middot;", "& < > ·"),
        ("<del>old</del>", "~~old~~"),
    ],
)
def test_html_converted(source: str, expected: str) -> None:
    assert render_summary(source).text == expected


# -- safety -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "@everyone look",
        "@here look",
        "hi <@123456789>",
        "hi <@!123456789>",
        "role <@&987654321>",
        "channel <#123>",
        "`@everyone in code`",
        "```\n@here in a block\n```",
        "&lt;@123&gt; via entities",
        "@EVERYONE shouting",
        "[@everyone](https://x.org)",
        "$\\text{@everyone}$",
    ],
)
def test_mentions_never_ping(source: str) -> None:
    text = render_summary(source).text
    assert not re.search(r"@(everyone|here)", text, re.IGNORECASE)
    assert not re.search(r"<[@#][!&]?\d", text)
    assert ZERO_WIDTH_SPACE in text


def test_neutralize_mentions_exact() -> None:
    assert neutralize_mentions("@everyone <@1> <@&2> <#3>") == (
        "@\u200beveryone <@\u200b1> <@\u200b&2> <#\u200b3>"
    )
    assert neutralize_mentions("mail me@example.org") == "mail me@example.org"


def test_clean_user_text_strips_control_characters() -> None:
    source = "a\x00b\x07c\td\r\ne\rf\x1b[31m\u202eg\x7f\x85h"
    assert clean_user_text(source) == "abc\td\ne\nf[31mgh"


def test_escape_markdown() -> None:
    assert escape_markdown("a*b_c~d`e|f\\g") == "a\\*b\\_c\\~d\\`e\\|f\\\\g"
    # A masked link would show words and go elsewhere: its brackets are escaped.
    assert escape_markdown("[Claim](https://evil.example)") == "\\[Claim\\](https://evil.example)"
    assert escape_markdown("# h\n> q\n- l\n1. n") == "\\# h\n\\> q\n\\- l\n1\\. n"
    assert escape_markdown("# h", line_start=False) == "# h"


def test_shorten() -> None:
    assert shorten("short", 10) == "short"
    assert shorten("a" * 300, 256) == "a" * 255 + "…"
    assert shorten("word " * 100, 50).endswith("word…")
    assert len(shorten("word " * 100, 50)) <= 50
    assert shorten("abc", 1) == "…"


def test_render_inline_text() -> None:
    assert render_inline_text("On $\\mathcal{O}(n^2)$\n  **fast** models") == (
        "On 𝒪(n²) **fast** models"
    )
    assert render_inline_text("On $x_1$ [fast](https://x) @here", markdown=False) == (
        "On x₁ fast @\u200bhere"
    )


# -- robustness ---------------------------------------------------------------------------


@given(st.text(max_size=2000))
@settings(max_examples=200, deadline=None)
def test_render_summary_never_raises(source: str) -> None:
    rendered = render_summary(source)
    assert isinstance(rendered.text, str)
    assert "@everyone" not in rendered.text.lower()


MARKDOWN_PIECES = st.sampled_from(
    [
        "$",
        "$$",
        "`",
        "```",
        "~~~",
        "\n",
        "\n\n",
        "    ",
        "| a | b |\n|---|---|\n",
        "| x |",
        "![",
        "](",
        ")",
        "[",
        "]",
        "<br>",
        "<img src='",
        "'>",
        "<sup>",
        "</sup>",
        "&amp;",
        "&",
        "@everyone",
        "<@1>",
        "# ",
        "#### ",
        "> ",
        "- ",
        "1. ",
        "**",
        "__",
        "\\",
        "\\frac{a}{b}",
        "x^2",
        "text",
        " ",
        "https://x.org/a.png",
        "\x00",
        "\r\n",
    ]
)


@given(st.lists(MARKDOWN_PIECES, max_size=120).map("".join))
@settings(max_examples=300, deadline=None)
def test_markdown_like_input_never_raises(source: str) -> None:
    rendered = render_summary(source)
    assert "\x00" not in rendered.text
    assert not re.search(r"@everyone|<@\d", rendered.text)
    if rendered.first_image_url is not None:
        assert rendered.first_image_url.startswith(("http://", "https://"))


# -- the realistic fixture ----------------------------------------------------------------


def test_long_fixture_renders_without_listed_macros() -> None:
    source = FIXTURE.read_text(encoding="utf-8")
    assert len(source) >= 15_000
    rendered = render_summary(source)
    prose = _outside_code(rendered.text)
    # No LaTeX macro at all survives outside code (stricter than the listed ones).
    assert re.findall(r"\\[A-Za-z]+", prose) == []
    assert "$" not in prose.replace("$5 and $10", "")
    # Code is kept verbatim, math inside it included.
    assert "math in code must stay as written, $x^2$" in rendered.text
    # The table became a code block.
    assert "BN-x30        |      2.7 ⋅ 10⁶ |        74.8%" in rendered.text
    # The examples from the spec appear rendered.
    assert r"x\* = (x − E\[x\]) / √(var(x))" in rendered.text
    assert "ℝ¹²⁸" in rendered.text
    assert "λ A(t) + η h(t) h(t)ᵀ" in rendered.text
    assert rendered.first_image_url == "https://i.imgur.com/bn_curves.png"
    assert len(rendered.image_urls) == 3


# -- links show where they go (issue 8, item 4) ---------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "[Claim your reward](https://evil.example)",
            "[Claim your reward](https://evil.example) (evil.example)",
        ),
        # Text that looks like an address but is not the real one.
        (
            "[https://paypal.com](https://evil.example/paypal.com)",
            "[https://paypal.com](https://evil.example/paypal.com) (evil.example)",
        ),
        (
            "[paypal.com/login](https://evil.example)",
            "[paypal.com/login](https://evil.example) (evil.example)",
        ),
        # Look-alike letters in the host show as punycode.
        (
            "[bank](https://p\u0430ypal.com/)",
            "[bank](https://p\u0430ypal.com/) (xn--pypal-4ve.com)",
        ),
        # The text is the address, or starts with its real host: nothing to add.
        ("[https://x.org/a](https://x.org/a)", "[https://x.org/a](https://x.org/a)"),
        (
            "[github.com/a/b](https://github.com/a/b/blob/c.py)",
            "[github.com/a/b](https://github.com/a/b/blob/c.py)",
        ),
        ("[](https://x.org/a)", "[https://x.org/a](https://x.org/a)"),
        # A target Discord would not open keeps only its words.
        ("[click](javascript:alert(1))", "click"),
        ("[click](http://exa mple.com)", "[click](http://exa mple.com)"),
        ('<a href="javascript:alert(1)">click</a>', "click"),
        # Brackets and parentheses in the target cannot end the link early.
        ("[wiki](<https://x.org/a_(b)>)", "[wiki](https://x.org/a_%28b%29) (x.org)"),
    ],
)
def test_masked_links_show_their_real_host(source: str, expected: str) -> None:
    assert render_summary(source).text == expected


def test_one_line_texts_show_links_as_text_and_host() -> None:
    authors = "Alice, [Claim your reward](https://evil.example)"
    assert render_inline_text(authors) == "Alice, Claim your reward (evil.example)"
    assert render_inline_text(authors, markdown=False) == "Alice, Claim your reward"


# --- display equations: other delimiters, and collecting them -------------------------------


def test_bracket_and_environment_display_math_is_recognised() -> None:
    from bot.rendering.equations import DisplayEquation

    source = (
        "Energy:\n\\[ E = mc^2 \\]\nand\n\\begin{align} a &= b \\\\ c &= d \\end{align}\n"
        "but \\[3\\] is a citation."
    )
    equations: list[DisplayEquation] = []
    text = render_summary(source, equations=equations).text
    assert [equation.source for equation in equations] == [
        " E = mc^2 ",
        "\\begin{align} a &= b \\\\ c &= d \\end{align}",
    ]
    assert [equation.unicode for equation in equations] == ["E = mc²", "a = b\nc = d"]
    assert "\\[3\\] is a citation" in text and "\\begin" not in text


def test_collected_equations_are_marked_and_text_is_otherwise_unchanged() -> None:
    from bot.rendering.equations import DisplayEquation, marker, remove_markers

    source = "Intro $x$ and\n$$a = b$$\n\n> quoted $$c = d$$ here\n\n`$$code$$`"
    equations: list[DisplayEquation] = []
    collected = render_summary(source, equations=equations)
    assert [equation.source for equation in equations] == ["a = b", "c = d"]
    assert collected.equations == tuple(equations)
    assert marker(0) + "a = b" in collected.text and "> " + marker(1) + "c = d" in collected.text
    assert remove_markers(collected.text) == render_summary(source).text


# --- MathJax delimiters, images everywhere, and the page breaker's marks --------------------

SEED_SUMMARIES = Path(__file__).resolve().parents[2] / "fixtures" / "shortscience"


def test_spaced_dollars_and_parenthesis_delimiters_are_math() -> None:
    rendered = render_summary(
        "Value $ V_D^{\\pi}(s) = \\gamma^t $, and \\(x_i^2\\) too; $5 or $10."
    )
    assert rendered.text == "Value V\\_D^π(s) = γᵗ, and xᵢ² too; $5 or $10."


def test_bare_image_links_are_images_in_document_order() -> None:
    source = (
        "See https://i.imgur.com/SZLmdME.png. Then ![fig](https://x.org/f.jpg) and "
        "<https://x.org/h.webp>, not https://x.org/page.html nor `https://x.org/code.png`, "
        "nor [a https://x.org/k.png link](https://x.org/k.png)."
    )
    rendered = render_summary(source)
    assert rendered.image_urls == (
        "https://i.imgur.com/SZLmdME.png",
        "https://x.org/f.jpg",
        "https://x.org/h.webp",
    )
    assert rendered.text.startswith(
        "See [🖼 image](https://i.imgur.com/SZLmdME.png) (i.imgur.com). Then "
        "[🖼 fig](https://x.org/f.jpg) (x.org) and [🖼 image](https://x.org/h.webp) (x.org), "
        "not https://x.org/page.html nor `https://x.org/code.png`"
    )
    assert rendered.first_image_url == "https://i.imgur.com/SZLmdME.png"


@pytest.mark.parametrize(
    ("name", "images"),
    [
        ("simple_atari", ["https://i.imgur.com/SZLmdME.png"]),
        ("decodability", ["https://i.imgur.com/o45KHOM.png", "https://i.imgur.com/NFx0h8b.png"]),
        ("fast_weights", ["http://i.imgur.com/DCznSf4.png"]),
    ],
)
def test_images_of_real_summaries_are_found(name: str, images: list[str]) -> None:
    source = (SEED_SUMMARIES / f"{name}.md").read_text(encoding="utf-8")
    assert list(render_summary(source).image_urls) == images


def test_a_table_keeps_its_images_addresses() -> None:
    rendered = render_summary("| a | b |\n|---|---|\n| ![fig](https://x.org/f.png) | c |\n")
    assert "🖼 fig: https://x.org/f.png" in rendered.text
    assert rendered.image_urls == ("https://x.org/f.png",)


def test_marks_wrap_formulas_and_anchor_images_and_nothing_else() -> None:
    from bot.rendering.units import UNIT_CLOSE, UNIT_OPEN, image_anchor, strip_marks

    source = (SEED_SUMMARIES / "fast_weights.md").read_text(encoding="utf-8")
    rendered = render_summary(source)
    assert strip_marks(rendered.marked) == rendered.text
    assert UNIT_OPEN + "A(t)" + UNIT_CLOSE in rendered.marked
    assert image_anchor(0) + "[🖼 Fast weights RNN figure](http://i.imgur.com/DCznSf4.png)" in (
        rendered.marked
    )
    # Marks never reach the plain text, nor one-line texts.
    assert UNIT_OPEN not in rendered.text and UNIT_OPEN not in render_inline_text("$x$")


def test_marks_in_the_source_are_removed() -> None:
    from bot.rendering.units import UNIT_OPEN, image_anchor

    rendered = render_summary(f"{UNIT_OPEN}x{image_anchor(0)} $y$")
    assert rendered.text == "x y"


@pytest.mark.parametrize(
    "source", ["@$everyone$", "<@$123$>", "<$@123$>", "@$$here$$", "<@![i](https://x.org/i.png)"]
)
def test_a_formula_or_image_cannot_smuggle_a_mention(source: str) -> None:
    from bot.rendering.units import strip_marks

    rendered = render_summary(source)
    for shown in (rendered.text, strip_marks(rendered.marked)):
        assert "@everyone" not in shown and "@here" not in shown
        assert not re.search(r"<@!?\d", shown), shown
