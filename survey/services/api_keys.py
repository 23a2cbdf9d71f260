"""API keys for one-stop software: one or more per unit, stored as a SHA-256, revocable.

A key looks like ``sipas_k7m2q9xa_<43 random characters>``. The part after the second
underscore carries 256 random bits, so a plain SHA-256 (no salt, no slow hash) is enough to
make the stored value useless to a thief while letting a request be checked with one indexed
lookup. The short prefix is kept in clear so a key can be recognised in lists and logs.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Select, select

from ..extensions import db
from ..models import ApiKey, Unit, User
from ..models.base import utcnow

PREFIX_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
SCHEME = "sipas"
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiKeyError(ValueError):
    """A key request that cannot be honoured (message for the user)."""


def _digest(raw: str) -> str:
    """SHA-256 (hex) of the whole key."""
    return hashlib.sha256(raw.encode()).hexdigest()


def create_key(unit: Unit, name: str, created_by: User | None = None) -> tuple[ApiKey, str]:
    """A new key for ``unit``: (row, the key in clear). The clear key is shown once, never stored."""
    name = name.strip()
    if not name:
        raise ApiKeyError("Cần đặt tên cho khoá (ví dụ: tên phần mềm một cửa).")
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(8))
    raw = f"{SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(unit_id=unit.id, name=name[:200], prefix=prefix, key_hash=_digest(raw),
                 created_by_id=created_by.id if created_by else None)
    db.session.add(key)
    db.session.flush()
    return key, raw


def authenticate(raw: str | None, now: datetime | None = None) -> ApiKey | None:
    """The active key matching ``raw``, or None (missing, malformed, unknown or revoked)."""
    if not raw or not raw.startswith(f"{SCHEME}_") or len(raw) > 200:
        return None
    key = db.session.scalar(select(ApiKey).filter_by(key_hash=_digest(raw)))
    if key is None or key.revoked_at is not None:
        return None
    now = now or utcnow()
    last = key.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    if last is None or now - last > LAST_USED_PRECISION:  # not a write per request
        key.last_used_at = now
    return key


def prefix_of(raw: str | None) -> str | None:
    """The visible prefix of a presented key (for rate limiting and logs), None if malformed."""
    parts = (raw or "").split("_")
    return parts[1] if len(parts) >= 3 and parts[0] == SCHEME and len(parts[1]) == 8 else None


def find_key(prefix: str) -> ApiKey | None:
    """A key by its visible prefix."""
    return db.session.scalar(select(ApiKey).filter_by(prefix=prefix.removeprefix(f"{SCHEME}_")))


def revoke_key(key: ApiKey, now: datetime | None = None) -> None:
    """Refuse the key from now on (idempotent)."""
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
    db.session.flush()


def list_keys(unit_ids: Select | list[int] | None = None) -> list[ApiKey]:
    """Keys, newest first; only those of ``unit_ids`` when given (e.g. a user's scope)."""
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    if unit_ids is not None:
        query = query.where(ApiKey.unit_id.in_(unit_ids))
    return list(db.session.scalars(query))
