"""Turning ShortScience Markdown + LaTeX into text and pages that fit Discord embeds.

Pure functions and dataclasses only: no Discord objects (a cog builds `discord.Embed`s from
`EmbedPage`s).
"""

from bot.rendering.latex import convert_math_in_text, latex_to_unicode
from bot.rendering.markdown import RenderedSummary, render_inline_text, render_summary
from bot.rendering.pages import (
    EmbedField,
    EmbedPage,
    display_pages,
    paginate_for_embed,
    split_pages,
)
from bot.rendering.text import clean_user_text, escape_markdown, neutralize_mentions, shorten

__all__ = [
    "EmbedField",
    "EmbedPage",
    "RenderedSummary",
    "clean_user_text",
    "convert_math_in_text",
    "display_pages",
    "escape_markdown",
    "latex_to_unicode",
    "neutralize_mentions",
    "paginate_for_embed",
    "render_inline_text",
    "render_summary",
    "shorten",
    "split_pages",
]
