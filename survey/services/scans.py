"""Scan counting: how often each QR code's form was opened, next to how many answers it got.

A scan is a GET of the form for a code that takes answers. It adds one to a row of
``scan_counts`` (entry point × local day × shard) with an upsert; the shard is drawn at random so
that 200 phones opening the same poster at once spread over several rows instead of queueing
for one row lock. Reading sums the shards, which is cheap: at most 8 rows per code and day.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..models import EntryPoint, Response, ScanCount
from ..models.api_key import SCAN_SHARDS
from ..models.base import utcnow
from . import direct
from .entry_points import LOCAL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Activity:
    """Scans and stored responses of one entry point (or a group of them)."""

    scans: int
    responses: int

    @property
    def response_rate(self) -> float | None:
        """Responses per scan, None before the first scan."""
        return self.responses / self.scans if self.scans else None


def record_scan(entry_point_id: int, now: datetime | None = None) -> None:
    """Count one scan of an entry point: one upsert in the session's transaction (caller commits).

    No savepoint: the form page is already rendered when this runs, so on a database error the
    whole transaction is rolled back (nothing else of the GET is lost), logged, and the page
    still goes out. Counting never breaks the citizen's page.
    """
    values = {"entry_point_id": entry_point_id, "scans": 1, **scan_values(now or utcnow())}
    try:
        stmt = _upsert(db.session.get_bind().dialect.name)
        rows = direct.execute(stmt, values, alone=True)  # sent twice at worst: one scan too many
        if rows is None:
            db.session.execute(stmt, values)
        else:
            rows.close()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("scan of entry point %s not counted", entry_point_id)


def scan_values(now: datetime) -> dict:
    """The local day of a scan at ``now`` and a random shard for it."""
    return {"day": now.astimezone(LOCAL).date(), "shard": random.randrange(SCAN_SHARDS)}


_UPSERTS: dict[str, object] = {}


def _upsert(dialect_name: str):
    """``INSERT … ON CONFLICT DO UPDATE SET scans = scans + 1`` with bound values, built once."""
    stmt = _UPSERTS.get(dialect_name)
    if stmt is None:
        table = ScanCount.__table__
        dialect = postgresql if dialect_name == "postgresql" else sqlite
        stmt = _UPSERTS[dialect_name] = dialect.insert(table).values(
            {name: bindparam(name, type_=table.c[name].type)
             for name in ("entry_point_id", "day", "shard", "scans")}
        ).on_conflict_do_update(index_elements=["entry_point_id", "day", "shard"],
                                set_={"scans": table.c.scans + 1})
    return stmt


def scan_counts(entry_point_ids: Iterable[int] | Select, *, since: date | None = None,
                until: date | None = None) -> dict[int, int]:
    """Scans per entry point id, over local days ``since``..``until`` (inclusive, None = open)."""
    ids = entry_point_ids if isinstance(entry_point_ids, Select) else list(entry_point_ids)
    query = (select(ScanCount.entry_point_id, func.sum(ScanCount.scans))
             .where(ScanCount.entry_point_id.in_(ids)).group_by(ScanCount.entry_point_id))
    if since is not None:
        query = query.where(ScanCount.day >= since)
    if until is not None:
        query = query.where(ScanCount.day <= until)
    return {eid: int(n) for eid, n in db.session.execute(query)}


def response_counts(entry_point_ids: Iterable[int] | Select) -> dict[int, int]:
    """Stored responses per entry point id (excluded ones included: they were submissions)."""
    ids = entry_point_ids if isinstance(entry_point_ids, Select) else list(entry_point_ids)
    query = (select(Response.entry_point_id, func.count(Response.id))
             .where(Response.entry_point_id.in_(ids)).group_by(Response.entry_point_id))
    return {eid: int(n) for eid, n in db.session.execute(query)}


def activity(entry_point_ids: Iterable[int] | Select) -> dict[int, Activity]:
    """Scans and responses per entry point id (every id asked for appears, zeros included)."""
    ids = entry_point_ids if isinstance(entry_point_ids, Select) else list(entry_point_ids)
    if isinstance(ids, Select):
        ids = list(db.session.scalars(ids))
    scans, responses = scan_counts(ids), response_counts(ids)
    return {eid: Activity(scans.get(eid, 0), responses.get(eid, 0)) for eid in ids}


def counter_activity(counter_ids: Iterable[int]) -> dict[int, Activity]:
    """Scans and responses per counter, summed over all its codes (static and single-use)."""
    ids = list(counter_ids)
    scans = dict(db.session.execute(
        select(EntryPoint.counter_id, func.sum(ScanCount.scans))
        .join(ScanCount, ScanCount.entry_point_id == EntryPoint.id)
        .where(EntryPoint.counter_id.in_(ids)).group_by(EntryPoint.counter_id)).all())
    responses = dict(db.session.execute(
        select(Response.counter_id, func.count(Response.id))
        .where(Response.counter_id.in_(ids)).group_by(Response.counter_id)).all())
    return {cid: Activity(int(scans.get(cid) or 0), int(responses.get(cid) or 0)) for cid in ids}
