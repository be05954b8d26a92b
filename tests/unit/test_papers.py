"""Tests for bot.papers: parsing and finding paper identifiers in pasted text."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.papers import (
    MAX_FOUND,
    MAX_PARSE_CHARS,
    NotAPaperId,
    PaperId,
    arxiv_bibtex_key,
    arxiv_bibtex_key_candidates,
    find_paper_ids,
    parse_paper_id,
)


def arxiv(value: str, version: int | None = None) -> PaperId:
    return PaperId("arxiv", value, version)


def doi(value: str) -> PaperId:
    return PaperId("doi", value)


def bibtex(value: str) -> PaperId:
    return PaperId("bibtex", value)


SS = "https://www.shortscience.org/paper?bibtexKey="

# (input, expected PaperId, or None for "not a paper identifier")
PARSE_CASES: list[tuple[str, PaperId | None]] = [
    # arXiv, new style
    ("1502.03167", arxiv("1502.03167")),
    ("2101.00001v2", arxiv("2101.00001", 2)),
    ("arXiv:1502.03167", arxiv("1502.03167")),
    ("arxiv:0704.0001", arxiv("0704.0001")),
    ("ARXIV:1412.9999v10", arxiv("1412.9999", 10)),
    ("arXiv: 1502.03167", arxiv("1502.03167")),
    ("arXiv 2312.00752", arxiv("2312.00752")),
    ("  1502.03167  ", arxiv("1502.03167")),
    ("<1502.03167>", arxiv("1502.03167")),
    ("`arXiv:1502.03167`.", arxiv("1502.03167")),
    ("(arXiv:1502.03167v3),", arxiv("1502.03167", 3)),
    ("**2101.00001**", arxiv("2101.00001")),
    ("\u200b1502.03167\u00a0", arxiv("1502.03167")),
    ("1502.03167V2", arxiv("1502.03167", 2)),
    # arXiv, old style
    ("hep-th/9901001", arxiv("hep-th/9901001")),
    ("math.CA/0611800v2", arxiv("math/0611800", 2)),
    ("cs/0112017", arxiv("cs/0112017")),
    ("cs.AI/0112017", arxiv("cs/0112017")),
    ("arXiv:hep-th/9901001", arxiv("hep-th/9901001")),
    ("HEP-TH/9901001V2", arxiv("hep-th/9901001", 2)),
    ("math-ph/0101001", arxiv("math-ph/0101001")),
    ("q-bio/0703001", arxiv("q-bio/0703001")),
    ("cond-mat/9108001", arxiv("cond-mat/9108001")),
    # arXiv links
    ("https://arxiv.org/abs/1502.03167v3", arxiv("1502.03167", 3)),
    ("http://arxiv.org/pdf/1502.03167.pdf", arxiv("1502.03167")),
    ("arxiv.org/pdf/1502.03167v1", arxiv("1502.03167", 1)),
    ("https://arxiv.org/pdf/1502.03167v1.pdf", arxiv("1502.03167", 1)),
    ("http://export.arxiv.org/abs/1502.03167", arxiv("1502.03167")),
    ("https://www.arxiv.org/abs/1502.03167", arxiv("1502.03167")),
    ("https://arxiv.org/html/2101.00001v2", arxiv("2101.00001", 2)),
    ("https://arxiv.org/html/2101.00001v2/#S3", arxiv("2101.00001", 2)),
    ("https://arxiv.org/abs/1502.03167?context=cs", arxiv("1502.03167")),
    ("https://arxiv.org/abs/1502.03167/", arxiv("1502.03167")),
    ("https://arxiv.org/abs/hep-th/9901001v1", arxiv("hep-th/9901001", 1)),
    ("https://arxiv.org/pdf/math.CA/0611800v2", arxiv("math/0611800", 2)),
    ("HTTPS://ARXIV.ORG/ABS/1502.03167", arxiv("1502.03167")),
    ("<https://arxiv.org/abs/1502.03167>", arxiv("1502.03167")),
    ("https://ar5iv.labs.arxiv.org/html/1502.03167", arxiv("1502.03167")),
    ("https://huggingface.co/papers/2312.00752", arxiv("2312.00752")),
    ("[the paper](https://arxiv.org/abs/1502.03167)", arxiv("1502.03167")),
    # DOIs
    ("10.1145/3292500.3330701", doi("10.1145/3292500.3330701")),
    ("doi:10.1000/xyz", doi("10.1000/xyz")),
    ("DOI: 10.1000/XYZ", doi("10.1000/xyz")),
    ("https://doi.org/10.1145/3292500.3330701", doi("10.1145/3292500.3330701")),
    ("http://dx.doi.org/10.1038/nature16961", doi("10.1038/nature16961")),
    ("doi.org/10.1038/NATURE16961.", doi("10.1038/nature16961")),
    ("https://doi.org/10.1000%2Fabc", doi("10.1000/abc")),
    ("10.1000/abc(123)", doi("10.1000/abc(123)")),
    ("10.1000/abc(123))", doi("10.1000/abc(123)")),
    ("(10.1000/abc)", doi("10.1000/abc")),
    ("10.1000.5/a/b/c", doi("10.1000.5/a/b/c")),
    (
        "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-O",
        doi("10.1002/(sici)1097-4571(199806)49:8<693::aid-asi4>3.0.co;2-o"),
    ),
    ("10.48550/arXiv.1502.03167", arxiv("1502.03167")),
    ("https://doi.org/10.48550/arXiv.1706.03762", arxiv("1706.03762")),
    ("10.48550/arXiv.9913.12345", doi("10.48550/arxiv.9913.12345")),
    # ShortScience / DBLP keys
    ("journals/corr/IoffeS15", bibtex("journals/corr/IoffeS15")),
    ("conf/cvpr/TaigmanYRW14", bibtex("conf/cvpr/TaigmanYRW14")),
    ("conf/nips/VaswaniSPUJGKP17", bibtex("conf/nips/VaswaniSPUJGKP17")),
    ("journals/nature/SilverHMGSDSAPL16", bibtex("journals/nature/SilverHMGSDSAPL16")),
    ("journals/corr/abs-1502-03167", bibtex("journals/corr/abs-1502-03167")),
    ("journals/corr/1502.03167", bibtex("journals/corr/1502.03167")),
    ("books/idea/encyclopedia2005/VerburgAR05", bibtex("books/idea/encyclopedia2005/VerburgAR05")),
    ("DBLP:journals/corr/IoffeS15", bibtex("journals/corr/IoffeS15")),
    ("https://dblp.org/rec/journals/corr/IoffeS15.html", bibtex("journals/corr/IoffeS15")),
    ("bibtex:krizhevsky2012imagenet", bibtex("krizhevsky2012imagenet")),
    # ShortScience links
    (SS + "journals/corr/IoffeS15", bibtex("journals/corr/IoffeS15")),
    (SS + "journals/corr/IoffeS15#joecohen", bibtex("journals/corr/IoffeS15")),
    (SS + "journals%2Fcorr%2FIoffeS15", bibtex("journals/corr/IoffeS15")),
    (
        "http://www.shortscience.org/paper?bibtexKey=conf/cvpr/TaigmanYRW14#martinthoma",
        bibtex("conf/cvpr/TaigmanYRW14"),
    ),
    ("shortscience.org/paper?bibtexKey=conf/kdd/Domingos99", bibtex("conf/kdd/Domingos99")),
    (
        "http://shortscience.org/paper?bibtexKey=journals/corr/1605.06065",
        bibtex("journals/corr/1605.06065"),
    ),
    (SS + "10.1145/3292500.3330701", bibtex("10.1145/3292500.3330701")),
    ("<" + SS + "journals/corr/abs-1904-00760>", bibtex("journals/corr/abs-1904-00760")),
    # Prose around exactly one identifier
    ("see arXiv:1502.03167 please", arxiv("1502.03167")),
    ("the batch norm paper, 1502.03167", arxiv("1502.03167")),
    ("summary of https://doi.org/10.1000/xyz thanks", doi("10.1000/xyz")),
    # Not paper identifiers
    ("hello", None),
    ("", None),
    ("   ", None),
    ("\n\t", None),
    ("1502.1", None),
    ("9913.12345", None),
    ("2023.12345", None),
    ("0701.0001", None),  # before April 2007
    ("1412.00001", None),  # 2014 ids have four digits
    ("1501.0001", None),  # 2015 ids have five digits
    ("1502.00000", None),
    ("1502.03167v0", None),
    ("1502.031678", None),
    ("hep-th/9913001", None),
    ("hep-th/0801001", None),  # old style ended in March 2007
    ("foo-bar/9901001", None),
    ("http://example.com", None),
    ("https://arxiv.org/list/cs.LG/recent", None),
    ("https://arxiv.org/abs/1502.1", None),
    ("10.", None),
    ("10.1000", None),
    ("10.1000/", None),
    ("10.12/abc", None),
    ("doi:", None),
    ("arXiv:", None),
    (SS, None),
    ("https://www.shortscience.org/paper?foo=bar", None),
    ("https://www.shortscience.org/paper?bibtexKey=", None),
    ("krizhevsky2012imagenet", None),
    ("Journals/corr/IoffeS15", None),
    ("journals/corr", None),
    ("attention is all you need", None),
    ("1502.03167 and 10.1000/xyz", None),  # two different papers
    ("🎉📄", None),
    ("\x00\x01\x02", None),
    ("x" * (MAX_PARSE_CHARS + 1), None),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse_paper_id_table(text: str, expected: PaperId | None) -> None:
    result = parse_paper_id(text)
    if expected is None:
        assert isinstance(result, NotAPaperId), result
        assert result.reason
        assert len(result.text) <= 200
    else:
        assert result == expected


def test_table_is_large_and_mixed() -> None:
    assert len(PARSE_CASES) >= 60
    assert sum(expected is None for _, expected in PARSE_CASES) >= 20


@pytest.mark.parametrize(
    ("text", "reason_part"),
    [
        ("", "empty"),
        ("9913.12345", "13 is not a month"),
        ("1501.0001", "five digits"),
        ("1412.00001", "four digits"),
        ("0701.0001", "April 2007"),
        ("1502.03167v0", "v1"),
        ("http://example.com", "link"),
        ("10.1000", "DOI"),
        ("1502.03167 and 10.1000/xyz", "2 different paper identifiers"),
        ("x" * (MAX_PARSE_CHARS + 1), "too long"),
    ],
)
def test_not_a_paper_reasons(text: str, reason_part: str) -> None:
    result = parse_paper_id(text)
    assert isinstance(result, NotAPaperId)
    assert reason_part in result.reason


@pytest.mark.parametrize(
    "text",
    [
        "@everyone https://evil.example/",
        "@everyone 1502.1",
        SS + "@everyone " + SS + "@here",
        "10.1000/@everyone 10.1000/@here",
    ],
)
def test_reason_never_quotes_the_input(text: str) -> None:
    result = parse_paper_id(text)
    assert isinstance(result, NotAPaperId)
    assert "@" not in result.reason


def test_urls_and_keys() -> None:
    paper = arxiv("2101.00001", 2)
    assert paper.canonical_key == "arxiv:2101.00001"
    assert paper.versioned_id == "2101.00001v2"
    assert paper.display == "arXiv:2101.00001v2"
    assert paper.abs_url == "https://arxiv.org/abs/2101.00001v2"
    assert paper.pdf_url == "https://arxiv.org/pdf/2101.00001v2"
    assert paper.url == paper.abs_url
    assert paper.doi_url is None and paper.shortscience_url is None
    assert arxiv("hep-th/9901001").abs_url == "https://arxiv.org/abs/hep-th/9901001"

    paper_doi = doi("10.1145/3292500.3330701")
    assert paper_doi.canonical_key == "doi:10.1145/3292500.3330701"
    assert paper_doi.doi_url == "https://doi.org/10.1145/3292500.3330701"
    assert doi("10.1000/a<b>#c").doi_url == "https://doi.org/10.1000/a%3Cb%3E%23c"
    assert paper_doi.abs_url is None

    key = bibtex("journals/corr/IoffeS15")
    assert key.canonical_key == "bibtex:journals/corr/IoffeS15"
    assert key.shortscience_url == SS + "journals/corr/IoffeS15"
    assert key.url == key.shortscience_url
    assert key.display == "journals/corr/IoffeS15"


def test_paper_id_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        PaperId("isbn", "123")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PaperId("arxiv", "")
    with pytest.raises(ValueError):
        PaperId("doi", "10.1000/x", 2)
    with pytest.raises(ValueError):
        PaperId("arxiv", "1502.03167", 0)


@pytest.mark.parametrize(
    ("key", "implied"),
    [
        ("journals/corr/abs-1502-03167", arxiv("1502.03167")),
        ("journals/corr/abs-0704-0001", arxiv("0704.0001")),
        ("journals/corr/1502.03167", arxiv("1502.03167")),
        ("journals/corr/1605.06065v2", arxiv("1605.06065", 2)),
        ("journals/corr/cs-CC-9910002", arxiv("cs/9910002")),
        ("journals/corr/cs-0112017", arxiv("cs/0112017")),
        ("journals/corr/math-ph-0101001", arxiv("math-ph/0101001")),
        ("10.1145/3292500.3330701", doi("10.1145/3292500.3330701")),
        ("arxiv.org/abs/1502.03167", arxiv("1502.03167")),
        ("journals/corr/IoffeS15", None),
        ("conf/cvpr/TaigmanYRW14", None),
        ("journals/corr/abs-9913-12345", None),
        ("krizhevsky2012imagenet", None),
    ],
)
def test_equivalent_ids(key: str, implied: PaperId | None) -> None:
    paper = bibtex(key)
    expected = (paper,) if implied is None else (paper, implied)
    assert paper.equivalent_ids == expected


def test_equivalent_ids_of_arxiv_and_doi_are_themselves() -> None:
    assert arxiv("1502.03167").equivalent_ids == (arxiv("1502.03167"),)
    assert doi("10.1000/x").equivalent_ids == (doi("10.1000/x"),)


def test_arxiv_bibtex_key() -> None:
    assert arxiv_bibtex_key("1502.03167") == "journals/corr/1502.03167"
    assert arxiv_bibtex_key("arXiv:1502.03167v2") == "journals/corr/1502.03167"
    assert arxiv_bibtex_key("https://arxiv.org/abs/0704.0001") == "journals/corr/0704.0001"
    assert arxiv_bibtex_key("hep-th/9901001") is None
    assert arxiv_bibtex_key("10.1000/xyz") is None
    assert arxiv_bibtex_key("nonsense") is None
    assert arxiv_bibtex_key_candidates("1502.03167v3") == (
        "journals/corr/1502.03167",
        "journals/corr/abs-1502-03167",
    )
    assert arxiv_bibtex_key_candidates("cs/0112017") == ()


# ---------------------------------------------------------------------------------------------
# find_paper_ids

FIND_CASES: list[tuple[str, list[str]]] = [
    (
        "Check out arXiv:1502.03167v2 and https://arxiv.org/abs/1502.03167 too. "
        "Also 10.1145/3292500.3330701, and hep-th/9901001.",
        ["arxiv:1502.03167", "doi:10.1145/3292500.3330701", "arxiv:hep-th/9901001"],
    ),
    # Bare new-style numbers in prose do not count.
    ("Revenue grew 2023.12345 and 1502.03167 in prose; version 2.0; pi 3.14159", []),
    ("arXiv 2101.00001 and arXiv:2101.00001v3", ["arxiv:2101.00001"]),
    ("**arXiv:1502.03167**", ["arxiv:1502.03167"]),
    ("[arXiv:1502.03167](https://arxiv.org/abs/1502.03167v1)", ["arxiv:1502.03167"]),
    (
        '<a href="https://doi.org/10.1000/XYZ">10.1000/xyz</a> '
        '<a href="http://www.shortscience.org/paper?bibtexKey=conf/cvpr/TaigmanYRW14'
        '#martinthoma">summary</a>',
        ["doi:10.1000/xyz", "bibtex:conf/cvpr/TaigmanYRW14"],
    ),
    (
        "[summary](https://www.shortscience.org/paper?bibtexKey=journals/corr/1908.04742) "
        "[paper](https://arxiv.org/abs/1903.08671)",
        ["bibtex:journals/corr/1908.04742", "arxiv:1903.08671"],
    ),
    (
        "see https://dl.acm.org/doi/pdf/10.1145/3292500.3330701?download=true and "
        "https://link.springer.com/content/pdf/10.1007/s11263-015-0816-y.pdf",
        ["doi:10.1145/3292500.3330701", "doi:10.1007/s11263-015-0816-y"],
    ),
    (
        "config at conf/nginx/site.conf and @article{DBLP:journals/corr/IoffeS15,",
        ["bibtex:journals/corr/IoffeS15"],
    ),
    ("(see doi:10.1000/abc(123)).", ["doi:10.1000/abc(123)"]),
    (
        "https://www.shortscience.org/paper?bibtexKey=journals/corr/IoffeS15&amp;a=b",
        ["bibtex:journals/corr/IoffeS15"],
    ),
    ("notarxiv.org/abs/1502.03167 and //arxiv.org/abs/1502.03168", ["arxiv:1502.03168"]),
    ("doi = {10.1038/nature16961},", ["doi:10.1038/nature16961"]),
    ("path/to/hep-th/9901001 and x.cs/0112017", []),
    ("https://doi.org/10.48550/arXiv.1706.03762", ["arxiv:1706.03762"]),
    ("https://example.com/page and https://arxiv.org/list/cs.LG/recent", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected_keys"), FIND_CASES)
def test_find_paper_ids_table(text: str, expected_keys: list[str]) -> None:
    assert [paper.canonical_key for paper in find_paper_ids(text)] == expected_keys


def test_find_keeps_first_version() -> None:
    found = find_paper_ids("arXiv:1502.03167v2 then https://arxiv.org/abs/1502.03167v3")
    assert found == [arxiv("1502.03167", 2)]


def test_find_is_bounded() -> None:
    many = " ".join(f"arXiv:2101.{number:05d}" for number in range(1, 200))
    assert len(find_paper_ids(many)) == MAX_FOUND
    assert find_paper_ids("10.1000/" + "a" * 200_000) == []


# ---------------------------------------------------------------------------------------------
# Properties

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

URL_FRAGMENTS = [
    "https://", "http://", "www.", "export.", "arxiv.org/", "abs/", "pdf/", "html/", ".pdf",
    "doi.org/", "dx.", "doi:", "DOI: ", "10.", "1145", "48550/arXiv.", "/", ".", "v2", "V",
    "1502.03167", "0704.0001", "9913.12345", "hep-th/", "9901001", "math.CA/", "cs/",
    "journals/", "conf/", "corr/", "abs-1502-03167", "IoffeS15", "DBLP:", "bibtex:", "arxiv:",
    "shortscience.org/paper?bibtexKey=", "%2F", "%", "#user", "&amp;", "&", "?", "=", "(",
    ")", "[", "]", "<", ">", "`", "*", "_", '"', "'", " ", "\n", "\u200b", "\x00", "é", "🎉",
    "0", "1", "9", "a", "Z", "-",
]  # fmt: skip
url_ish_text = st.lists(st.sampled_from(URL_FRAGMENTS), max_size=25).map("".join)
any_text = st.one_of(st.text(max_size=300), url_ish_text)


def _check_idempotent(paper: PaperId) -> None:
    # The canonical key always parses back (it carries no version)...
    assert parse_paper_id(paper.canonical_key) == dataclasses.replace(paper, version=None)
    # ...and so does the plain value of arXiv ids and DOIs, with the version.
    if paper.kind != "bibtex":
        assert parse_paper_id(paper.versioned_id) == paper


@QUICK
@given(any_text)
def test_parse_never_raises_and_results_are_canonical(text: str) -> None:
    result = parse_paper_id(text)
    assert isinstance(result, PaperId | NotAPaperId)
    if isinstance(result, PaperId):
        _check_idempotent(result)
    else:
        assert result.reason


@QUICK
@given(any_text)
def test_find_never_raises_and_results_are_canonical(text: str) -> None:
    found = find_paper_ids(text)
    keys = [paper.canonical_key for paper in found]
    assert len(keys) == len(set(keys))
    for paper in found:
        _check_idempotent(paper)


@st.composite
def new_style_ids(draw: st.DrawFn) -> str:
    year = draw(st.integers(7, 99))
    month = draw(st.integers(4 if year == 7 else 1, 12))
    digits = 4 if year <= 14 else 5
    number = draw(st.integers(1, 10**digits - 1))
    return f"{year:02d}{month:02d}.{number:0{digits}d}"


OLD_ARCHIVES = ["hep-th", "hep-ph", "math", "cs", "cond-mat", "astro-ph", "quant-ph", "q-bio"]


@st.composite
def old_style_ids(draw: st.DrawFn) -> tuple[str, str]:
    """(as written, normalised): the subject class is dropped when normalising."""
    archive = draw(st.sampled_from(OLD_ARCHIVES))
    year, month = draw(
        st.tuples(st.integers(1991, 2007), st.integers(1, 12)).filter(
            lambda ym: (1991, 8) <= ym <= (2007, 3)
        )
    )
    number = f"{year % 100:02d}{month:02d}{draw(st.integers(1, 999)):03d}"
    subject = draw(st.sampled_from(["", ".AI", ".CA", ".LG"]))
    return f"{archive}{subject}/{number}", f"{archive}/{number}"


arxiv_ids = st.one_of(new_style_ids().map(lambda value: (value, value)), old_style_ids())
versions = st.one_of(st.none(), st.integers(1, 30))

ARXIV_FORMS = [
    "{id}",
    "arXiv:{id}",
    "arxiv: {id}",
    "https://arxiv.org/abs/{id}",
    "http://arxiv.org/abs/{id}",
    "https://www.arxiv.org/abs/{id}",
    "http://export.arxiv.org/abs/{id}",
    "arxiv.org/abs/{id}",
    "https://arxiv.org/pdf/{id}",
    "https://arxiv.org/pdf/{id}.pdf",
    "https://arxiv.org/html/{id}",
    "https://arxiv.org/abs/{id}?context=cs",
    "<https://arxiv.org/abs/{id}>",
    "https://doi.org/10.48550/arXiv.{id}",
    "10.48550/arXiv.{id}",
]


@QUICK
@given(arxiv_ids, versions, st.sampled_from(ARXIV_FORMS))
def test_arxiv_round_trip(ids: tuple[str, str], version: int | None, form: str) -> None:
    written, normalised = ids
    written_id = written if version is None else f"{written}v{version}"
    expected = arxiv(normalised, version)
    text = form.format(id=written_id)

    assert parse_paper_id(text) == expected
    assert parse_paper_id(f"  {text}. ") == expected
    _check_idempotent(expected)
    for url in (expected.abs_url, expected.pdf_url):
        assert url is not None
        assert parse_paper_id(url) == expected

    # In prose a bare new-style id does not count; every other form does.
    prose = f"Have a look at {text}, it is good."
    bare_new_style = form == "{id}" and "/" not in written
    assert find_paper_ids(prose) == ([] if bare_new_style else [expected])


DBLP_SEGMENT = st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,15}[0-9]{2}", fullmatch=True)


@QUICK
@given(st.sampled_from(["journals", "conf", "books"]), DBLP_SEGMENT, DBLP_SEGMENT)
def test_dblp_key_round_trip(kind: str, venue: str, name: str) -> None:
    key = f"{kind}/{venue}/{name}"
    expected = bibtex(key)
    assert parse_paper_id(key) == expected
    assert parse_paper_id(f"DBLP:{key}") == expected
    assert parse_paper_id(expected.canonical_key) == expected
    assert expected.shortscience_url is not None
    assert parse_paper_id(expected.shortscience_url) == expected
    assert parse_paper_id(expected.shortscience_url + "#someone") == expected
    assert find_paper_ids(f"summary: {expected.shortscience_url}.") == [expected]
    assert find_paper_ids(f"key {key}, see") == [expected]


@QUICK
@given(
    st.from_regex(r"10\.[0-9]{4,6}", fullmatch=True),
    # Parentheses balanced: an unbalanced ')' at the end is indistinguishable from prose.
    st.from_regex(
        r"[A-Za-z0-9][A-Za-z0-9.\-_;:/]{0,30}[A-Za-z0-9](?:\([0-9]{1,4}\))?", fullmatch=True
    ),
)
def test_doi_round_trip(prefix: str, suffix: str) -> None:
    expected = doi(f"{prefix}/{suffix}".lower())
    for text in (
        f"{prefix}/{suffix}",
        f"doi:{prefix}/{suffix}",
        f"https://doi.org/{prefix}/{suffix}",
    ):
        assert parse_paper_id(text) == expected
    assert expected.doi_url is not None
    assert parse_paper_id(expected.doi_url) == expected
    assert find_paper_ids(f"(see {expected.doi_url}).") == [expected]
