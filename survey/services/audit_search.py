"""Reading the audit log: filters and pages for the admins' view (the log is never changed).

Scoping: an admin sees the entries made by users of their subtree; entries without a user
(command line, demo, the public form) are not tied to any one unit, so only the top-most admins
see them: those with no admin in any unit above theirs (in the demo, Nội vụ of Sa Đéc, since
the province above it has no admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import AuditLog, Unit, User

PER_PAGE = 100


@dataclass(frozen=True)
class AuditFilter:
    """What the admin asked for; empty values do not filter."""

    action: str = ""
    object_type: str = ""
    object_id: str = ""
    actor: str = ""
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class AuditPage:
    """One page of entries, newest first."""

    entries: list[AuditLog]
    total: int
    page: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // PER_PAGE))


def _visible(user: User):
    """Audit entries the admin may read (see the module docstring)."""
    from .scope import in_scope
    by_users = AuditLog.user_id.in_(select(User.id).where(in_scope(user, User.unit_id)))
    if is_top_admin(user):
        return or_(by_users, AuditLog.user_id.is_(None))
    return by_users


def is_top_admin(user: User) -> bool:
    """An admin with no active admin in any unit above their own."""
    if user.role != "admin":
        return False
    above, unit = [], db.session.get(Unit, user.unit_id)
    while unit is not None and unit.parent_id is not None and len(above) < 100:
        above.append(unit.parent_id)
        unit = db.session.get(Unit, unit.parent_id)
    return not above or db.session.scalar(select(User.id).where(
        User.role == "admin", User.active.is_(True), User.unit_id.in_(above)).limit(1)) is None


def search(user: User, wanted: AuditFilter, page: int = 1, tz: str = "Asia/Ho_Chi_Minh") -> AuditPage:
    """Entries the admin may see matching ``wanted``; dates are local calendar days."""
    where = [_visible(user)]
    if wanted.action:
        where.append(AuditLog.action.startswith(wanted.action, autoescape=True))
    if wanted.object_type:
        where.append(AuditLog.object_type == wanted.object_type)
    if wanted.object_id:
        where.append(AuditLog.object_id == wanted.object_id)
    if wanted.actor:
        where.append(AuditLog.actor == wanted.actor)
    zone = ZoneInfo(tz)
    if wanted.since:
        where.append(AuditLog.at >= datetime.combine(wanted.since, time(), zone).astimezone(UTC))
    if wanted.until:
        end = datetime.combine(wanted.until + timedelta(days=1), time(), zone).astimezone(UTC)
        where.append(AuditLog.at < end)
    total = db.session.scalar(select(func.count(AuditLog.id)).where(*where))
    page = max(1, page)
    entries = db.session.scalars(select(AuditLog).where(*where).order_by(AuditLog.id.desc())
                                 .offset((page - 1) * PER_PAGE).limit(PER_PAGE)).all()
    return AuditPage(list(entries), total, page)


def known_actions(user: User) -> list[str]:
    """Distinct action names of the entries the admin may see, for the filter's choices."""
    return list(db.session.scalars(select(AuditLog.action).where(_visible(user)).distinct()
                                   .order_by(AuditLog.action)))
