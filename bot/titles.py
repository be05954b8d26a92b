"""Comparing paper titles as people type them: the words that matter, one key for "the same
title", and how close two titles are.

Pure functions, no I/O, importing nothing of the bot: the search index (which papers a
typed title may mean), the arXiv title search (which words to ask for) and `/summarize`
(which paper to offer first) all compare titles the same way.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from typing import Final

# English function words: in a title they tell papers apart poorly (and arXiv's search
# ignores some of them), so a search by title asks for the other words.
TITLE_STOP_WORDS: Final = frozenset(
    (  # noqa: SIM905 (a sentence reads better than quoted words)
        "a an and are as at be been being both but by can do does for from has have how if in "
        "into is it its more not of on onto or our over so than that the their them then there "
        "these this those through to towards toward under up upon us via vs was we what when "
        "where which while who why will with within without you your"
    ).split()
)
# Titles compared past this many characters are the same title for every practical purpose.
MAX_COMPARED_CHARS: Final = 300

_WORD: Final = re.compile(r"[^\W_]+")


def title_key(text: str) -> str:
    """What "the same title" compares: Unicode-normalised (NFKC), case-folded, with runs of
    whitespace collapsed to one space and none at either end."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def title_words(text: str) -> list[str]:
    """The words of a title, case-folded, in order: runs of letters and digits (any
    script); everything else (punctuation, quotes, colons, brackets, operators) separates."""
    return _WORD.findall(title_key(text))


def significant_words(text: str) -> list[str]:
    """The title's words without function words and repeats, in order; all of its words
    (without repeats) when every one is a function word."""
    words = list(dict.fromkeys(title_words(text)))
    kept = [word for word in words if word not in TITLE_STOP_WORDS]
    return kept or words


def same_title(first: str, second: str) -> bool:
    """True when two titles differ at most in case, Unicode form and whitespace."""
    return title_key(first) == title_key(second)


def title_similarity(typed: str, title: str) -> float:
    """How well `title` fits what a member typed, from 0 (nothing in common) to 1 (the same
    title).

    Mostly the best of three readings: the characters in common (a typo or a missing word),
    the share of the typed title's significant words that `title` has (another word order,
    punctuation), and `title` starting with what was typed (the beginning of a long title);
    the characters in common also order titles the other readings find equally good.
    """
    typed_key = title_key(typed)[:MAX_COMPARED_CHARS]
    title_key_ = title_key(title)[:MAX_COMPARED_CHARS]
    if not typed_key or not title_key_:
        return 0.0
    if typed_key == title_key_:
        return 1.0
    characters = SequenceMatcher(None, typed_key, title_key_, autojunk=False).ratio()
    wanted = significant_words(typed_key)
    present = set(title_words(title_key_))
    words = sum(1 for word in wanted if word in present) / len(wanted) if wanted else 0.0
    starts = 0.9 if title_key_.startswith(typed_key) else 0.0
    best = max(characters, 0.95 * words, starts)
    # Below an exact match, however much alike.
    return min(0.9 * best + 0.1 * characters, 0.99)
