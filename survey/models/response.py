"""Responses (phiếu trả lời) and their answers; never deleted, exclusion is reversible."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db

CHANNELS = ("qr", "kiosk", "paper", "api")
# Responses waiting for (or carrying) a review decision; the partial index below holds only these.
REVIEW_PREDICATE = "excluded OR (flags IS NOT NULL AND json_array_length(flags) > 0)"


class Response(db.Model):
    """One citizen's submission, stored once per client submission UUID."""

    __tablename__ = "responses"
    __table_args__ = (
        CheckConstraint(f"channel IN {CHANNELS}", name="channel"),
        CheckConstraint("excluded = false OR exclusion_reason IS NOT NULL", name="exclusion"),
        # Integrity checks (services/integrity.py) count recent responses by these keys, each
        # index holding all of its count's conditions. No index on submitted_at alone (0012): on
        # a young table the planner took it, or the unit's, for these counts.
        Index("ix_responses_device_hash_submitted_at", "device_hash", "submitted_at"),
        Index("ix_responses_ip_hash_submitted_at", "ip_hash", "submitted_at"),
        Index("ix_responses_entry_point_id_submitted_at", "entry_point_id", "submitted_at"),
        Index("ix_responses_answer_pattern_unit_id_submitted_at", "answer_pattern", "unit_id",
              "submitted_at"),
        # Results (services/results.py): a campaign's included responses per unit (0006).
        Index("ix_responses_campaign_excluded_unit", "campaign_id", "excluded", "unit_id",
              postgresql_include=["field_id", "counter_id"]),
        # Review queue (services/review.py): only the few flagged or excluded responses, with
        # every column the queue filters and sorts on, so pages and counts are index-only (0007).
        Index("ix_responses_review", "campaign_id", "submitted_at", "id", "unit_id", "excluded",
              postgresql_where=text(REVIEW_PREDICATE), sqlite_where=text(REVIEW_PREDICATE)),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    submission_uuid: Mapped[str] = mapped_column(Uuid(as_uuid=False), unique=True)
    receipt: Mapped[str] = mapped_column(String(16), unique=True)
    entry_point_id: Mapped[int | None] = mapped_column(ForeignKey("entry_points.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    questionnaire_version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"))
    questionnaire_id: Mapped[str] = mapped_column(String(64))
    questionnaire_version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    field_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_fields.id"))
    channel: Mapped[str] = mapped_column(String(8), default="qr")
    language: Mapped[str] = mapped_column(String(2), default="vi")
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    form_seconds: Mapped[int | None]
    flags: Mapped[list] = mapped_column(JSON, default=list)
    # Keyed hashes only (never the raw cookie or address); cleared after the retention period.
    device_hash: Mapped[str | None] = mapped_column(String(32))
    ip_hash: Mapped[str | None] = mapped_column(String(16))
    answer_pattern: Mapped[str | None] = mapped_column(String(32))
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    exclusion_reason: Mapped[str | None] = mapped_column(Text)

    answers: Mapped[list[Answer]] = relationship(back_populates="response",
                                                 cascade="save-update, merge")


class Answer(db.Model):
    """One answer; rated answers carry their scale so the database checks the range.

    On SQLite ``answers`` is a table, one row per answer. On PostgreSQL it is a view (migration
    0011) unnesting :data:`RESPONSE_ANSWERS`, with the same columns and types: readers are the
    same on both; writers go through ``services/answer_store.py``.
    """

    __tablename__ = "answers"
    __table_args__ = (
        CheckConstraint("scale_points IS NULL OR (scale_points >= 2 AND scale_points <= 11)",
                        name="scale_points"),
        CheckConstraint(
            "rating IS NULL OR (scale_points IS NOT NULL AND rating >= 1 AND rating <= scale_points)",
            name="rating_in_scale"),
        CheckConstraint("NOT (not_applicable AND rating IS NOT NULL)", name="na_or_rating"),
        CheckConstraint("choices IS NULL OR choice IS NULL", name="one_choice_kind"),
    )

    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id"), primary_key=True)
    item_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    scale_points: Mapped[int | None] = mapped_column(SmallInteger)
    not_applicable: Mapped[bool] = mapped_column(Boolean, default=False)
    number: Mapped[int | None] = mapped_column(BigInteger)
    choice: Mapped[str | None] = mapped_column(String(64))
    choices: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    text: Mapped[str | None] = mapped_column(Text)

    response: Mapped[Response] = relationship(back_populates="answers")


# PostgreSQL only: a response's answers as ONE row, each column of ``Answer`` an array with one
# element per answer, in the same order in every array (migration 0011, docs/design-notes.md).
# Not in ``db.metadata``: SQLite has no such table, and the models read the view ``answers``.
RESPONSE_ANSWERS = Table(
    "response_answers", MetaData(),
    Column("response_id", BigInteger, primary_key=True),
    Column("item_code", ARRAY(Text), nullable=False),
    Column("rating", ARRAY(SmallInteger), nullable=False),
    Column("scale_points", ARRAY(SmallInteger), nullable=False),
    Column("not_applicable", ARRAY(Boolean), nullable=False),
    Column("number", ARRAY(BigInteger), nullable=False),
    Column("choice", ARRAY(Text), nullable=False),
    Column("choices", ARRAY(JSON), nullable=False),
    Column("text", ARRAY(Text), nullable=False),
)
