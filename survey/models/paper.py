"""Paper questionnaires (phiếu giấy): print batches, one row per serial number, typed entries.

A printed form has a serial number (số phiếu) unique within its campaign and its own single-use
QR code (the online version of the same form), so one form gives at most one response whatever
the channel. A form is entered once: ``response_id`` is unique and set only with status
``entered``. With double entry, each typing is kept in ``paper_entries`` (round 1 and 2, one
each per form) until the two agree or a clerk resolves the differences field by field.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at

FORM_STATUSES = ("printed", "first_entry", "conflict", "entered")
BATCH_SOURCES = ("print", "import")


class PaperBatch(db.Model):
    """Forms printed together (``sipas paper``, the staff page) or created by a file import."""

    __tablename__ = "paper_batches"
    __table_args__ = (
        CheckConstraint(f"source IN {BATCH_SOURCES}", name="source"),
        CheckConstraint("count >= 0", name="count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    source: Mapped[str] = mapped_column(String(8), default="print")
    double_entry: Mapped[bool] = mapped_column(Boolean, default=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()

    campaign = relationship("Campaign")
    unit = relationship("Unit")
    counter = relationship("Counter")


class PaperForm(db.Model):
    """One paper form: its serial, where it belongs, and whether (and how) it was entered."""

    __tablename__ = "paper_forms"
    __table_args__ = (
        UniqueConstraint("campaign_id", "serial"),
        CheckConstraint(f"status IN {FORM_STATUSES}", name="status"),
        CheckConstraint("(status = 'entered') = (response_id IS NOT NULL)", name="entered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[int] = mapped_column(ForeignKey("paper_batches.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    entry_point_id: Mapped[int] = mapped_column(ForeignKey("entry_points.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="printed")
    response_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("responses.id"), unique=True)
    entered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()

    batch: Mapped[PaperBatch] = relationship()
    entry_point = relationship("EntryPoint")
    unit = relationship("Unit")
    entries: Mapped[list[PaperEntry]] = relationship(back_populates="form", order_by="PaperEntry.round")


class PaperEntry(db.Model):
    """One clerk's typing of a double-entry form: the codes as typed, item by item."""

    __tablename__ = "paper_entries"
    __table_args__ = (
        UniqueConstraint("form_id", "round"),
        CheckConstraint("round IN (1, 2)", name="round"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("paper_forms.id"))
    round: Mapped[int] = mapped_column(SmallInteger)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    codes: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = created_at()

    form: Mapped[PaperForm] = relationship(back_populates="entries")
    user = relationship("User")
