"""Recognise paper identifiers in text people paste: arXiv ids, DOIs, ShortScience/DBLP keys.

Pure functions, no I/O. Two entry points:

* `parse_paper_id(text)` reads input meant to be ONE identifier (a command option, a form
  field). It tolerates whitespace, wrapping (`<...>`, backticks, quotes, brackets), trailing
  punctuation, and surrounding prose as long as the prose mentions exactly one paper. It
  always returns `PaperId` or `NotAPaperId`, never raises.
* `find_paper_ids(text)` collects every identifier mentioned in free text (a message, a feed
  item's HTML or Markdown), deduplicated by `canonical_key`, in order of first appearance.
  It is stricter about bare numbers: a new-style arXiv id such as 1502.03167 counts only
  with an "arXiv" prefix or inside an arXiv link, because prose is full of numbers like
  2023.12345. Old-style ids (hep-th/9901001), DOIs (10.xxxx/...), DBLP keys (journals/...,
  conf/...) and links are distinctive enough to count on their own.

Normalisation:

* arXiv: value is the id without version; the version is kept apart. Old-style ids drop the
  subject class, which arXiv says is not part of the identifier: math.CA/0611800v2 becomes
  value "math/0611800", version 2. New-style ids are validated: month 01-12, four digits
  after the dot for 0704-1412, five from 1501 on, nothing before 0704.
* DOI: value is lower-case (DOIs are case-insensitive), without "doi:" or a resolver URL.
  arXiv's own DOIs (10.48550/arXiv.ID) become the arXiv id.
* bibtex: value is the ShortScience/DBLP key, verbatim (keys are case-sensitive). A key from
  a ShortScience link is taken as is, whatever its shape; a key on its own must look like a
  DBLP key (journals/..., conf/..., books/..., with at least three segments), or carry our
  own "bibtex:" prefix. `PaperId.equivalent_ids` adds the arXiv id or DOI a key encodes.

Work is bounded: `parse_paper_id` refuses input over MAX_PARSE_CHARS at once,
`find_paper_ids` reads the first MAX_SCAN_CHARS characters and returns at most MAX_FOUND
ids; patterns over free text are linear, and stricter ones only see candidates of at most
1000 characters.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote, unquote

PaperKind = Literal["arxiv", "doi", "bibtex"]

MAX_PARSE_CHARS: Final = 4000
MAX_SCAN_CHARS: Final = 100_000
MAX_FOUND: Final = 50
MAX_DOI_CHARS: Final = 300
MAX_KEY_CHARS: Final = 300
# A candidate longer than this cannot be a valid identifier (all are capped at ~300 chars
# plus a URL prefix); skipping it keeps trimming and validation cheap.
_MAX_CANDIDATE_CHARS: Final = 1000
_MAX_NOT_A_PAPER_TEXT: Final = 200

_KINDS: Final = frozenset({"arxiv", "doi", "bibtex"})
ARXIV_DOI_PREFIX: Final = "10.48550/arxiv."

# ---------------------------------------------------------------------------------------------
# Result types


@dataclass(frozen=True, slots=True)
class PaperId:
    """A normalised paper identifier. `value` never carries a version or a prefix."""

    kind: PaperKind
    value: str
    version: int | None = None  # arXiv version, e.g. 2 for v2; None when not given

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown paper id kind: {self.kind!r}")
        if not self.value:
            raise ValueError("a paper id needs a value")
        if self.version is not None and (self.kind != "arxiv" or self.version < 1):
            raise ValueError("only arXiv ids have versions, and they start at 1")

    @property
    def canonical_key(self) -> str:
        """The stable key stored in papers.canonical_key, e.g. 'arxiv:1502.03167'."""
        return f"{self.kind}:{self.value}"

    @property
    def versioned_id(self) -> str:
        """The value with its arXiv version when known, e.g. '2101.00001v2'."""
        if self.version is None:
            return self.value
        return f"{self.value}v{self.version}"

    @property
    def display(self) -> str:
        """A short human form: 'arXiv:2101.00001v2', 'doi:10.1145/...', or the bibtex key."""
        if self.kind == "arxiv":
            return f"arXiv:{self.versioned_id}"
        if self.kind == "doi":
            return f"doi:{self.value}"
        return self.value

    @property
    def abs_url(self) -> str | None:
        """arXiv abstract page (of the given version, if any); None for other kinds."""
        if self.kind != "arxiv":
            return None
        return f"https://arxiv.org/abs/{self.versioned_id}"

    @property
    def pdf_url(self) -> str | None:
        """arXiv PDF (of the given version, if any); None for other kinds."""
        if self.kind != "arxiv":
            return None
        return f"https://arxiv.org/pdf/{self.versioned_id}"

    @property
    def doi_url(self) -> str | None:
        """doi.org resolver link; None for other kinds."""
        if self.kind != "doi":
            return None
        return "https://doi.org/" + quote(self.value, safe=_URL_SAFE)

    @property
    def shortscience_url(self) -> str | None:
        """ShortScience paper page for a bibtex key; None for other kinds."""
        if self.kind != "bibtex":
            return None
        return "https://www.shortscience.org/paper?bibtexKey=" + quote(self.value, safe=_URL_SAFE)

    @property
    def url(self) -> str:
        """The best landing page for this identifier."""
        return self.abs_url or self.doi_url or self.shortscience_url or ""

    @property
    def equivalent_ids(self) -> tuple[PaperId, ...]:
        """This id first, then ids of the same paper encoded in it (for bibtex keys only).

        journals/corr/1502.03167 (ShortScience's key for papers it imported from arXiv),
        journals/corr/abs-1502-03167 and journals/corr/cs-CC-9910002 (DBLP's CoRR keys)
        encode an arXiv id; a ShortScience key that is a DOI (its CrossRef imports) or an
        arXiv id/link encodes that. Useful to look a paper up under every key it may have.
        """
        if self.kind != "bibtex":
            return (self,)
        implied = _implied_by_key(self.value)
        return (self,) if implied is None else (self, implied)


@dataclass(frozen=True, slots=True)
class NotAPaperId:
    """Input that holds no (single) paper identifier, with a short reason for the user.

    `text` is the input, cut to its first 200 characters. The reason never quotes the input,
    so it is safe to show in Discord as is.
    """

    text: str
    reason: str


# Characters left unescaped in generated URLs: DOIs and keys read naturally with these.
_URL_SAFE: Final = "/:;()._-~!$*+,=@"

# ---------------------------------------------------------------------------------------------
# Building blocks

_OLD_ARCHIVES: Final = (
    "acc-phys", "adap-org", "alg-geom", "ao-sci", "astro-ph", "atom-ph", "bayes-an",
    "chao-dyn", "chem-ph", "cmp-lg", "comp-gas", "cond-mat", "cs", "dg-ga", "funct-an",
    "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math", "math-ph", "mtrl-th", "nlin",
    "nucl-ex", "nucl-th", "patt-sol", "physics", "plasm-ph", "q-alg", "q-bio", "quant-ph",
    "solv-int", "supr-con",
)  # fmt: skip
# Longest first, so 'math-ph' wins over 'math' where a '-' could separate either.
_ARCHIVE_ALT: Final = "|".join(
    re.escape(name) for name in sorted(_OLD_ARCHIVES, key=len, reverse=True)
)
_SUBJECT: Final = r"[A-Za-z][A-Za-z\-]{0,15}"

# Loose shapes (no named groups) for finding candidates; strict parsing validates them.
_NEW_SHAPE: Final = r"\d{4}\.\d{4,5}(?!\d)"
_OLD_SHAPE: Final = rf"(?:{_ARCHIVE_ALT})(?:\.{_SUBJECT})?/\d{{7}}(?!\d)"
_VERSION_SHAPE: Final = r"(?:v\d{1,3}(?!\d))?"

# Strict id with named groups: new style or old style, then an optional version.
_ARXIV_ID: Final = (
    rf"(?:(?P<yymm>\d{{4}})\.(?P<seq>\d{{4,5}})(?!\d)"
    rf"|(?P<archive>{_ARCHIVE_ALT})(?:\.{_SUBJECT})?/(?P<num>\d{{7}})(?!\d))"
    r"(?:v(?P<version>\d{1,3})(?!\d))?"
)
_FLAGS: Final = re.ASCII | re.IGNORECASE
_ARXIV_ID_AT_START: Final = re.compile(_ARXIV_ID, _FLAGS)
_ARXIV_ID_FULL: Final = re.compile(rf"(?:arxiv(?:\s?:\s?|\s))?{_ARXIV_ID}", _FLAGS)
# Near misses, to explain why something that looks like an arXiv id is not one.
_ARXIV_LIKE: Final = re.compile(r"(?:arxiv\s?:?\s?)?\d{2,4}\.\d{1,9}(?:v\d*)?", _FLAGS)

# Link prefixes (host and path up to the id), shared by strict parsing and free-text search.
_ARXIV_PAGES: Final = (
    r"(?:(?:www|export|browse|ar5iv\.labs)\.)?arxiv\.org/(?:abs|pdf|html|format|ps)"
    r"|(?:www\.)?(?:ar5iv|alphaxiv)\.org/(?:abs|html|pdf)"
    r"|(?:www\.)?huggingface\.co/papers"
)
_DOI_HOST: Final = r"(?:dx\.|www\.)?doi\.org"
_SHORTSCIENCE_HOST: Final = r"(?:www\.)?shortscience\.org"
_DBLP_HOST: Final = r"(?:www\.)?dblp\.(?:org|uni-trier\.de|dagstuhl\.de)"

_ARXIV_URL: Final = re.compile(
    rf"(?:https?://)?(?:{_ARXIV_PAGES})/(?P<rest>[^?#]*)(?:[?#].*)?", _FLAGS | re.DOTALL
)
# What may follow the id in an arXiv link path: '.pdf', a trailing slash, or (for html
# pages) a path inside the paper.
_ARXIV_URL_TAIL: Final = re.compile(r"(?:\.pdf)?/?|/[^\s]*", _FLAGS)

_DOI: Final = re.compile(r"10\.\d{4,9}(?:\.\d{1,9})*+/(?P<suffix>.+)", re.ASCII | re.DOTALL)
_DOI_PREFIXED: Final = re.compile(r"doi(?:\s?:\s?|\s)(?P<doi>10\..*)", _FLAGS | re.DOTALL)
_DOI_URL: Final = re.compile(
    rf"(?:https?://)?{_DOI_HOST}/(?P<doi>[^?#]*)(?:[?#].*)?", _FLAGS | re.DOTALL
)

_SHORTSCIENCE_URL: Final = re.compile(
    rf"(?:https?://)?{_SHORTSCIENCE_HOST}/paper/?\?(?P<query>[^#]*)(?:#.*)?",
    _FLAGS | re.DOTALL,
)
_BIBTEX_KEY_PARAM: Final = re.compile(r"(?:^|&)bibtexkey=(?P<key>[^&]*)", _FLAGS)

# DBLP record types that start a key; type names are case-sensitive in DBLP.
_DBLP_TYPES: Final = "journals|conf|books|series|phd|reference|tr|ms|informal"
_DBLP_SEGMENT: Final = r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*+"
_DBLP_KEY_SHAPE: Final = rf"(?-i:(?:{_DBLP_TYPES})/{_DBLP_SEGMENT}(?:/{_DBLP_SEGMENT}){{1,3}})"
_DBLP_KEY: Final = re.compile(rf"(?:dblp:)?(?P<key>{_DBLP_KEY_SHAPE})", _FLAGS)
_DBLP_URL: Final = re.compile(
    rf"(?:https?://)?{_DBLP_HOST}/rec/"
    r"(?:(?:bibtex|bib|html|xml|rdf)\d?/)?(?P<key>[^?#]+?)"
    r"(?:\.(?:html|bib|xml|ris|nt|rdf|ttl))?/?(?:[?#].*)?",
    _FLAGS | re.DOTALL,
)
_CANONICAL_BIBTEX: Final = re.compile(r"bibtex:(?P<key>.*)", re.DOTALL)

# Keys from DBLP's CoRR (arXiv) journal and ShortScience's arXiv imports.
_CORR_NEW_KEY: Final = re.compile(r"journals/corr/abs-(\d{4})-(\d{4,5})", re.ASCII)
_CORR_OLD_KEY: Final = re.compile(
    rf"journals/corr/(?P<archive>{_ARCHIVE_ALT})(?:-{_SUBJECT})?-(?P<num>\d{{7}})", re.ASCII
)
_CORR_SHORTSCIENCE_KEY: Final = re.compile(r"journals/corr/(?P<id>.+)", re.ASCII | re.DOTALL)

_URL_LIKE: Final = re.compile(r"(?:[a-z][a-z0-9+.\-]*://|www\.)|^[\w\-]+(?:\.[\w\-]+)+/", _FLAGS)

# Whitespace (Unicode included) and zero-width characters stripped around pasted input.
_EDGE_SPACE: Final = (
    " \t\n\r\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
)
# Characters that end a candidate in free text: whitespace, quotes, angle and square
# brackets, braces, backticks, pipes and backslashes (HTML, Markdown, LaTeX, tables).
_STOP: Final = (
    r"\s\u00a0\u1680\u2000-\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
    r"\"'<>\[\]{}`|\\"
)
_TRAILING_PUNCT: Final = frozenset(".,;:!?'\"*~`")
_CLOSERS: Final = {")": "(", "]": "[", "}": "{", ">": "<"}
_WRAPPERS: Final = (
    ("```", "```"), ("`", "`"), ("<", ">"), ("(", ")"), ("[", "]"), ("{", "}"),
    ('"', '"'), ("'", "'"), ("“", "”"), ("‘", "’"), ("«", "»"), ("**", "**"),
    ("*", "*"), ("__", "__"), ("_", "_"), ("||", "||"),
)  # fmt: skip
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# ---------------------------------------------------------------------------------------------
# Free-text candidates

_URL_TAIL: Final = rf"[^{_STOP}]++"
_ARXIV_PATH: Final = r"[A-Za-z0-9.\-/]++"
# Hosts must not be the tail of a longer name (notarxiv.org).
_HOST_START: Final = r"(?<![A-Za-z0-9_.\-])(?:https?://)?"
_CANDIDATE_PARTS: Final = (
    ("shortscience", rf"{_HOST_START}{_SHORTSCIENCE_HOST}/paper/?\?{_URL_TAIL}"),
    ("arxiv_url", rf"{_HOST_START}(?:{_ARXIV_PAGES})/{_ARXIV_PATH}"),
    ("doi_url", rf"{_HOST_START}{_DOI_HOST}/{_URL_TAIL}"),
    ("dblp_url", rf"{_HOST_START}{_DBLP_HOST}/rec/{_URL_TAIL}"),
    (
        "doi",
        r"(?<![A-Za-z0-9_.\-/=])(?:doi(?:\s?:\s?|\s))?10\.\d{4,9}(?:\.\d{1,9})*+/" + _URL_TAIL,
    ),
    # A DOI inside some publisher's link (dl.acm.org/doi/10.1145/..., ...?id=10.1371/...).
    ("doi_in_url", r"(?<=[/=])10\.\d{4,9}(?:\.\d{1,9})*+/" + _URL_TAIL),
    (
        "arxiv_prefixed",
        rf"(?<![A-Za-z0-9_])arxiv(?::\s?|\s)(?:{_NEW_SHAPE}|{_OLD_SHAPE}){_VERSION_SHAPE}"
        r"(?![A-Za-z0-9_]|\.\d)",
    ),
    (
        "arxiv_old",
        rf"(?<![A-Za-z0-9_./\-]){_OLD_SHAPE}{_VERSION_SHAPE}(?![A-Za-z0-9_]|\.\d)",
    ),
    (
        "dblp_key",
        rf"(?<![A-Za-z0-9_./\-])(?:dblp:)?{_DBLP_KEY_SHAPE}(?![A-Za-z0-9_/\-])",
    ),
)
_BARE_ARXIV_PART: Final = (
    "arxiv_bare",
    rf"(?<![A-Za-z0-9_./\-]){_NEW_SHAPE}{_VERSION_SHAPE}(?![A-Za-z0-9_/\-]|\.\d)",
)


def _alternation(parts: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<{name}>{body})" for name, body in parts), _FLAGS)


_FIND_RE: Final = _alternation(_CANDIDATE_PARTS)
# Input meant as one identifier may also name a bare new-style arXiv id inside prose.
_LENIENT_FIND_RE: Final = _alternation((*_CANDIDATE_PARTS, _BARE_ARXIV_PART))


# ---------------------------------------------------------------------------------------------
# Public functions


def parse_paper_id(text: str) -> PaperId | NotAPaperId:
    """Read input meant to be one paper identifier. Never raises.

    Accepts an arXiv id (new or old style, optional 'arXiv:' prefix and version), an arXiv
    link (abs, pdf, html; export./www. hosts; ar5iv, alphaxiv and huggingface.co/papers
    mirrors), a DOI (bare, 'doi:', doi.org or dx.doi.org links), a ShortScience paper link, a
    DBLP key or link, or a canonical key ('arxiv:...', 'doi:...', 'bibtex:...'). If the
    whole input is not one identifier, prose around exactly one identifier is accepted too
    (including a bare new-style arXiv id); several distinct identifiers are refused.
    """
    if not isinstance(text, str):
        return NotAPaperId("", "input is not text")
    shown = text[:_MAX_NOT_A_PAPER_TEXT]
    if len(text) > MAX_PARSE_CHARS:
        return NotAPaperId(
            shown, f"too long to be a paper identifier (over {MAX_PARSE_CHARS} characters)"
        )
    cleaned = _clean(text)
    if not cleaned:
        return NotAPaperId(shown, "empty input")
    strict = _parse_candidate(cleaned)
    if isinstance(strict, PaperId):
        return strict

    found = _scan(cleaned, _LENIENT_FIND_RE)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        # Only a count: the reason must not echo (possibly hostile) input back.
        return NotAPaperId(shown, f"{len(found)} different paper identifiers found; give one")
    return NotAPaperId(shown, strict)


def find_paper_ids(text: str) -> list[PaperId]:
    """Every paper identifier mentioned in free text, deduplicated, in order. Never raises.

    Counts links (arXiv, doi.org, ShortScience, DBLP, and DOIs inside other links),
    'arXiv:'-prefixed ids, old-style arXiv ids, bare DOIs and DBLP keys. A bare new-style
    arXiv id counts only with an 'arXiv' prefix or in a link; a DBLP key only if its last
    segment has a digit (real keys end in a year or number; 'conf/nginx/site.conf' does not).
    HTML entities are decoded first. Two mentions of the same canonical key count once (the
    first, with its version). Reads at most MAX_SCAN_CHARS characters, returns at most
    MAX_FOUND ids.
    """
    if not isinstance(text, str) or not text:
        return []
    text = text[:MAX_SCAN_CHARS]
    if "&" in text:
        text = html.unescape(text)
    return _scan(text, _FIND_RE)


def arxiv_bibtex_key(arxiv_id: str) -> str | None:
    """The key ShortScience gives a paper it imports from arXiv: 'journals/corr/1502.03167'.

    ShortScience builds it as 'journals/corr/' + the new-style id without version (see its
    arXiv search import), so old-style ids get no key (None), nor does anything that is not
    an arXiv id. Accepts every form `parse_paper_id` reads as arXiv.
    """
    paper = parse_paper_id(arxiv_id)
    if not isinstance(paper, PaperId) or paper.kind != "arxiv" or "/" in paper.value:
        return None
    return f"journals/corr/{paper.value}"


def arxiv_bibtex_key_candidates(arxiv_id: str) -> tuple[str, ...]:
    """Keys a ShortScience page for this arXiv paper may have, most likely first.

    ShortScience's own arXiv-import key ('journals/corr/1502.03167'), then DBLP's CoRR key for
    papers it indexed from 2018 on ('journals/corr/abs-1502-03167'; DBLP gave earlier ones
    author-based keys such as 'journals/corr/IoffeS15', which cannot be derived). For
    look-ups: a key here is a guess, not a promise that the page exists.
    """
    shortscience_key = arxiv_bibtex_key(arxiv_id)
    if shortscience_key is None:
        return ()
    yymm, seq = shortscience_key.removeprefix("journals/corr/").split(".")
    return (shortscience_key, f"journals/corr/abs-{yymm}-{seq}")


# ---------------------------------------------------------------------------------------------
# Internals


def _scan(text: str, pattern: re.Pattern[str]) -> list[PaperId]:
    found: list[PaperId] = []
    seen: set[str] = set()
    for match in pattern.finditer(text):
        paper = _candidate_to_paper(match)
        if paper is None or paper.canonical_key in seen:
            continue
        seen.add(paper.canonical_key)
        found.append(paper)
        if len(found) >= MAX_FOUND:
            break
    return found


def _candidate_to_paper(match: re.Match[str]) -> PaperId | None:
    candidate = match.group()
    if len(candidate) > _MAX_CANDIDATE_CHARS:
        return None
    if match.lastgroup == "doi_in_url":
        # Inside someone else's link the DOI ends where the path does; a trailing '.pdf'
        # names a file, not part of the DOI.
        candidate = re.split(r"[?#&]", candidate, maxsplit=1)[0]
        candidate = _trim_trailing(candidate).removesuffix("/").removesuffix(".pdf")
    candidate = _trim_trailing(candidate)
    parsed = _parse_candidate(candidate)
    if not isinstance(parsed, PaperId):
        return None
    if match.lastgroup == "dblp_key" and not any(
        ch.isdigit() for ch in parsed.value.rsplit("/", 1)[-1]
    ):
        return None
    return parsed


def _clean(text: str) -> str:
    """Strip whitespace, wrapping pairs and trailing punctuation from pasted input."""
    cleaned = text.strip(_EDGE_SPACE)
    for _ in range(6):
        before = cleaned
        for opener, closer in _WRAPPERS:
            if (
                len(cleaned) >= len(opener) + len(closer)
                and cleaned.startswith(opener)
                and cleaned.endswith(closer)
            ):
                cleaned = cleaned[len(opener) : -len(closer)].strip(_EDGE_SPACE)
        cleaned = _trim_trailing(cleaned).strip(_EDGE_SPACE)
        if cleaned == before:
            break
    return cleaned


def _trim_trailing(text: str) -> str:
    """Drop trailing punctuation, and closing brackets that have no opening partner."""
    open_count = {closer: text.count(opener) for closer, opener in _CLOSERS.items()}
    close_count = {closer: text.count(closer) for closer in _CLOSERS}
    end = len(text)
    while end > 0:
        last = text[end - 1]
        if last in _TRAILING_PUNCT:
            end -= 1
        elif last in _CLOSERS and close_count[last] > open_count[last]:
            close_count[last] -= 1
            end -= 1
        else:
            break
    return text[:end]


def _parse_candidate(text: str) -> PaperId | str:
    """Parse a cleaned token as exactly one identifier; a reason string if it is none."""
    if len(text) > _MAX_CANDIDATE_CHARS:
        return "too long to be a paper identifier"

    if match := _CANONICAL_BIBTEX.fullmatch(text):
        key = match["key"].strip(_EDGE_SPACE)
        return _bibtex(key) or "not a valid ShortScience/DBLP key"
    if match := _SHORTSCIENCE_URL.fullmatch(text):
        return _from_shortscience_query(match["query"])
    if match := _ARXIV_URL.fullmatch(text):
        return _from_arxiv_path(match["rest"])
    if match := _DOI_URL.fullmatch(text):
        return _doi_or_arxiv(unquote(match["doi"]))
    if match := _DBLP_URL.fullmatch(text):
        key = unquote(match["key"])
        if _DBLP_KEY.fullmatch(key) and (paper := _bibtex(key)):
            return paper
        return "this DBLP link does not name a paper record"
    if match := _DOI_PREFIXED.fullmatch(text):
        return _doi_or_arxiv(match["doi"])
    if text.startswith("10."):
        return _doi_or_arxiv(text)
    if match := _DBLP_KEY.fullmatch(text):
        return _bibtex(match["key"]) or "not a valid DBLP key"
    if match := _ARXIV_ID_FULL.fullmatch(text):
        return _arxiv_from_match(match)

    if _ARXIV_LIKE.fullmatch(text):
        return _explain_arxiv_near_miss(text)
    if _URL_LIKE.match(text):
        return "not a link to a paper on arXiv, doi.org, ShortScience or DBLP"
    return (
        "no paper identifier found: give an arXiv id or link, a DOI, "
        "or a ShortScience/DBLP key or link"
    )


def _arxiv_from_match(match: re.Match[str]) -> PaperId | str:
    version = int(match["version"]) if match["version"] else None
    if version is not None and version < 1:
        return "arXiv versions start at v1"
    if match["yymm"]:
        problem = _new_style_problem(match["yymm"], match["seq"])
        if problem:
            return problem
        return PaperId("arxiv", f"{match['yymm']}.{match['seq']}", version)
    problem = _old_style_problem(match["num"])
    if problem:
        return problem
    return PaperId("arxiv", f"{match['archive'].lower()}/{match['num']}", version)


def _new_style_problem(yymm: str, seq: str) -> str | None:
    year, month = int(yymm[:2]), int(yymm[2:])
    if not 1 <= month <= 12:
        return f"not a valid arXiv id: {month:02d} is not a month"
    if (year, month) < (7, 4):
        return "not a valid arXiv id: ids like YYMM.NNNNN start in April 2007 (0704)"
    four_digit_era = (year, month) <= (14, 12)
    if four_digit_era and len(seq) != 4:
        return "not a valid arXiv id: ids up to 2014 have four digits after the dot"
    if not four_digit_era and len(seq) != 5:
        return "not a valid arXiv id: ids from 2015 on have five digits after the dot"
    if int(seq) == 0:
        return "not a valid arXiv id: numbering starts at 1"
    return None


def _old_style_problem(num: str) -> str | None:
    year = int(num[:2])
    year += 1900 if year >= 91 else 2000
    month = int(num[2:4])
    if not 1 <= month <= 12:
        return f"not a valid arXiv id: {month:02d} is not a month"
    if not (1991, 8) <= (year, month) <= (2007, 3):
        return "not a valid arXiv id: old-style ids run from 1991-08 to 2007-03"
    if int(num[4:]) == 0:
        return "not a valid arXiv id: numbering starts at 1"
    return None


def _explain_arxiv_near_miss(text: str) -> str:
    match = re.search(r"(\d{2,4})\.(\d{1,9})", text, re.ASCII)
    if match and len(match[1]) == 4 and 4 <= len(match[2]) <= 5:
        problem = _new_style_problem(match[1], match[2])
        if problem:
            return problem
    return "not a valid arXiv id: expected YYMM.NNNNN (e.g. 2101.00001) or YYMM.NNNN up to 2014"


def _from_arxiv_path(path: str) -> PaperId | str:
    path = unquote(path)
    match = _ARXIV_ID_AT_START.match(path)
    if not match:
        return "this arXiv link does not name a paper"
    if not _ARXIV_URL_TAIL.fullmatch(path[match.end() :]):
        return "this arXiv link does not name a paper"
    return _arxiv_from_match(match)


def _from_shortscience_query(query: str) -> PaperId | str:
    match = _BIBTEX_KEY_PARAM.search(query)
    if not match:
        return "this ShortScience link does not name a paper (no bibtexKey)"
    key = unquote(match["key"]).strip(_EDGE_SPACE)
    return _bibtex(key) or "this ShortScience link has an invalid paper key"


def _bibtex(key: str) -> PaperId | None:
    if not _valid_key(key):
        return None
    return PaperId("bibtex", key)


def _valid_key(key: str) -> bool:
    # Also requires the key to survive `_clean`, so parsing its canonical key round-trips.
    return (
        0 < len(key) <= MAX_KEY_CHARS
        and key.isprintable()
        and not any(ch.isspace() for ch in key)
        and _trim_trailing(key) == key
        and _clean(key) == key
    )


def _doi_or_arxiv(raw: str) -> PaperId | str:
    doi = _trim_trailing(raw.strip(_EDGE_SPACE))
    match = _DOI.fullmatch(doi)
    if not match:
        return "not a complete DOI: expected 10.<registrant>/<suffix>, e.g. 10.1145/3292500.3330701"
    if len(doi) > MAX_DOI_CHARS:
        return "too long to be a DOI"
    if not doi.isprintable() or any(ch.isspace() for ch in doi) or _clean(doi) != doi:
        return "not a valid DOI: it contains spaces or control characters"
    doi = doi.translate(_ASCII_LOWER)
    if doi.startswith(ARXIV_DOI_PREFIX):
        arxiv_match = _ARXIV_ID_AT_START.fullmatch(doi.removeprefix(ARXIV_DOI_PREFIX))
        if arxiv_match:
            arxiv = _arxiv_from_match(arxiv_match)
            if isinstance(arxiv, PaperId):
                return arxiv
    return PaperId("doi", doi)


def _implied_by_key(key: str) -> PaperId | None:
    """The arXiv id or DOI a ShortScience/DBLP key encodes, if any."""
    if match := _CORR_NEW_KEY.fullmatch(key):
        paper = _parse_candidate(f"{match[1]}.{match[2]}")
    elif match := _CORR_OLD_KEY.fullmatch(key):
        paper = _parse_candidate(f"{match['archive'].lower()}/{match['num']}")
    elif match := _CORR_SHORTSCIENCE_KEY.fullmatch(key):
        paper = _parse_candidate(match["id"])
    else:
        paper = _parse_candidate(key)
    if not isinstance(paper, PaperId) or paper.kind == "bibtex":
        return None
    return paper
