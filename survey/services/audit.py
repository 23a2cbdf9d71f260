"""Recording actions in the append-only audit log."""

from __future__ import annotations

from ..extensions import db
from ..models import AuditLog


def record(action: str, actor: str, *, user_id: int | None = None, object_type: str | None = None,
           object_id: object = None, **details: object) -> AuditLog:
    """Add one audit entry to the session (committed with the action it records)."""
    entry = AuditLog(action=action, actor=actor, user_id=user_id, object_type=object_type,
                     object_id=None if object_id is None else str(object_id), details=details)
    db.session.add(entry)
    return entry
