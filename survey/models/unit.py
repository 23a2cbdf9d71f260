"""Administrative units (đơn vị), their counters and procedure fields."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at

UNIT_LEVELS = ("province", "city", "commune", "ward", "department", "centre", "other")


class Unit(db.Model):
    """Node of the administrative tree: province, commune/ward, department, one-stop centre."""

    __tablename__ = "units"
    __table_args__ = (CheckConstraint(f"level IN {UNIT_LEVELS}", name="level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    created_at: Mapped[datetime] = created_at()

    parent: Mapped[Unit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent")
    counters: Mapped[list[Counter]] = relationship(back_populates="unit")


class Counter(db.Model):
    """A counter or service point (quầy, điểm phục vụ) inside a unit."""

    __tablename__ = "counters"
    __table_args__ = (UniqueConstraint("unit_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    network_cidr: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()

    unit: Mapped[Unit] = relationship(back_populates="counters")


class ProcedureField(db.Model):
    """A procedure field (lĩnh vực: hộ tịch, đất đai, …), optionally a national procedure code."""

    __tablename__ = "procedure_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    procedure_code: Mapped[str | None] = mapped_column(String(64))
