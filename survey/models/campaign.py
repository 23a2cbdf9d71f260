"""Survey campaigns (đợt khảo sát), their units and population counts."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at

WEIGHTINGS = ("equal", "design", "raked")


class Campaign(db.Model):
    """A survey period on one questionnaire version; dates are Asia/Ho_Chi_Minh calendar days."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint(f"weighting IN {WEIGHTINGS}", name="weighting"),
        CheckConstraint("margin_of_error > 0 AND margin_of_error < 1", name="margin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    questionnaire_version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    weighting: Mapped[str] = mapped_column(String(16), default="design")
    margin_of_error: Mapped[float] = mapped_column(default=0.05)
    created_at: Mapped[datetime] = created_at()

    questionnaire_version = relationship("QuestionnaireVersion")
    units: Mapped[list[CampaignUnit]] = relationship(back_populates="campaign")


class CampaignUnit(db.Model):
    """A unit surveyed in a campaign, with its target sample size."""

    __tablename__ = "campaign_units"
    __table_args__ = (CheckConstraint("target_n IS NULL OR target_n >= 0", name="target"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    target_n: Mapped[int | None]

    campaign: Mapped[Campaign] = relationship(back_populates="units")
    unit = relationship("Unit")


class PopulationCount(db.Model):
    """Transactions (hồ sơ đã trả kết quả) of a unit × field × month, from one-stop software."""

    __tablename__ = "population_counts"
    __table_args__ = (
        UniqueConstraint("unit_id", "field_id", "month"),
        CheckConstraint("transactions >= 0", name="transactions"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    field_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_fields.id"))
    month: Mapped[date] = mapped_column(Date)
    transactions: Mapped[int]
    source: Mapped[str | None] = mapped_column(String(200))
