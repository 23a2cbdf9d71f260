"""Shared column helpers."""

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    """Aware current time in UTC (storage is always UTC)."""
    return datetime.now(UTC)


def created_at() -> Mapped[datetime]:
    """A ``created_at`` column stamped in UTC."""
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
