"""Entry points: the QR codes citizens scan (static posters, single-use slips)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at

ENTRY_KINDS = ("static", "single_use")


class EntryPoint(db.Model):
    """Short random code → campaign, unit, counter, field; dossier codes kept only as a keyed hash."""

    __tablename__ = "entry_points"
    __table_args__ = (
        CheckConstraint(f"kind IN {ENTRY_KINDS}", name="kind"),
        CheckConstraint("kind = 'single_use' OR used_at IS NULL", name="used_single"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="static")
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    field_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_fields.id"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    dossier_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    active_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()

    campaign = relationship("Campaign")
    unit = relationship("Unit")
    counter = relationship("Counter")
    field = relationship("ProcedureField")
