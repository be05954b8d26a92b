"""Search benchmark; prints one JSON document on stdout (progress goes to stderr).

    .venv/bin/python bench/search.py                         # 10,000 and 100,000 summaries
    .venv/bin/python bench/search.py --sizes 10000 --queries 20

For each size, in one run:

- A synthetic corpus: bodies of 500 to 6,000 characters of Markdown-ish prose whose words
  follow a Zipf law (a few words are in nearly every summary, most are rare), written as
  ShortScience RSS files (10,000 items each) and imported with `bot.ingest.import_source`,
  the code path of `shortscience-bot import`: the import rate.
- The search accelerator built with `refresh_search_index` (what the bot and the CLI run
  after an import), and the size on disk of FTS5's index, the accelerator and tantivy's.
- `--queries` (50) mixed queries, a fifth each: a rare word, a common word, two words, three
  words, a quoted phrase taken from a summary. Latency p50/p95 over `--passes` (3) passes
  after one warm-up pass, for:
  (a) `search_summaries` (the bot's function: ranking, rows and excerpts; a page of 10) and
      its ranking alone;
  (b) a naive scan: `LIKE '%word%'` over every summary's text, ranked in Python by
      weighted occurrence counts (one pass: it is slow);
  (c) tantivy over the same text, with the same fields and weights (title 8, TL;DR 4,
      authors 2, summary author 2, body 1) and AND semantics; and with all the text in one
      field (its fastest setup), for reference.
- Whether the top 10 of every query equals plain FTS5 `ORDER BY bm25(...)` (it must).
- Apart from the mix, `--hard-phrases` (5) phrases of two frequent words, FTS5's slowest
  case (it checks positions in every summary holding both words), against tantivy.

Decoded postings stay cached between queries (as in the bot); nothing caches results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

if __package__ in (None, ""):
    # Run as a script (`python bench/search.py`): make `bot` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import tantivy
from bot.search.bm25 import COLUMNS, WEIGHTS
from bot.search.repository import Visibility, index_size_bytes

from bot.ingest import import_source
from bot.search import engine_for, refresh_search_index, search_summaries
from bot.search.query import build_fts_query
from bot.storage.database import Database

ITEMS_PER_FILE = 10_000
TOP_K = 10
QUERY_KINDS = ("rare word", "common word", "two words", "three words", "phrase")

HEAD_WORDS = (  # noqa: SIM905 (a sentence reads better than quoted words)
    "the of and a to in is we that for this on with as are by it an be model learning "
    "network from which can our at data not neural training deep each paper its these using "
    "results also method loss layer attention gradient"
).split()
ONSETS = "b c d f g h j k l m n p r s t v w z br cr dr gr pr st tr sh ch th".split()  # noqa: SIM905
VOWELS = "a e i o u ai ea io ou".split()  # noqa: SIM905
FORMULAS = (r"$x^*$", r"$\mathcal{L}(\theta)$", r"$a_i < b_i$", r"$\sqrt{d_k}$")
FIRST_NAMES = "Ada Alan Grace Yann Geoffrey Yoshua Fei Andrew Daphne Judea Ian".split()  # noqa: SIM905


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the corpus ------------------------------------------------------------------------------


class Corpus:
    """Deterministic synthetic ShortScience summaries with Zipf-distributed words."""

    def __init__(self, seed: int, vocabulary_size: int = 200_000, exponent: float = 1.07):
        self.rng = np.random.default_rng(seed)
        self.words = self._vocabulary(vocabulary_size)
        self.word_array = np.array(self.words, dtype=object)
        weights = 1.0 / np.arange(1, vocabulary_size + 1) ** exponent
        self.cdf = np.cumsum(weights) / weights.sum()
        self.last_names = [word.title() for word in self.words[5000:5400]]

    def _vocabulary(self, size: int) -> list[str]:
        words = list(dict.fromkeys(HEAD_WORDS))
        seen = set(words)
        picks = self.rng.integers(0, 1 << 30, size=(size * 2, 6))
        for row in picks:
            if len(words) >= size:
                break
            syllables = 2 + int(row[0] % 3)
            word = "".join(
                ONSETS[int(row[1 + i]) % len(ONSETS)] + VOWELS[int(row[1 + i] >> 8) % len(VOWELS)]
                for i in range(syllables)
            )
            if row[5] % 3 == 0:
                word += "nrlstmx"[int(row[5] >> 4) % 7]
            if word not in seen:
                seen.add(word)
                words.append(word)
        return words

    def sample(self, count: int, skip: int = 0) -> list[str]:
        uniform = self.rng.random(count)
        if skip:
            low = self.cdf[skip - 1]
            uniform = low + uniform * (1.0 - low)
        ranks = np.minimum(np.searchsorted(self.cdf, uniform), len(self.cdf) - 1)
        return self.word_array[ranks].tolist()

    def body(self, characters: int) -> str:
        words = self.sample(characters // 6 + 8)
        sentences = []
        index = 0
        lengths = self.rng.integers(6, 25, size=len(words) // 6 + 2)
        extras = self.rng.random(len(lengths))
        for length, extra in zip(lengths, extras, strict=False):
            chunk = words[index : index + int(length)]
            index += int(length)
            if not chunk:
                break
            chunk[0] = chunk[0].capitalize()
            if extra < 0.06:
                chunk[-1] = f"**{chunk[-1]}**"
            elif extra < 0.10:
                chunk.append(FORMULAS[int(extra * 1000) % len(FORMULAS)])
            sentences.append(" ".join(chunk) + ".")
        text = " ".join(sentences)
        return text[:characters].rstrip()

    def title(self) -> str:
        return " ".join(self.sample(int(self.rng.integers(4, 11)), skip=30)).title()

    def authors(self) -> str:
        count = int(self.rng.integers(1, 5))
        return ", ".join(
            f"{FIRST_NAMES[int(self.rng.integers(len(FIRST_NAMES)))]} "
            f"{self.last_names[int(self.rng.integers(len(self.last_names)))]}"
            for _ in range(count)
        )


@dataclass
class Paper:
    arxiv_id: str
    bibtex_key: str
    title: str


def write_rss_files(corpus: Corpus, count: int, directory: Path) -> tuple[list[Path], int]:
    """ShortScience RSS files of ITEMS_PER_FILE items; ~10% of items summarise a paper again."""
    papers: list[Paper] = []
    used: set[tuple[str, str]] = set()
    files: list[Path] = []
    body_chars = 0
    start = datetime(2016, 1, 1, tzinfo=UTC)
    for file_index, first in enumerate(range(0, count, ITEMS_PER_FILE)):
        path = directory / f"shortscience-{file_index:03d}.xml"
        with path.open("w", encoding="utf-8") as out:
            out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
            out.write('<rss xmlns:shortscience="http://www.shortscience.org" version="2.0">\n')
            out.write("<channel><title>ShortScience.org</title>\n")
            for item in range(first, min(count, first + ITEMS_PER_FILE)):
                if papers and corpus.rng.random() < 0.1:
                    paper = papers[int(corpus.rng.integers(len(papers)))]
                else:
                    number = len(papers)
                    yymm = f"{15 + number // 120_000:02d}{(number // 10_000) % 12 + 1:02d}"
                    arxiv_id = f"{yymm}.{number % 10_000 + 1:05d}"
                    paper = Paper(arxiv_id, f"journals/corr/abs-{yymm}-{number % 10_000 + 1:05d}",
                                  corpus.title())  # fmt: skip
                    papers.append(paper)
                user = f"user{int(corpus.rng.zipf(1.6)) % 5000}"
                while (paper.bibtex_key, user) in used:
                    user = f"user{int(corpus.rng.integers(5000, 10**9))}"
                used.add((paper.bibtex_key, user))
                body = corpus.body(int(corpus.rng.integers(500, 6001)))
                body_chars += len(body)
                link = f"https://www.shortscience.org/paper?bibtexKey={paper.bibtex_key}#{user}"
                published = start + timedelta(minutes=item * 37)
                votes = min(int(corpus.rng.zipf(2.2)) - 1, 500)
                out.write(
                    f"<item><title>{escape(paper.title)}</title><author>{escape(user)}</author>"
                    f"<description>{escape(body)}</description>"
                    f"<link>{escape(link)}</link><guid>{escape(link)}</guid>"
                    f"<pubDate>{format_datetime(published)}</pubDate>"
                    f"<shortscience:arxivid>{paper.arxiv_id}</shortscience:arxivid>"
                    f"<shortscience:bibtexkey>{paper.bibtex_key}</shortscience:bibtexkey>"
                    f"<shortscience:votes>{votes}</shortscience:votes></item>\n"
                )
            out.write("</channel></rss>\n")
        files.append(path)
    return files, body_chars


# --- queries ---------------------------------------------------------------------------------


def make_queries(
    conn: sqlite3.Connection, corpus: Corpus, count: int, rows: int
) -> list[tuple[str, str]]:
    """(kind, text): rare and common words by their document frequency in the index, and
    phrases of adjacent words cut from summaries (skipping the 30 most frequent words)."""
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.bench_vocab "
        "USING fts5vocab(main, summary_fts, row)"
    )
    frequencies = dict(conn.execute("SELECT term, doc FROM temp.bench_vocab").fetchall())
    rng = corpus.rng
    indexed = [word for word in corpus.words if word in frequencies]
    rare = [w for w in indexed if 2 <= frequencies[w] <= max(20, rows // 2000)]
    common = [w for w in indexed if frequencies[w] >= rows // 10]
    heaviest = sorted(common, key=lambda w: -frequencies[w])[:20]  # "the", "of", ...
    middle = [w for w in indexed if rows // 1000 <= frequencies[w] < rows // 10]
    stop = set(corpus.words[:30])

    def pick(words: list[str], *taken: str) -> str:
        while True:
            word = words[int(rng.integers(len(words)))]
            if word not in taken:
                return word

    def frequent(*taken: str) -> str:
        return pick(heaviest if rng.random() < 0.5 else common, *taken)

    def frequent_or_middle(*taken: str) -> str:
        return pick(middle, *taken) if rng.random() < 0.5 else frequent(*taken)

    def two_words() -> str:
        first = frequent()
        return f"{first} {frequent_or_middle(first)}"

    def three_words() -> str:
        first = frequent()
        second = frequent(first)
        return f"{first} {second} {frequent_or_middle(first, second)}"

    def phrase() -> str:
        summary_id = int(rng.integers(1, rows + 1))
        row = conn.execute("SELECT body FROM summaries WHERE id = ?", (summary_id,)).fetchone()
        tokens = re.findall(r"[a-z0-9]+", (row[0] if row else "").lower())
        length = 2 if rng.random() < 0.7 else 3
        for _ in range(200):
            start = int(rng.integers(0, max(1, len(tokens) - length)))
            window = tokens[start : start + length]
            if len(window) == length and not stop.intersection(window):
                return '"' + " ".join(window) + '"'
        return '"' + " ".join(tokens[:length]) + '"'

    makers: dict[str, Callable[[], str]] = {
        "rare word": lambda: pick(rare),
        "common word": frequent,
        "two words": two_words,
        "three words": three_words,
        "phrase": phrase,
    }
    queries = []
    for index in range(count):
        kind = QUERY_KINDS[index % len(QUERY_KINDS)]
        queries.append((kind, makers[kind]()))
    return queries


def hard_phrases(conn: sqlite3.Connection, corpus: Corpus, count: int, rows: int) -> list[str]:
    """Phrases of two frequent words ("neural network" in a corpus about networks): FTS5
    must check positions in every document holding both words. Reported apart."""
    rank = {word: index for index, word in enumerate(corpus.words[:100])}
    rng = corpus.rng
    phrases: list[str] = []
    for _ in range(count * 50):
        if len(phrases) >= count:
            break
        summary_id = int(rng.integers(1, rows + 1))
        row = conn.execute("SELECT body FROM summaries WHERE id = ?", (summary_id,)).fetchone()
        tokens = re.findall(r"[a-z0-9]+", (row[0] if row else "").lower())
        for first, second in itertools.pairwise(tokens):
            ranks = (rank.get(first, 999), rank.get(second, 999))
            if max(ranks) < 100 and min(ranks) >= 30 and first != second:
                text = f'"{first} {second}"'
                if text not in phrases:
                    phrases.append(text)
                break
    return phrases


# --- the three engines -----------------------------------------------------------------------


LIKE_SQL = """
SELECT s.id, COALESCE(NULLIF(p.title, ''), s.title), COALESCE(p.authors, ''), s.author_name,
       s.tldr, s.body
FROM summaries AS s LEFT JOIN papers AS p ON p.id = s.paper_id
WHERE s.deleted_at IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM json_each(:needles)
      WHERE COALESCE(NULLIF(p.title, ''), s.title) || ' ' || COALESCE(p.authors, '') || ' '
            || s.author_name || ' ' || s.tldr || ' ' || s.body NOT LIKE '%' || value || '%')
"""


def like_search(conn: sqlite3.Connection, text: str) -> list[int]:
    """The naive baseline: substring LIKE over all text, counted and weighted in Python."""
    needles = [match.strip('"').lower() for match in re.findall(r'"[^"]+"|\S+', text)]
    scored = []
    for row in conn.execute(LIKE_SQL, {"needles": json.dumps(needles)}):
        score = 0.0
        for weight, field in zip(WEIGHTS, row[1:], strict=True):
            lowered = field.lower()
            score += weight * sum(lowered.count(needle) for needle in needles)
        scored.append((-score, row[0]))
    scored.sort()
    return [summary_id for _, summary_id in scored[:TOP_K]]


class Tantivy:
    """The same summaries in tantivy: per-field with our weights, or all text in one field."""

    def __init__(self, directory: Path, *, one_field: bool) -> None:
        self.one_field = one_field
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("id", stored=True, indexed=True, fast=True)
        self.fields = ["text"] if one_field else list(COLUMNS)
        for field in self.fields:
            builder.add_text_field(field, stored=False, index_option="position")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.index = tantivy.Index(builder.build(), str(directory))
        self.boosts = {} if one_field else dict(zip(COLUMNS, WEIGHTS, strict=True))

    def add_all(self, conn: sqlite3.Connection) -> float:
        started = time.perf_counter()
        writer = self.index.writer(heap_size=512_000_000, num_threads=2)
        rows = conn.execute(
            "SELECT id, paper_title, paper_authors, author_name, tldr, body FROM summary_documents"
        )
        for row in rows:
            if self.one_field:
                writer.add_document(tantivy.Document(id=row[0], text=" ".join(row[1:])))
            else:
                writer.add_document(
                    tantivy.Document(id=row[0], **dict(zip(COLUMNS, row[1:], strict=True)))
                )
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()
        return time.perf_counter() - started

    def search(self, text: str) -> list[int]:
        query = self.index.parse_query(
            text, self.fields, field_boosts=self.boosts, conjunction_by_default=True
        )
        hits = self.searcher.search(query, TOP_K).hits
        return [self.searcher.doc(address)["id"][0] for _, address in hits]

    def size(self) -> int:
        return sum(path.stat().st_size for path in self.directory.rglob("*") if path.is_file())


# --- measuring -------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {}

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return {
        "p50": round(at(0.50) * 1000, 3),
        "p95": round(at(0.95) * 1000, 3),
        "max": round(ordered[-1] * 1000, 3),
        "mean": round(statistics.fmean(ordered) * 1000, 3),
        "samples": len(ordered),
    }


async def timed_passes(
    queries: list[tuple[str, str]],
    run: Callable[[str], Awaitable[object]],
    passes: int,
    warm_up: bool = True,
) -> tuple[list[float], dict[str, list[float]]]:
    if warm_up:
        for _, text in queries:
            await run(text)
    samples: list[float] = []
    by_kind: dict[str, list[float]] = {kind: [] for kind in QUERY_KINDS}
    for _ in range(passes):
        for kind, text in queries:
            started = time.perf_counter()
            await run(text)
            elapsed = time.perf_counter() - started
            samples.append(elapsed)
            by_kind[kind].append(elapsed)
    return samples, by_kind


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "numpy": np.__version__,
        "tantivy": getattr(tantivy, "__version__", "installed"),
        "platform": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


@contextlib.contextmanager
def workdir(path: str | None, keep: bool) -> Iterator[Path]:
    directory = Path(path) if path else Path(tempfile.mkdtemp(prefix="bench-search-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        yield directory
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


async def bench_size(size: int, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    here = directory / f"n{size}"
    here.mkdir()
    corpus = Corpus(args.seed + size)
    log(f"{size}: writing the RSS files")
    files, body_chars = write_rss_files(corpus, size, here)
    rss_bytes = sum(path.stat().st_size for path in files)

    db = await Database.open(here / "bench.sqlite3")
    await db.migrate()
    log(f"{size}: importing {len(files)} files with import_source")
    started = time.perf_counter()
    imported = 0
    for path in files:
        stats = await import_source(db, None, str(path))
        imported += stats.inserted
    import_seconds = time.perf_counter() - started
    log(f"{size}: {imported} summaries in {import_seconds:.1f} s; building the search index")
    build = await refresh_search_index(db, force=True)
    log(f"{size}: search index: {build.terms} terms in {build.seconds:.1f} s")

    conn = sqlite3.connect(here / "bench.sqlite3", isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    queries = make_queries(conn, corpus, args.queries, imported)

    # (a) ours, and FTS5's own ranking as the reference for exactness.
    engine = engine_for(db)
    visibility = Visibility()
    plans: dict[str, int] = {}
    identical = 0
    reference_seconds: list[float] = []
    for _, text in queries:
        fts_query = build_fts_query(text)
        assert fts_query is not None
        fast = engine.rank_only(fts_query, visibility, offset=0, limit=TOP_K)
        started = time.perf_counter()
        plain = engine.plain_rank_only(fts_query, visibility, offset=0, limit=TOP_K)
        reference_seconds.append(time.perf_counter() - started)
        plans[fast.plan] = plans.get(fast.plan, 0) + 1
        same = [h.summary_id for h in fast.hits] == [h.summary_id for h in plain.hits]
        identical += same and [h.rank for h in fast.hits] == [h.rank for h in plain.hits]

    async def ours(text: str) -> object:
        return await search_summaries(db, text, guild_id=None, limit=TOP_K)

    async def ours_ranking(text: str) -> object:
        fts_query = build_fts_query(text)
        assert fts_query is not None
        return await asyncio.to_thread(
            engine.rank_only, fts_query, visibility, offset=0, limit=TOP_K
        )

    log(f"{size}: timing search_summaries")
    ours_samples, ours_kinds = await timed_passes(queries, ours, args.passes)
    ranking_samples, _ = await timed_passes(queries, ours_ranking, args.passes)

    # (c) tantivy, per field with our weights, and in one field.
    tantivy_results = {}
    tantivy_kinds: dict[str, list[float]] = {}
    tantivy_indexes: dict[str, Tantivy] = {}
    for one_field in (False, True):
        name = "tantivy_one_field" if one_field else "tantivy"
        log(f"{size}: indexing and timing {name}")
        index = Tantivy(here / name, one_field=one_field)
        seconds = index.add_all(conn)

        async def run_tantivy(text: str, index: Tantivy = index) -> object:
            return index.search(text)

        samples, kinds = await timed_passes(queries, run_tantivy, args.passes)
        tantivy_results[name] = {
            "latency_ms": percentiles(samples),
            "index_seconds": round(seconds, 2),
            "index_bytes": index.size(),
        }
        if not one_field:
            tantivy_kinds = kinds
        tantivy_indexes[name] = index

    async def run_tantivy_fields(text: str) -> object:
        return tantivy_indexes["tantivy"].search(text)

    # Phrases of frequent words, apart: the slowest kind for FTS5.
    probes = []
    for text in hard_phrases(conn, corpus, args.hard_phrases, imported):
        probe = [("phrase", text)]
        ours_probe, _ = await timed_passes(probe, ours, args.passes)
        tantivy_probe, _ = await timed_passes(probe, run_tantivy_fields, args.passes)
        fts_query = build_fts_query(text)
        assert fts_query is not None
        started = time.perf_counter()
        engine.plain_rank_only(fts_query, visibility, offset=0, limit=TOP_K)
        probes.append(
            {
                "query": text,
                "search_summaries_ms": round(statistics.median(ours_probe) * 1000, 3),
                "tantivy_ms": round(statistics.median(tantivy_probe) * 1000, 3),
                "plain_fts5_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )

    # (b) the naive scan.
    log(f"{size}: timing the LIKE scan")

    async def run_like(text: str) -> object:
        return like_search(conn, text)

    like_samples, _ = await timed_passes(queries, run_like, args.like_passes, warm_up=False)

    sizes = index_size_bytes(conn)
    fts_bytes = sum(v for k, v in sizes.items() if k.startswith("summary_fts"))
    accelerator_bytes = sum(v for k, v in sizes.items() if k.startswith("search_index"))
    title_bytes = sum(v for k, v in sizes.items() if k.startswith("paper_title_fts"))
    conn.close()
    await db.close()

    ours_latency = percentiles(ours_samples)
    tantivy_latency = tantivy_results["tantivy"]["latency_ms"]
    tantivy_one = tantivy_results["tantivy_one_field"]["latency_ms"]
    return {
        "summaries": imported,
        "corpus": {
            "rss_files": len(files),
            "rss_bytes": rss_bytes,
            "mean_body_chars": round(body_chars / max(size, 1)),
            "vocabulary": len(corpus.words),
        },
        "import": {
            "path": "bot.ingest.import_source (parse + ingest, as `shortscience-bot import`)",
            "seconds": round(import_seconds, 2),
            "summaries_per_second": round(imported / import_seconds, 1),
        },
        "search_index_build": {
            "seconds": round(build.seconds, 2),
            "terms": build.terms,
            "postings": build.postings,
        },
        "index_size_bytes": {
            "fts5_summary_fts": fts_bytes,
            "search_accelerator": accelerator_bytes,
            "paper_title_fts": title_bytes,
            "tantivy": tantivy_results["tantivy"]["index_bytes"],
            "tantivy_one_field": tantivy_results["tantivy_one_field"]["index_bytes"],
            "database_file": (here / "bench.sqlite3").stat().st_size,
        },
        "queries": [{"kind": kind, "text": text} for kind, text in queries],
        "latency_ms": {
            "search_summaries": ours_latency,
            "ranking_only": percentiles(ranking_samples),
            "plain_fts5_bm25": percentiles(reference_seconds),
            "like_scan": percentiles(like_samples),
            "tantivy": tantivy_latency,
            "tantivy_one_field": tantivy_one,
        },
        "p95_ms_by_kind": {
            kind: {
                "search_summaries": percentiles(ours_kinds[kind]).get("p95"),
                "tantivy": percentiles(tantivy_kinds[kind]).get("p95"),
            }
            for kind in QUERY_KINDS
        },
        "hard_phrases": probes,
        "plans": plans,
        "identical_to_fts5_bm25_top10": f"{identical}/{len(queries)}",
        "tantivy_index_seconds": {
            name: result["index_seconds"] for name, result in tantivy_results.items()
        },
        "targets": {
            "p95_at_most_10ms": ours_latency["p95"] <= 10.0,
            "p95_at_most_3x_tantivy": ours_latency["p95"] <= 3 * tantivy_latency["p95"],
            "p95_at_most_3x_tantivy_one_field": ours_latency["p95"] <= 3 * tantivy_one["p95"],
            "import_at_least_2000_per_second": imported / import_seconds >= 2000,
        },
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    with workdir(args.workdir, args.keep) as directory:
        for size in args.sizes:
            results.append(await bench_size(size, args, directory))
    return {
        "benchmark": "search",
        "machine": machine(),
        "config": {
            "sizes": args.sizes,
            "queries": args.queries,
            "passes": args.passes,
            "like_passes": args.like_passes,
            "seed": args.seed,
            "hard_phrases": args.hard_phrases,
            "top_k": TOP_K,
        },
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[10_000, 100_000],
        help="comma-separated corpus sizes (default 10000,100000)",
    )
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--like-passes", type=int, default=1)
    parser.add_argument("--hard-phrases", type=int, default=5, help="reported apart")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", help="where to build corpora (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    document = asyncio.run(main_async(args))
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
