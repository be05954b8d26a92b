"""What buttons, menus and forms need, shared by every bot process (`interaction_states`).

A state is created when a message with controls (or a form) is sent, and found again by the
random id its custom_ids carry, by whichever process receives the click. Its `expires_at`
is when the controls stop working; each use moves it on (`touch`). One action at a time:
`claim` takes a lease (`busy_until`) atomically, so that two clicks handled by two processes
cannot both publish a draft, and a process that dies mid-action frees it when the lease
passes. `finish` records the outcome (published, cancelled...) once. Rows are kept for a
while after they expire (a late click can still hand a member's text back) and then pruned.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from bot.storage.database import Database, Row

# 16 characters of [A-Za-z0-9_-]: 96 random bits, unguessable, short enough for custom_ids.
STATE_ID_BYTES: Final = 12
STATE_ID_PATTERN: Final = r"[A-Za-z0-9_-]{16}"

_COLUMNS: Final = (
    "id, kind, owner_id, guild_id, payload, created_at, expires_at, busy_until, outcome"
)


def new_state_id() -> str:
    return secrets.token_urlsafe(STATE_ID_BYTES)


@dataclass(frozen=True, slots=True)
class InteractionState:
    """One stored state; `payload` is whatever its kind keeps (JSON)."""

    id: str
    kind: str
    owner_id: int
    guild_id: int | None
    payload: dict[str, Any]
    created_at: float
    expires_at: float
    busy_until: float | None
    outcome: str | None

    @classmethod
    def from_row(cls, row: Row) -> InteractionState:
        return cls(
            id=row[0],
            kind=row[1],
            owner_id=int(row[2]),
            guild_id=None if row[3] is None else int(row[3]),
            payload=json.loads(row[4]),
            created_at=float(row[5]),
            expires_at=float(row[6]),
            busy_until=None if row[7] is None else float(row[7]),
            outcome=row[8],
        )

    def expired(self, now: float) -> bool:
        return self.expires_at <= now

    def busy(self, now: float) -> bool:
        return self.busy_until is not None and self.busy_until > now


class InteractionStateRepository:
    """Creates, finds, claims and prunes interaction states."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        kind: str,
        *,
        owner_id: int,
        guild_id: int | None,
        payload: Mapping[str, Any],
        now: float,
        lifetime: float,
    ) -> InteractionState:
        state = InteractionState(
            id=new_state_id(),
            kind=kind,
            owner_id=owner_id,
            guild_id=guild_id,
            payload=dict(payload),
            created_at=now,
            expires_at=now + lifetime,
            busy_until=None,
            outcome=None,
        )
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO interaction_states "
                "(id, kind, owner_id, guild_id, payload, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    state.id,
                    kind,
                    owner_id,
                    guild_id,
                    _dumps(state.payload),
                    now,
                    state.expires_at,
                ),
            )
        return state

    async def get(self, state_id: str) -> InteractionState | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM interaction_states WHERE id = ?", (state_id,)
        )
        return None if row is None else InteractionState.from_row(row)

    async def claim(self, state_id: str, *, now: float, lease: float) -> InteractionState | None:
        """Take the state for one action: atomically, only when it is not done with and no
        other action holds it (or the holder's lease passed). Returns it, or None when it
        could not be taken (`get` says why). Expiry is the caller's to judge: some actions
        still make sense on an expired state (handing a draft back)."""
        async with self.db.transaction() as conn:
            row = await conn.fetchone(
                "UPDATE interaction_states SET busy_until = ? "
                "WHERE id = ? AND outcome IS NULL AND (busy_until IS NULL OR busy_until <= ?) "
                f"RETURNING {_COLUMNS}",
                (now + lease, state_id, now),
            )
        return None if row is None else InteractionState.from_row(row)

    async def release(self, state_id: str, *, expires_at: float | None = None) -> None:
        """End the action that claimed the state (it stays usable), moving its expiry on
        when `expires_at` is given."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE interaction_states SET busy_until = NULL, "
                "expires_at = COALESCE(?, expires_at) WHERE id = ?",
                (expires_at, state_id),
            )

    async def replace_payload(
        self, state_id: str, payload: Mapping[str, Any], *, expires_at: float
    ) -> None:
        """The state's next step (a paper chosen: the picker becomes a preview), ending the
        action that claimed it."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE interaction_states SET payload = ?, expires_at = ?, busy_until = NULL "
                "WHERE id = ?",
                (_dumps(payload), expires_at, state_id),
            )

    async def touch(self, state_id: str, *, expires_at: float) -> None:
        """Keep a state that was just used alive until `expires_at` (never shortening it)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE interaction_states SET expires_at = ? "
                "WHERE id = ? AND outcome IS NULL AND expires_at < ?",
                (expires_at, state_id, expires_at),
            )

    async def finish(self, state_id: str, outcome: str) -> bool:
        """Record that the state is done with; True when this call did it (it was not
        already). Ends any action holding it."""
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE interaction_states SET outcome = ?, busy_until = NULL "
                "WHERE id = ? AND outcome IS NULL",
                (outcome, state_id),
            )
        return changed > 0

    async def expire(self, state_id: str, *, now: float, slack: float = 0.0) -> bool:
        """Mark the state expired when its time is up (within `slack` seconds: a timer and
        the clock disagree a little), nothing is done with it and no action holds it. True
        when this call did it: then the caller tidies its message."""
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE interaction_states SET outcome = 'expired' "
                "WHERE id = ? AND outcome IS NULL AND expires_at <= ? "
                "AND (busy_until IS NULL OR busy_until <= ?)",
                (state_id, now + slack, now),
            )
        return changed > 0

    async def prune(self, *, expired_before: float) -> int:
        """Forget the states that expired before `expired_before`. Returns how many."""
        async with self.db.transaction() as conn:
            return await conn.execute(
                "DELETE FROM interaction_states WHERE expires_at < ?", (expired_before,)
            )


def _dumps(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
