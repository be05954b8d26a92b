"""ShortScience Markdown (with LaTeX math) to Discord-flavoured Markdown.

How it works: markdown-it-py parses the document into blocks with source line ranges. Code
blocks, tables, headings, rules and link reference definitions are rebuilt from the parse;
every other line (paragraphs, lists, block quotes, HTML blocks) is kept as source and passed
through a small inline scanner that leaves code spans untouched, turns `$...$`/`$$...$$`
into Unicode (see `bot.rendering.latex`), images into links, and HTML tags into Markdown.
Keeping the source lines means Discord sees the author's list/quote/heading markup as written,
and math is found before any Markdown parsing can mistake its `_` and `*` for emphasis.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.rendering.equations import (
    MAX_MARKERS,
    DisplayEquation,
    marker,
    strip_private_use,
)
from bot.rendering.latex import (
    MathSegment,
    latex_to_unicode,
    match_math_at,
    to_script,
)
from bot.rendering.text import clean_user_text, escape_markdown, neutralize_mentions
from bot.rendering.units import image_anchor, is_mark, strip_marks, unit
from bot.rendering.urls import is_web_url, web_url_host

IMAGE_MARKER = "🖼"
HORIZONTAL_RULE = "───────────"
_DISCORD_HEADING_LEVELS = 3


@dataclass(frozen=True, slots=True)
class RenderedSummary:
    """A summary ready for Discord: Markdown text plus the images it referenced."""

    text: str
    # Every image: Markdown images, `<img>` and bare links to .png/.jpg/.gif/.webp files.
    image_urls: tuple[str, ...] = ()
    # The first http(s) image, for the embed's image slot.
    first_image_url: str | None = None
    # Display equations collected while rendering (only when asked for), in reading order.
    equations: tuple[DisplayEquation, ...] = ()
    # `text` with the page breaker's marks (`bot.rendering.units`): formulas it keeps whole,
    # and an anchor before each image's link.
    marked: str = ""


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


# --------------------------------------------------------------------------------------------
# Inline scanning
# --------------------------------------------------------------------------------------------

_INLINE_SPECIAL = re.compile(r"[`\\$!\[<&]|https?://", re.IGNORECASE)
_LINK_TEXT = r"\[((?:[^\[\]\\]|\\.|\[(?:[^\[\]\\]|\\.)*\])*)\]"
_INLINE_DESTINATION = (
    r"\(\s*(<[^<>\n]*>|(?:[^\s()\\]|\\.|\((?:[^\s()\\]|\\.)*\))*)"
    r"(?:\s+(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\((?:[^()\\]|\\.)*\)))?\s*\)"
)
_LINK = re.compile(r"(!?)" + _LINK_TEXT + r"(?:" + _INLINE_DESTINATION + r"|\[([^\[\]]*)\])?")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]*)>", re.IGNORECASE)
_IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ANCHOR = re.compile(r"<a\b([^>]*)>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_SCRIPT_TAG = re.compile(r"<(sup|sub)\b[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_DROPPED_ELEMENT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b[^<>]*?(/?)>")
_ATTRIBUTE = r"""\b{name}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"""
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_UNDERSCORE_BOLD = re.compile(r"(?<![\w_\\])__(?=\S)(.+?)(?<=\S)__(?![\w_])")
_PLAIN_EMPHASIS = re.compile(r"\*\*|__|~~")
# A bare link to an image file, in prose: shown as the image (its URL ends with the extension,
# before any query; trailing punctuation is the sentence's).
_URL_CHARACTER = r"[^\s<>\[\]()\"'`]"
_BARE_IMAGE_URL = re.compile(
    rf"(?<![\w/.@:])https?://{_URL_CHARACTER}+?\.(?:png|jpe?g|gif|webp)"
    rf"(?:\?{_URL_CHARACTER}*[^\s<>\[\]()\"'`.,;:!?])?(?=$|[\s)\]}}>,;:!?.\"'])",
    re.IGNORECASE,
)
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# The structural start of a line: indentation, quote markers and list markers.
_LINE_STRUCTURE = re.compile(r"^(?:[ \t]*(?:>|[-*+]|\d{1,9}[.)])(?=[ \t]|$))*[ \t]*")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# HTML formatting tags and their Discord Markdown equivalent.
_TAG_MARKUP: dict[str, str] = {
    "b": "**",
    "strong": "**",
    "i": "*",
    "em": "*",
    "u": "__",
    "ins": "__",
    "s": "~~",
    "del": "~~",
    "strike": "~~",
    "code": "`",
    "tt": "`",
    "kbd": "`",
}
# Layout tags: dropped, with a break where the element implies one: (opening, closing).
_BLOCK = ("\n", "\n")
_TAG_BREAKS: dict[str, tuple[str, str]] = {
    "br": _BLOCK,
    "p": _BLOCK,
    "div": _BLOCK,
    "table": _BLOCK,
    "ul": _BLOCK,
    "ol": _BLOCK,
    "blockquote": _BLOCK,
    "pre": _BLOCK,
    "figure": _BLOCK,
    "center": _BLOCK,
    "h1": _BLOCK,
    "h2": _BLOCK,
    "h3": _BLOCK,
    "h4": _BLOCK,
    "h5": _BLOCK,
    "h6": _BLOCK,
    "tr": ("", "\n"),
    "td": ("", "  "),
    "th": ("", "  "),
    "summary": ("", "\n"),
    "li": ("\n- ", ""),
}
_TAGS_DROPPED = _words(
    """
    span font small big section article header footer main nav figcaption thead tbody tfoot
    caption colgroup col dl dt dd details mark abbr cite q video audio source iframe picture
    hr a sup sub img var samp time nobr wbr
    """
)


def _attribute(attributes: str, name: str) -> str | None:
    match = re.search(_ATTRIBUTE.format(name=name), attributes, re.IGNORECASE)
    if match is None:
        return None
    value = next(group for group in match.groups() if group is not None)
    return html.unescape(value)


def _normalize_label(label: str) -> str:
    return " ".join(label.split()).upper()


@dataclass
class _RenderContext:
    references: dict[str, dict[str, str]]
    base_url: str | None
    image_urls: list[str] = field(default_factory=list)
    # When a list: display equations are collected into it, each marked in the text.
    equations: list[DisplayEquation] | None = None
    # Whether to put the page breaker's marks in the text (`bot.rendering.units`).
    marks: bool = False

    def resolve(self, url: str) -> str:
        url = url.strip()
        if url.startswith("<") and url.endswith(">"):
            url = url[1:-1]
        url = _BACKSLASH_ESCAPE.sub(r"\1", url)
        if self.base_url and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url):
            url = urljoin(self.base_url, url)
        return url

    def add_image(self, url: str) -> str:
        """Collect an image; returns the anchor to put before its link (or nothing)."""
        if not url:
            return ""
        if url not in self.image_urls:
            self.image_urls.append(url)
        return image_anchor(self.image_urls.index(url)) if self.marks else ""

    def unit(self, text: str) -> str:
        """`text` kept whole by the page breaker, when marks are wanted."""
        return unit(text) if self.marks else text


def _continuation_prefix(line: str) -> tuple[str, bool]:
    """(prefix for continuation lines, whether `line` has content after its structure).

    Quote markers repeat on continuation lines; list markers become indentation.
    """
    structure = _LINE_STRUCTURE.match(line)
    structure_text = structure.group(0) if structure else ""
    prefix = "".join(char if char in "> \t" else " " for char in structure_text)
    return prefix, bool(line[len(structure_text) :].strip())


_MARKDOWN_TARGET_ESCAPES = str.maketrans({"(": "%28", ")": "%29", "<": "%3C", ">": "%3E"})


def _without_scheme(url: str) -> str:
    return re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", url).rstrip("/")


def shown_link(text: str, url: str, *, clickable: bool = True) -> str:
    """A link as it may be shown: never text pretending to go somewhere it does not.

    A masked link `[text](url)` gets its real host after it (`[text](url) (evil.example)`,
    in ASCII so look-alike letters show), unless the text is the address or starts with its
    host (`[github.com/a/b](https://github.com/a/b/blob/main/c.py)`). A target
    that is not a web URL Discord would open keeps only its text. `clickable=False` gives
    `text (host)` without a link (one-line texts such as author lists).
    """
    host = web_url_host(url)
    if host is None:
        return text
    visible = _BACKSLASH_ESCAPE.sub(r"\1", text).strip()
    if not visible:
        text = visible = url
    address = _without_scheme(visible).lower()
    if address == _without_scheme(url).lower() or address.split("/", 1)[0] == host:
        # The text is the address, or starts with the real host: nothing is hidden.
        return f"[{text}]({url.translate(_MARKDOWN_TARGET_ESCAPES)})" if clickable else text
    if not clickable:
        return f"{text} ({host})"
    return f"[{text}]({url.translate(_MARKDOWN_TARGET_ESCAPES)}) ({host})"


class _InlineRenderer:
    """Renders inline Markdown source. `plain=True` produces text for table code blocks;
    `links=False` shows links as their text and host, not clickable (one-line texts);
    `bare_images=False` leaves bare image URLs as they are (inside a link's text)."""

    def __init__(
        self,
        context: _RenderContext,
        *,
        plain: bool,
        links: bool = True,
        bare_images: bool = True,
    ) -> None:
        self.context = context
        self.plain = plain
        self.links = links
        self.bare_images = bare_images

    def render(self, text: str) -> str:
        output: list[str] = []
        buffer: list[str] = []
        index = 0
        length = len(text)

        def flush() -> None:
            if buffer:
                output.append(self._plain_run("".join(buffer)))
                buffer.clear()

        while index < length:
            special = _INLINE_SPECIAL.search(text, index)
            if special is None:
                buffer.append(text[index:])
                break
            if special.start() > index:
                buffer.append(text[index : special.start()])
                index = special.start()
            char = text[index]
            handled: tuple[str, int] | None
            if char == "`":
                handled = self._code_span(text, index)
            elif char == "\\":
                flush()
                handled = self._math(text, index, output) or self._escape(text, index)
            elif char == "$":
                flush()
                handled = self._math(text, index, output)
            elif char in "![":
                handled = self._link(text, index)
            elif char == "<":
                handled = self._html(text, index)
            elif char == "&":
                handled = self._entity(text, index)
            else:
                handled = self._bare_image(text, index)
            if handled is None:
                buffer.append(char)
                index += 1
                continue
            flush()
            rendered, index = handled
            output.append(rendered)
        flush()
        return "".join(output)

    # -- pieces ------------------------------------------------------------------------------

    def _plain_run(self, run: str) -> str:
        if self.plain:
            return _PLAIN_EMPHASIS.sub("", run)
        # `__bold__` is bold in Markdown but underline in Discord.
        return _UNDERSCORE_BOLD.sub(r"**\1**", run)

    def _code_span(self, text: str, index: int) -> tuple[str, int]:
        run_end = index
        while run_end < len(text) and text[run_end] == "`":
            run_end += 1
        run = text[index:run_end]
        search = run_end
        while True:
            closing = text.find(run, search)
            if closing < 0:
                return run, run_end  # no closing run: literal backticks
            closing_end = closing + len(run)
            if closing_end < len(text) and text[closing_end] == "`":
                search = closing_end
                while search < len(text) and text[search] == "`":
                    search += 1
                continue
            if self.plain:
                inner = text[run_end:closing]
                if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
                    inner = inner[1:-1]
                return inner, closing_end
            return text[index:closing_end], closing_end

    def _escape(self, text: str, index: int) -> tuple[str, int] | None:
        following = text[index + 1 : index + 2]
        if following and following.isascii() and not following.isalnum() and following.strip():
            return (following if self.plain else text[index : index + 2]), index + 2
        return None

    def _math(self, text: str, index: int, output: list[str]) -> tuple[str, int] | None:
        """`$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]` and display environments."""
        return self._segment(match_math_at(text, index), text, output)

    def _segment(
        self, found: tuple[MathSegment, int] | None, text: str, output: list[str]
    ) -> tuple[str, int] | None:
        if found is None:
            return None
        segment, after = found
        if self.plain:
            return latex_to_unicode(segment.content), after
        if segment.kind == "inline":
            converted = escape_markdown(latex_to_unicode(segment.content), line_start=False)
            return self.context.unit(converted), after
        return self._display(segment, text, after, output)

    def _display(
        self, segment: MathSegment, text: str, after: int, output: list[str]
    ) -> tuple[str, int]:
        """Display math on its own line(s), marked when equations are being collected."""
        unicode = latex_to_unicode(segment.content, display=True)
        rendered = escape_markdown(unicode)
        equations = self.context.equations
        if equations is not None and rendered and len(equations) < MAX_MARKERS:
            rendered = marker(len(equations)) + rendered
            equations.append(DisplayEquation(segment.content, unicode))
        so_far = "".join(output)
        current_line = so_far[so_far.rfind("\n") + 1 :]
        prefix, has_content = _continuation_prefix(current_line)
        pieces: list[str] = []
        if has_content:
            # Real text before the math on this line: end that line first.
            output[:] = [so_far.rstrip(" \t")]
            pieces.append("\n" + prefix)
        pieces.append(self.context.unit(rendered.replace("\n", "\n" + prefix)))
        rest = text[after:]
        stripped_rest = rest.lstrip(" \t")
        if stripped_rest and not stripped_rest.startswith("\n"):
            pieces.append("\n" + prefix)
            after += len(rest) - len(stripped_rest)
        return "".join(pieces), after

    def _link(self, text: str, index: int) -> tuple[str, int] | None:
        match = _LINK.match(text, index)
        if match is None:
            return None
        is_image = match.group(1) == "!"
        label_text = match.group(2)
        destination = match.group(3)
        reference_label = match.group(4)
        if destination is None:
            label = reference_label if reference_label else label_text
            reference = self.context.references.get(_normalize_label(label))
            if reference is None:
                return None  # not a link: the brackets stay text
            destination = reference.get("href", "")
        url = self.context.resolve(destination)
        inner = self._nested().render(label_text).strip()
        if is_image:
            return self._image(url, inner), match.end()
        if self.plain:
            return inner, match.end()
        return shown_link(inner, url, clickable=self.links), match.end()

    def _nested(self) -> _InlineRenderer:
        """For a link's text: no bare image links inside a link."""
        return _InlineRenderer(self.context, plain=self.plain, links=self.links, bare_images=False)

    def _image(self, url: str, alt: str) -> str:
        """An image as a link (`🖼 alt`), after its anchor; in plain text (a table's code
        block) with its address, so no image is lost."""
        anchor = self.context.add_image(url) if is_web_url(url) else ""
        label = f"{IMAGE_MARKER} {alt or 'image'}"
        if self.plain:
            return anchor + (f"{label}: {url}" if anchor or is_web_url(url) else label)
        return anchor + shown_link(label, url, clickable=self.links)

    def _bare_image(self, text: str, index: int) -> tuple[str, int] | None:
        """A bare link to an image file: the image. In plain text (a table's code block)
        the address stays as written."""
        match = _BARE_IMAGE_URL.match(text, index) if self.bare_images else None
        if match is None or not is_web_url(match.group(0)):
            return None
        url = match.group(0)
        shown = self.context.add_image(url) + url if self.plain else self._image(url, "")
        return shown, match.end()

    def _html(self, text: str, index: int) -> tuple[str, int] | None:
        for pattern in (_HTML_COMMENT, _DROPPED_ELEMENT):
            match = pattern.match(text, index)
            if match:
                return "", match.end()
        match = _AUTOLINK.match(text, index)
        if match:
            if self.bare_images and _BARE_IMAGE_URL.fullmatch(match.group(1)):
                return self._image(match.group(1), ""), match.end()
            return (match.group(1) if self.plain else match.group(0)), match.end()
        match = _IMG_TAG.match(text, index)
        if match:
            source = _attribute(match.group(0), "src") or ""
            alt = _attribute(match.group(0), "alt") or ""
            alt = escape_markdown(alt, line_start=False) if not self.plain else alt
            return self._image(self.context.resolve(source), alt.strip()), match.end()
        match = _ANCHOR.match(text, index)
        if match:
            href = _attribute(match.group(1), "href")
            inner = self._nested().render(match.group(2)).strip()
            if href is None or self.plain:
                return inner, match.end()
            target = self.context.resolve(href)
            return shown_link(inner, target, clickable=self.links), match.end()
        match = _SCRIPT_TAG.match(text, index)
        if match:
            inner = _InlineRenderer(self.context, plain=True).render(match.group(2))
            scripted = to_script(inner, superscript=match.group(1).lower() == "sup")
            return (scripted if self.plain else escape_markdown(scripted, line_start=False)), (
                match.end()
            )
        match = _TAG.match(text, index)
        if match is None:
            return None
        name = match.group(2).lower()
        if name == "hr":
            return "\n" + HORIZONTAL_RULE + "\n", match.end()
        if name in _TAG_MARKUP:
            return ("" if self.plain else _TAG_MARKUP[name]), match.end()
        if name in _TAG_BREAKS:
            is_closing = match.group(1) == "/"
            replacement = _TAG_BREAKS[name][1 if is_closing else 0]
            if self.plain and replacement:
                replacement = " "
            return replacement, match.end()
        if name in _TAGS_DROPPED:
            return "", match.end()
        return None  # `<T>` in prose: not HTML we know, keep it

    def _entity(self, text: str, index: int) -> tuple[str, int] | None:
        match = _ENTITY.match(text, index)
        if match is None:
            return None
        decoded = html.unescape(match.group(0))
        if decoded == match.group(0):
            return None
        decoded = clean_user_text(decoded)
        if not self.plain:
            decoded = escape_markdown(decoded, line_start=False)
        return decoded, match.end()


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------

_FENCE_LANGUAGE = re.compile(r"[A-Za-z0-9_+\-.#]{1,32}")


def _code_block(content: str, language: str = "") -> str:
    """A Discord code block. A ``` inside the code would close it early, so it gets a
    zero-width space (the one change we make to code)."""
    if not content.strip():
        return ""
    content = content.replace("```", "`\u200b``")
    if not content.endswith("\n"):
        content += "\n"
    return f"```{language}\n{content}```"


def _fence_language(info: str) -> str:
    words = info.split()
    if words and _FENCE_LANGUAGE.fullmatch(words[0]):
        return words[0]
    return ""


def _display_width(text: str) -> int:
    width = 0
    for char in text:
        if unicodedata.combining(char) or char in "\u200b\u200d\ufe0f" or is_mark(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _pad(text: str, width: int, alignment: str) -> str:
    missing = max(0, width - _display_width(text))
    if alignment == "right":
        return " " * missing + text
    if alignment == "center":
        left = missing // 2
        return " " * left + text + " " * (missing - left)
    return text + " " * missing


def _cell_alignment(token: Token) -> str:
    style = str(token.attrs.get("style", ""))
    match = re.search(r"text-align:\s*(left|right|center)", style)
    return match.group(1) if match else "left"


def _render_table(tokens: list[Token], start: int, context: _RenderContext) -> str:
    """Render the table whose `table_open` is at `start` as an aligned code block."""
    rows: list[list[str]] = []
    alignments: list[str] = []
    header_rows = 0
    in_header = False
    index = start + 1
    current: list[str] | None = None
    plain = _InlineRenderer(context, plain=True)
    while index < len(tokens) and tokens[index].type != "table_close":
        token = tokens[index]
        if token.type == "thead_open":
            in_header = True
        elif token.type == "thead_close":
            in_header = False
        elif token.type == "tr_open":
            current = []
        elif token.type == "tr_close" and current is not None:
            rows.append(current)
            header_rows += 1 if in_header else 0
            current = None
        elif token.type in ("th_open", "td_open") and current is not None:
            if len(alignments) <= len(current):
                alignments.append(_cell_alignment(token))
        elif token.type == "inline" and current is not None:
            cell = plain.render(token.content)
            current.append(" ".join(cell.split()))
        index += 1
    columns = max((len(row) for row in rows), default=0)
    if columns == 0:
        return ""
    for row in rows:
        row.extend([""] * (columns - len(row)))
    alignments.extend(["left"] * (columns - len(alignments)))
    widths = [max(_display_width(row[column]) for row in rows) for column in range(columns)]
    lines: list[str] = []
    for row_number, row in enumerate(rows):
        cells = [_pad(cell, widths[column], alignments[column]) for column, cell in enumerate(row)]
        lines.append(" | ".join(cells).rstrip())
        if row_number == header_rows - 1:
            lines.append("-+-".join("-" * width for width in widths))
    return _code_block("\n".join(lines))


@dataclass
class _Block:
    start: int  # first source line
    end: int  # line after the block
    # Renders the text replacing those lines; called in document order so images are
    # collected in the order they appear.
    render: Callable[[], str]
    is_code: bool = False


def _constant(text: str) -> Callable[[], str]:
    return lambda: text


def _deferred(render: Callable[..., str], *args: object) -> Callable[[], str]:
    """`render(*args)`, called later (blocks render in document order)."""
    return lambda: render(*args)


def _special_blocks(tokens: list[Token], lines: list[str], context: _RenderContext) -> list[_Block]:
    """Blocks rebuilt from the parse instead of passed through the inline scanner."""
    blocks: list[_Block] = []
    index = 0
    inline = _InlineRenderer(context, plain=False)

    def _heading(content: str, level: int) -> str:
        rendered = " ".join(inline.render(content).split("\n")).strip()
        if not rendered:
            return ""
        if level <= _DISCORD_HEADING_LEVELS:
            return "#" * level + " " + rendered
        return f"**{rendered}**"  # Discord has no level 4-6 headings

    while index < len(tokens):
        token = tokens[index]
        line_range = token.map
        if line_range is None:
            index += 1
            continue
        start, end = line_range
        if token.type in ("fence", "code_block"):
            if token.level == 0:
                # Rebuilt as a closed ``` fence: Discord knows neither ~~~ nor indented code.
                language = _fence_language(token.info) if token.type == "fence" else ""
                text = _code_block(token.content, language)
            else:
                text = "\n".join(lines[start:end])  # inside a list or quote: keep as written
            blocks.append(_Block(start, end, _constant(text), is_code=True))
        elif token.type == "table_open" and token.level == 0:
            table_start = index
            while index < len(tokens) and tokens[index].type != "table_close":
                index += 1
            blocks.append(
                _Block(
                    start,
                    end,
                    _deferred(_render_table, tokens, table_start, context),
                    is_code=True,
                )
            )
        elif token.type == "heading_open" and token.level == 0:
            level = int(token.tag[1:]) if token.tag[1:].isdigit() else 1
            content_token = tokens[index + 1] if index + 1 < len(tokens) else None
            content = content_token.content if content_token is not None else ""
            blocks.append(_Block(start, end, _deferred(_heading, content, level)))
        elif token.type == "hr" and token.level == 0:
            blocks.append(_Block(start, end, _constant(HORIZONTAL_RULE)))
        index += 1
    for reference in context.references.values():
        reference_map = reference.get("map")
        if isinstance(reference_map, list | tuple) and len(reference_map) == 2:
            blocks.append(_Block(int(reference_map[0]), int(reference_map[1]), _constant("")))
    blocks.sort(key=lambda block: (block.start, -block.end))
    # Drop blocks nested in (or overlapping) an earlier one.
    kept: list[_Block] = []
    for block in blocks:
        if kept and block.start < kept[-1].end:
            continue
        kept.append(block)
    return kept


_EXTRA_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def render_summary(
    markdown: str,
    *,
    base_url: str | None = None,
    equations: list[DisplayEquation] | None = None,
) -> RenderedSummary:
    """Render a ShortScience summary (Markdown + LaTeX) as Discord Markdown.

    `base_url` resolves relative link and image URLs (e.g. "https://www.shortscience.org/").
    Mentions are neutralised and control characters removed. Never raises on odd input.
    With an `equations` list, display equations are appended to it and marked in the text
    (see `bot.rendering.equations`); the result's `equations` lists them too. The result's
    `marked` is the text with the page breaker's marks (see `bot.rendering.units`).
    """
    # Private use characters of the supplementary planes are the marks' and markers' own.
    source = strip_private_use(clean_user_text(markdown))
    environment: dict[str, object] = {}
    tokens = _parser().parse(source, environment)
    references = environment.get("references", {})
    context = _RenderContext(
        references=references if isinstance(references, dict) else {},
        base_url=base_url,
        equations=equations,
        marks=True,
    )
    lines = source.split("\n")
    blocks = _special_blocks(tokens, lines, context)
    inline = _InlineRenderer(context, plain=False)

    parts: list[tuple[str, bool]] = []  # (text, is_code)
    line = 0
    for block in [*blocks, _Block(len(lines), len(lines), _constant(""))]:
        if block.start > line:
            prose = "\n".join(lines[line : block.start])
            parts.append((_EXTRA_BLANK_LINES.sub("\n\n", inline.render(prose)), False))
        if block.end > block.start:
            parts.append((block.render(), block.is_code))
        line = max(line, block.end)

    text = "\n".join(part for part, _ in parts)
    text = _collapse_blank_lines_outside_code(text)
    marked = neutralize_mentions(text.strip("\n"))
    images = tuple(context.image_urls)
    first_image = next((url for url in images if is_web_url(url)), None)
    return RenderedSummary(
        text=strip_marks(marked),
        image_urls=images,
        first_image_url=first_image,
        equations=tuple(equations or ()),
        marked=marked,
    )


_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _collapse_blank_lines_outside_code(text: str) -> str:
    """At most one blank line in a row, except inside code blocks."""
    output: list[str] = []
    fence: str | None = None
    blank_run = 0
    for line in text.split("\n"):
        match = _FENCE_LINE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
            if not line.strip():
                blank_run += 1
                if blank_run > 1:
                    continue
            else:
                blank_run = 0
        else:
            blank_run = 0
            closes = match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence)
            if closes and not line.strip().strip(fence[0]):
                fence = None
        output.append(line)
    return "\n".join(output)


def render_inline_text(text: str, *, markdown: bool = True) -> str:
    """One line of user text (a paper title, an author list) with math rendered.

    `markdown=True` gives Discord Markdown (for descriptions and field values), where a
    link shows as its text and real host, not clickable; `markdown=False` gives plain
    Unicode with Markdown syntax removed (for embed titles, footers, author names and select
    options). Whitespace and newlines collapse to single spaces; mentions are neutralised.
    """
    context = _RenderContext(references={}, base_url=None)
    renderer = _InlineRenderer(context, plain=not markdown, links=False)
    rendered = renderer.render(clean_user_text(text))
    return neutralize_mentions(" ".join(rendered.split()))
