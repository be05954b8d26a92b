"""The tantivy index on disk: generations, documents, commits with the applied sequence.

`SEARCH_INDEX_PATH` is a directory holding generations (`gen-000001`, ...) and a `CURRENT`
file naming the one in use. A rebuild writes a new generation beside the current one (which
keeps serving, if it can) and switches `CURRENT` atomically when done; older generations are
removed. Everything here blocks: callers run it in a worker thread, and all writes to one
index go through one thread (one `IndexWriter`).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import tantivy

from bot.search.schema import (
    KIND_META,
    KIND_PAPER,
    KIND_SUMMARY,
    PUBLIC_GUILD,
    SCHEMA_VERSION,
    build_schema,
    register_analyzers,
    title_key,
    vote_weight,
)
from bot.storage.search import PaperSource, SummarySource

log = logging.getLogger(__name__)

CURRENT: Final = "CURRENT"
GENERATION_PREFIX: Final = "gen-"
# Memory tantivy may buffer before writing a segment: small for the steady trickle of
# changes, big for a rebuild (fewer, larger segments; two indexing threads).
WRITER_HEAP_BYTES: Final = 48_000_000
BUILD_HEAP_BYTES: Final = 128_000_000
BUILD_THREADS: Final = 2


class IndexUnusableError(Exception):
    """No usable index at the path: missing, corrupt, or built by another schema version."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IndexWriterBusyError(Exception):
    """Another process writes this index (same SEARCH_INDEX_PATH): this one only reads it."""


def summary_document(source: SummarySource) -> tantivy.Document | None:
    """The document of a summary, or None when it must not be found (deleted)."""
    if source.deleted:
        return None
    document = tantivy.Document(
        kind=KIND_SUMMARY,
        summary_id=source.id,
        guild=PUBLIC_GUILD if source.origin == "feed" else int(source.guild_id or 0),
        origin=source.origin,
        summary_kind=source.kind,
        title=source.title,
        tldr=source.tldr,
        authors=source.authors,
        author=source.author_name,
        body=source.body,
        venue=source.venue,
        score=source.score,
        created_at=source.created_at,
        vote_weight=vote_weight(source.score, source.kind),
    )
    if source.paper_id is not None:
        document.add_integer("paper_id", source.paper_id)
    if source.year is not None:
        document.add_integer("year", source.year)
    return document


def paper_document(source: PaperSource) -> tantivy.Document | None:
    """The document of a paper, or None when it is visible nowhere (or has no title)."""
    if not source.visible_anywhere or not source.title.strip():
        return None
    guilds = ([PUBLIC_GUILD] if source.public else []) + list(source.guilds)
    return tantivy.Document(
        kind=KIND_PAPER,
        paper_id=source.id,
        paper_entry=source.id,
        guild=guilds,
        paper_title=source.title,
        title_key=title_key(source.title),
        display_title=source.title,
        abstract=source.abstract,
        created_at=source.recent,
    )


def _meta_document(applied_seq: int) -> tantivy.Document:
    return tantivy.Document(kind=KIND_META, applied_seq=applied_seq, schema_version=SCHEMA_VERSION)


@dataclass(frozen=True, slots=True)
class Changes:
    """What one commit does: documents to remove, then documents to add."""

    summary_ids: frozenset[int]
    paper_ids: frozenset[int]
    documents: tuple[tantivy.Document, ...]


class TantivyIndex:
    """One generation of the index, opened for searching and (unless another process holds
    its writer) for writing."""

    def __init__(self, directory: Path, index: tantivy.Index, applied_seq: int) -> None:
        self.directory = directory
        self.index = index
        self.schema = index.schema
        self.applied_seq = applied_seq
        self._writer: tantivy.IndexWriter | None = None
        self.read_only = False

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path) -> TantivyIndex:
        """The current generation under `root`; IndexUnusableError says why there is none."""
        directory = current_generation(root)
        if directory is None:
            raise IndexUnusableError("there is no search index yet")
        try:
            index = tantivy.Index.open(str(directory))
            register_analyzers(index)
            meta = _read_meta(index)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            # ValueError for what tantivy detects, a PanicException (a BaseException) for
            # what trips its assertions: either way the files cannot be used.
            raise IndexUnusableError(f"the search index is damaged ({exc})") from exc
        if meta is None or meta[1] != SCHEMA_VERSION:
            raise IndexUnusableError("the search index was built by another version")
        return cls(directory, index, meta[0])

    def writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            try:
                self._writer = self.index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
            except ValueError as exc:
                if "LockBusy" in str(exc):
                    self.read_only = True
                    raise IndexWriterBusyError(str(exc)) from exc
                raise
            self.read_only = False
        return self._writer

    def searcher(self) -> tantivy.Searcher:
        return self.index.searcher()

    # -- writing ----------------------------------------------------------------------------

    def apply(self, parts: Iterable[Changes], applied_seq: int) -> None:
        """Each part in turn (remove, then add), record `applied_seq`, commit (one atomic
        commit), make it searchable.

        `parts` may be a generator reading the database: tantivy indexes the documents
        handed to it in its own thread, so the next part is read while the last is indexed.
        A later part removing what an earlier one added (the same summary changed twice) is
        right: removals apply to documents added before them."""
        writer = self.writer()
        try:
            for changes in parts:
                for summary_id in changes.summary_ids:
                    writer.delete_documents_by_term("summary_id", summary_id)
                for paper_id in changes.paper_ids:
                    writer.delete_documents_by_term("paper_entry", paper_id)
                for document in changes.documents:
                    writer.add_document(document)
            writer.delete_documents_by_term("kind", KIND_META)
            writer.add_document(_meta_document(applied_seq))
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        self.index.reload()
        self.applied_seq = applied_seq

    def close(self) -> None:
        if self._writer is not None:
            self._writer = None

    def size_bytes(self) -> int:
        return directory_size(self.directory)


class IndexBuilder:
    """A new generation, filled from scratch, switched to when finished."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.directory = _next_generation(root)
        self.directory.mkdir()
        self.index = tantivy.Index(build_schema(), str(self.directory), reuse=False)
        register_analyzers(self.index)
        self.writer = self.index.writer(heap_size=BUILD_HEAP_BYTES, num_threads=BUILD_THREADS)
        self.documents = 0

    def add(self, documents: Iterable[tantivy.Document | None]) -> None:
        for document in documents:
            if document is not None:
                self.writer.add_document(document)
                self.documents += 1

    def finish(self, applied_seq: int) -> TantivyIndex:
        """Commit with `applied_seq`, switch `CURRENT` to this generation, drop the others."""
        self.writer.add_document(_meta_document(applied_seq))
        self.writer.commit()
        self.writer.wait_merging_threads()
        self.index.reload()
        _write_current(self.root, self.directory.name)
        remove_other_generations(self.root, keep=self.directory.name)
        return TantivyIndex(self.directory, self.index, applied_seq)

    def abandon(self) -> None:
        try:
            self.writer.rollback()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def _read_meta(index: tantivy.Index) -> tuple[int, int] | None:
    searcher = index.searcher()
    hits = searcher.search(
        tantivy.Query.term_query(index.schema, "kind", KIND_META), limit=1, count=False
    ).hits
    if not hits:
        return None
    document = searcher.doc(hits[0][1])
    seq = document.get_first("applied_seq")
    version = document.get_first("schema_version")
    if not isinstance(seq, int) or not isinstance(version, int):
        return None
    return seq, version


def current_generation(root: Path) -> Path | None:
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not name.startswith(GENERATION_PREFIX) or "/" in name or not (root / name).is_dir():
        return None
    return root / name


def _next_generation(root: Path) -> Path:
    numbers = [
        int(entry.name[len(GENERATION_PREFIX) :])
        for entry in root.iterdir()
        if entry.name.startswith(GENERATION_PREFIX)
        and entry.name[len(GENERATION_PREFIX) :].isdigit()
    ]
    return root / f"{GENERATION_PREFIX}{max(numbers, default=0) + 1:06d}"


def _write_current(root: Path, name: str) -> None:
    temporary = root / f".{CURRENT}.{os.getpid()}"
    with temporary.open("w", encoding="utf-8") as out:
        out.write(name + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, root / CURRENT)


def remove_other_generations(root: Path, *, keep: str) -> None:
    for entry in root.iterdir():
        if entry.is_dir() and entry.name.startswith(GENERATION_PREFIX) and entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)


def directory_size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
