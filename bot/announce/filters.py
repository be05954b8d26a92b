"""Keyword filters of a subscription: which entries a channel wants announced.

A filter is what an admin typed: words and "quoted phrases", separated by spaces or commas.
Matching is case-insensitive, on whole words (so `gan` does not match "organ"), over the
entry's title, author and text. An entry passes when it matches at least one `include` term
(or there are none) and no `exclude` term.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

_TERM = re.compile(r'"([^"]*)"?|([^\s,"]+)')
_SPACES = re.compile(r"\s+")
MAX_FILTER_LENGTH = 500


def normalise(text: str) -> str:
    """Case-folded, accents kept apart, whitespace collapsed: what terms are matched on."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def parse_terms(text: str | None) -> tuple[str, ...]:
    """Split what an admin typed into normalised terms; empty quotes and repeats are dropped.

    >>> parse_terms('GAN, "graph neural network"  diffusion')
    ('gan', 'graph neural network', 'diffusion')
    """
    terms: list[str] = []
    # Normalise first, so that look-alikes (fullwidth quotes and commas) split like the real ones.
    for match in _TERM.finditer(unicodedata.normalize("NFKC", text or "")):
        term = normalise(match.group(1) if match.group(1) is not None else match.group(2))
        if term and term not in terms:
            terms.append(term)
    return tuple(terms)


def describe_terms(terms: tuple[str, ...]) -> str:
    """Terms as they would be typed again: phrases (and terms with commas) quoted."""
    return " ".join(f'"{term}"' if " " in term or "," in term else term for term in terms)


@dataclass(frozen=True)
class KeywordFilter:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def parse(cls, include: str | None, exclude: str | None) -> KeywordFilter:
        return cls(parse_terms(include), parse_terms(exclude))

    @property
    def is_empty(self) -> bool:
        return not self.include and not self.exclude

    @cached_property
    def _include_pattern(self) -> re.Pattern[str] | None:
        return _any_term_pattern(self.include)

    @cached_property
    def _exclude_pattern(self) -> re.Pattern[str] | None:
        return _any_term_pattern(self.exclude)

    def matches(self, *texts: str | None) -> bool:
        """Whether an entry with these texts (title, author, body...) should be announced."""
        return self.is_empty or self.matches_normalised(haystack(texts))

    def matches_normalised(self, text: str) -> bool:
        """`matches` on texts already joined and normalised by `haystack()`."""
        include = self._include_pattern
        if include is not None and include.search(text) is None:
            return False
        exclude = self._exclude_pattern
        return exclude is None or exclude.search(text) is None


def haystack(texts: Sequence[str | None]) -> str:
    """An entry's texts as filters search them: joined and normalised."""
    return normalise(" \n ".join(text for text in texts if text))


def select_matching(
    entries: Sequence[Sequence[str | None]], filters: Sequence[tuple[str, str]]
) -> list[list[int]]:
    """For each (include, exclude) filter, the indexes of the entries it lets through.

    Each entry's texts are normalised once whatever the number of filters: a big feed with
    many filtered subscriptions costs one pass, not one per subscription. CPU-bound: the
    poller runs it in its feed workers.
    """
    keyword_filters = [KeywordFilter.parse(include, exclude) for include, exclude in filters]
    haystacks = [haystack(texts) for texts in entries]
    return [
        [index for index, text in enumerate(haystacks) if keywords.matches_normalised(text)]
        for keywords in keyword_filters
    ]


def _any_term_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching any of the terms as whole words; spaces in phrases match any run."""
    if not terms:
        return None
    alternatives = [r"\s+".join(re.escape(word) for word in term.split(" ")) for term in terms]
    # Lookarounds instead of \b so terms that start or end with punctuation ("c++") work.
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")
