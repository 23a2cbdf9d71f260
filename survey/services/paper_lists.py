"""What the paper pages list: batches with their progress, forms waiting for a resolution."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Counter, PaperBatch, PaperForm, Unit
from .scope import in_scope


@dataclass(frozen=True)
class BatchRow:
    """A batch with how many of its forms are in each state."""

    batch: PaperBatch
    printed: int
    first_entry: int
    conflict: int
    entered: int


def batches(user, limit: int = 30) -> list[BatchRow]:
    """The newest batches of the user's subtree with their counts (one grouped query)."""
    found = db.session.scalars(
        select(PaperBatch).where(in_scope(user, PaperBatch.unit_id))
        .options(selectinload(PaperBatch.unit), selectinload(PaperBatch.counter),
                 selectinload(PaperBatch.campaign))
        .order_by(PaperBatch.id.desc()).limit(limit)).all()
    counts: dict[int, dict[str, int]] = {}
    if found:
        rows = db.session.execute(
            select(PaperForm.batch_id, PaperForm.status, func.count())
            .where(PaperForm.batch_id.in_([b.id for b in found]))
            .group_by(PaperForm.batch_id, PaperForm.status))
        for batch_id, status, n in rows:
            counts.setdefault(batch_id, {})[status] = n
    return [BatchRow(b, *(counts.get(b.id, {}).get(s, 0)
                          for s in ("printed", "first_entry", "conflict", "entered"))) for b in found]


def conflicts(user, limit: int = 200) -> list[PaperForm]:
    """Double-entry forms whose two typings differ, oldest first."""
    return list(db.session.scalars(
        select(PaperForm).where(in_scope(user, PaperForm.unit_id), PaperForm.status == "conflict")
        .options(selectinload(PaperForm.unit)).order_by(PaperForm.id).limit(limit)))


def units_of(user) -> list[Unit]:
    """Units of the subtree, by name (the campaign is the one open on the day of printing)."""
    return list(db.session.scalars(select(Unit).where(in_scope(user, Unit.id)).order_by(Unit.name)))


def counters_of(user) -> list[Counter]:
    """Counters of the subtree (to print forms for one counter)."""
    return list(db.session.scalars(
        select(Counter).where(in_scope(user, Counter.unit_id)).options(selectinload(Counter.unit))
        .order_by(Counter.unit_id, Counter.code)))
