"""Kiosks: tablets fixed at a counter (``/k/<code>``), and the presses their minimum interval blocked."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at


class Kiosk(db.Model):
    """A static entry point that staff turned into a kiosk link for one counter.

    The code stays an ordinary static entry point (campaign, unit, counter); this row is what makes
    ``/k/<code>`` answer, keeps the code off the poster list, and serialises the kiosk's ratings
    (its row is locked while one is checked against the minimum interval).
    """

    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_point_id: Mapped[int] = mapped_column(ForeignKey("entry_points.id"), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    counter_id: Mapped[int] = mapped_column(ForeignKey("counters.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    # Last time the tablet reached the server (page, token refresh or ratings), for staff.
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    entry_point = relationship("EntryPoint")
    counter = relationship("Counter")


class KioskBlockedPress(db.Model):
    """Presses refused by the minimum interval, per entry point and local day (upserted)."""

    __tablename__ = "kiosk_blocked_presses"
    __table_args__ = (CheckConstraint("blocked >= 0", name="blocked"),)

    entry_point_id: Mapped[int] = mapped_column(ForeignKey("entry_points.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
