"""Published questionnaire versions: an immutable stored copy of each definition."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import created_at


class QuestionnaireVersion(db.Model):
    """One published version; ``content_hash`` guards against silent edits."""

    __tablename__ = "questionnaire_versions"
    __table_args__ = (UniqueConstraint("questionnaire_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    # Deferred: the public form renders from the parsed file and needs only the hash.
    definition: Mapped[dict] = mapped_column(JSON, deferred=True)
    published_at: Mapped[datetime] = created_at()
