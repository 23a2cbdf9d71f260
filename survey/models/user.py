"""Staff accounts (Nội vụ, unit managers, counter staff), each scoped to a unit subtree."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import created_at

ROLES = ("admin", "unit_manager", "counter_staff")


class User(UserMixin, db.Model):
    """A login; ``role`` decides what, ``unit_id`` decides where (the unit's subtree)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    # Login throttling per account: failures since the last success, and a lockout window.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    unit = relationship("Unit")

    def set_password(self, password: str) -> None:
        """Store a salted hash of ``password``."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Whether ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """Session id ``<id>:<stamp>``; the stamp changes with the password, ending old sessions."""
        return f"{self.id}:{self.session_stamp()}"

    def session_stamp(self) -> str:
        """A short keyed digest of the password hash (the hash itself never goes in a cookie)."""
        from flask import current_app
        key = str(current_app.config["SECRET_KEY"]).encode()
        return hmac.new(key, self.password_hash.encode(), hashlib.sha256).hexdigest()[:16]

    @property
    def is_active(self) -> bool:
        """Deactivated users cannot log in."""
        return self.active
