"""API keys of one-stop software (per unit) and the scan counters of entry points."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at

SCAN_SHARDS = 8


class ApiKey(db.Model):
    """A unit's key for ``/api/v1``; only a SHA-256 of the key is stored, the prefix stays visible."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    unit = relationship("Unit")


class ScanCount(db.Model):
    """Form openings of one entry point on one local day, spread over a few rows (shards).

    Each scan adds one to a randomly chosen shard with an upsert, so a busy poster does not
    make every request wait for the same row lock; totals are sums over shards and days.
    """

    __tablename__ = "scan_counts"
    __table_args__ = (
        CheckConstraint(f"shard >= 0 AND shard < {SCAN_SHARDS}", name="shard"),
        CheckConstraint("scans >= 0", name="scans"),
    )

    entry_point_id: Mapped[int] = mapped_column(ForeignKey("entry_points.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    scans: Mapped[int] = mapped_column(Integer, default=0)
