"""HTML descriptions to readable Markdown-ish text, and the small string helpers parsing needs."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

# Tags that start a new paragraph or line when an HTML description becomes text.
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "blockquote", "pre", "table",
        "tr", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "figure",
        "figcaption", "address",
    }
)  # fmt: skip
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template"})
_WHITESPACE = re.compile(r"\s+")
_HTML_TAG = re.compile(
    r"</?(?:p|br|a|div|span|img|b|i|u|em|strong|ul|ol|li|h[1-6]|blockquote|pre|code|table|tr|"
    r"td|th|hr|sup|sub|figure|iframe|small|font|center|dl|dt|dd)\b[^<>]*>",
    re.IGNORECASE,
)


def looks_like_html(text: str) -> bool:
    """True when `text` contains common HTML tags (RSS descriptions do not say their type)."""
    return _HTML_TAG.search(text) is not None


def collapse_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


class _TextExtractor(HTMLParser):
    """Collects text, turning blocks into paragraphs, `<br>` into newlines and links into
    Markdown links, so a description reads well in Discord."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0
        self.links: list[tuple[str | None, int]] = []
        self.new_paragraph = False

    def _flush(self) -> None:
        text = "".join(self.current)
        self.current = []
        if self.pre_depth:
            lines = [line.rstrip() for line in text.split("\n")]
        else:
            lines = [collapse_whitespace(line) for line in text.split("\n")]
        joined = "\n".join(lines).strip("\n")
        if not joined.strip():
            return
        if self.new_paragraph or not self.blocks:
            self.blocks.append(joined)
        else:
            self.blocks[-1] += "\n" + joined
        self.new_paragraph = False

    def _break(self, paragraph: bool) -> None:
        self._flush()
        if paragraph:
            self.new_paragraph = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth += 1
        elif tag == "br":
            self.current.append("\n")
        elif tag == "li":
            self._break(paragraph=False)
            self.current.append("- ")
        elif tag in _BLOCK_TAGS:
            self._break(paragraph=True)
            if tag == "pre":
                self.pre_depth += 1
        elif tag == "a":
            href = dict(attrs).get("href")
            self.links.append((href, len("".join(self.current))))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.current.append(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._break(paragraph=True)
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            whole = "".join(self.current)
            label = collapse_whitespace(whole[start:])
            if href and href.startswith(("http://", "https://")) and label and label != href:
                self.current = [whole[:start], f"[{label}]({href})"]

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.current.append(data)

    def text(self) -> str:
        self._break(paragraph=True)
        return "\n\n".join(self.blocks)


def html_to_text(markup: str) -> str:
    """The readable text of an HTML fragment: paragraphs kept, tags dropped, entities decoded."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return extractor.text()


def unescape(text: str) -> str:
    return html.unescape(text)
