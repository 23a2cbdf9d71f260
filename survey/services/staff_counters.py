"""What the staff pages show: counters in the user's scope with their codes and counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Counter, EntryPoint, Kiosk, Unit
from .scans import Activity, activity, counter_activity
from .scope import in_scope


@dataclass(frozen=True)
class SingleUseTally:
    """Single-use codes of a counter: printed (batches), used, still open."""

    issued: int
    used: int
    revoked: int

    @property
    def unused(self) -> int:
        """Printed, not used, not revoked."""
        return self.issued - self.used - self.revoked


def counters_for(user) -> list[tuple[Counter, Activity]]:
    """Counters in the user's subtree, by unit then code, with scans and responses."""
    counters = list(db.session.scalars(
        select(Counter).join(Unit).where(in_scope(user, Counter.unit_id))
        .options(selectinload(Counter.unit)).order_by(Unit.name, Counter.code)))
    counts = counter_activity([c.id for c in counters])
    return [(c, counts[c.id]) for c in counters]


def static_codes_with_activity(counter: Counter) -> list[tuple[EntryPoint, Activity]]:
    """The counter's static codes, newest first (revoked ones too, marked), with counts."""
    entries = list(db.session.scalars(
        select(EntryPoint).where(EntryPoint.counter_id == counter.id, EntryPoint.kind == "static",
                                 EntryPoint.id.not_in(select(Kiosk.entry_point_id)))  # kiosks: own list
        .options(selectinload(EntryPoint.field)).order_by(EntryPoint.revoked_at.isnot(None),
                                                          EntryPoint.id.desc())))
    counts = activity([e.id for e in entries])
    return [(e, counts[e.id]) for e in entries]


def single_use_tally(counter: Counter) -> SingleUseTally:
    """Printed single-use codes of the counter (dossier codes from the API not included)."""
    issued, used, revoked = db.session.execute(
        select(func.count(EntryPoint.id), func.count(EntryPoint.used_at),
               func.count(EntryPoint.revoked_at))
        .where(EntryPoint.counter_id == counter.id, EntryPoint.kind == "single_use",
               EntryPoint.dossier_hash.is_(None))).one()
    return SingleUseTally(int(issued), int(used), int(revoked))

