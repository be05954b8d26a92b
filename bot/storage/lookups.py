"""Papers waiting for their metadata from an outside service: arXiv (`arxiv_lookups`, by arXiv
id) or Crossref (`crossref_lookups`, by DOI).

A row is queued by trigger when a paper gets the identifier (migration 0009), due at once; it
is 'pending' until the service answered, 'resolved' after, and 'failed' once given up. The
enrichment loop (bot/enrichment/) takes due rows, and reschedules failures with backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from bot.storage.database import Connection, Database

LookupSource = Literal["arxiv", "crossref"]

# (table, identifier column) per source. Constants of the code, so safe to put in SQL text.
_TABLES: Final[dict[LookupSource, tuple[str, str]]] = {
    "arxiv": ("arxiv_lookups", "arxiv_id"),
    "crossref": ("crossref_lookups", "doi"),
}


@dataclass(frozen=True, slots=True)
class DueLookup:
    """A paper to look up: its id, the identifier to ask for, and the attempts so far."""

    paper_id: int
    identifier: str  # an arXiv id without version, or a DOI
    attempts: int


@dataclass(frozen=True, slots=True)
class LookupCounts:
    pending: int = 0
    resolved: int = 0
    failed: int = 0


class LookupQueue:
    """The look-up state of papers for one source."""

    def __init__(self, db: Database, source: LookupSource) -> None:
        self.db = db
        self.source = source
        self._table, self._column = _TABLES[source]

    async def status(self, paper_id: int, *, conn: Connection | None = None) -> str | None:
        """'pending', 'resolved', 'failed', or None when the paper has no such identifier."""
        value = await self.db.fetchval(
            f"SELECT status FROM {self._table} WHERE paper_id = ?", (paper_id,), conn=conn
        )
        return None if value is None else str(value)

    async def due(self, now: float, *, limit: int) -> list[DueLookup]:
        """Pending look-ups whose time has come, longest waiting first."""
        rows = await self.db.fetchall(
            f"SELECT paper_id, {self._column}, attempts FROM {self._table} "
            "WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at, paper_id LIMIT ?",
            (now, limit),
        )
        return [DueLookup(int(row[0]), str(row[1]), int(row[2])) for row in rows]

    async def next_due_at(self) -> float | None:
        """When the next pending look-up is due (None when nothing is pending)."""
        value = await self.db.fetchval(
            f"SELECT min(next_attempt_at) FROM {self._table} WHERE status = 'pending'"
        )
        return None if value is None else float(value)

    async def counts(self) -> LookupCounts:
        rows = await self.db.fetchall(f"SELECT status, count(*) FROM {self._table} GROUP BY status")
        return LookupCounts(**{str(row[0]): int(row[1]) for row in rows})

    async def record_failure(
        self,
        paper_id: int,
        *,
        error: str,
        next_attempt_at: float | None,
        conn: Connection | None = None,
    ) -> None:
        """Another failed attempt, retried at `next_attempt_at`; None gives up ('failed')."""
        async with self.db.writing(conn) as c:
            await c.execute(
                f"UPDATE {self._table} SET attempts = attempts + 1, last_error = ?, "
                "status = CASE WHEN CAST(? AS DOUBLE PRECISION) IS NULL THEN 'failed' "
                "ELSE 'pending' END, "
                "next_attempt_at = COALESCE(?, next_attempt_at) "
                "WHERE paper_id = ? AND status = 'pending'",
                (error[:500], next_attempt_at, next_attempt_at, paper_id),
            )

    async def mark_resolved(
        self,
        paper_id: int,
        identifier: str,
        *,
        now: float,
        conn: Connection | None = None,
    ) -> None:
        """The service answered for this paper: nothing more to look up."""
        async with self.db.writing(conn) as c:
            await c.execute(
                f"INSERT INTO {self._table} (paper_id, {self._column}, status, attempts, "
                "next_attempt_at, resolved_at) VALUES (?, ?, 'resolved', 1, ?, ?) "
                "ON CONFLICT (paper_id) DO UPDATE SET status = 'resolved', last_error = NULL, "
                f"attempts = {self._table}.attempts + 1, resolved_at = excluded.resolved_at",
                (paper_id, identifier, now, now),
            )


async def sources_pending(db: Database, paper_id: int) -> tuple[str, ...]:
    """The services still to be asked about this paper, by name ('arXiv', 'Crossref')."""
    rows = await db.fetchall(
        "SELECT 'arXiv' FROM arxiv_lookups WHERE paper_id = ? AND status = 'pending' "
        "UNION ALL "
        "SELECT 'Crossref' FROM crossref_lookups WHERE paper_id = ? AND status = 'pending'",
        (paper_id, paper_id),
    )
    return tuple(str(row[0]) for row in rows)
