"""Accounts: login with throttling, the password policy, creating users and resetting passwords.

Every refusal at login looks the same to the visitor (unknown name, wrong password, locked or
deactivated account), and an unknown name still costs one password hash, so neither the answer
nor its timing tells whether an account exists.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import Unit, User
from ..models.base import utcnow
from ..models.user import ROLES
from .audit import record

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128  # hashing megabyte "passwords" would be a denial of service
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
# Who may create which roles: an admin any role in their subtree, a manager only counter staff.
CREATABLE_ROLES = {"admin": ROLES, "unit_manager": ("counter_staff",), "counter_staff": ()}


class AccountError(ValueError):
    """A user change that was refused; the message is shown to the person who asked for it."""


@dataclass(frozen=True)
class LoginResult:
    """The user on success, else None; ``locked_now`` when this failure started a lockout."""

    user: User | None
    locked_now: bool = False


def normalise_username(username: str) -> str:
    """Usernames are compared trimmed and in lower case."""
    return unicodedata.normalize("NFC", (username or "").strip()).lower()


def authenticate(username: str, password: str, *, now: datetime | None = None) -> LoginResult:
    """Check a login; count failures per account and lock it for ``LOCKOUT`` after too many."""
    now = now or utcnow()
    user = db.session.scalar(select(User).filter_by(username=normalise_username(username)))
    if user is None:
        check_password_hash(_dummy_hash(), password or "")  # same cost as a real check
        return LoginResult(None)
    matches = user.check_password(password or "")
    if not user.active or _locked(user, now):
        return LoginResult(None)
    if not matches:
        return _count_failure(user, now)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return LoginResult(user)


def _count_failure(user: User, now: datetime) -> LoginResult:
    """Add one failure atomically (parallel guesses all count); lock at the limit."""
    db.session.execute(update(User).where(User.id == user.id)
                       .values(failed_logins=User.failed_logins + 1))
    db.session.refresh(user)
    if user.failed_logins < MAX_FAILED_LOGINS:
        return LoginResult(None)
    user.failed_logins = 0
    user.locked_until = now + LOCKOUT
    record("user.locked", "system", object_type="user", object_id=user.id,
           username=user.username, minutes=int(LOCKOUT.total_seconds() // 60))
    return LoginResult(None, locked_now=True)


def _locked(user: User, now: datetime) -> bool:
    """Whether the account is inside its lockout window."""
    until = user.locked_until
    if until is None:
        return False
    if until.tzinfo is None:  # SQLite returns naive UTC
        until = until.replace(tzinfo=UTC)
    return until > now


@cache
def _dummy_hash() -> str:
    """A hash made the same way as real ones, checked when the username is unknown."""
    return generate_password_hash("not-a-real-password")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower case), one per line, ``#`` comments."""
    text = resources.files("survey.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def password_problems(password: str, *, username: str = "") -> list[str]:
    """Why ``password`` is refused (empty list: acceptable)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(str(_l("Mật khẩu phải có ít nhất %(n)d ký tự.", n=MIN_PASSWORD_LENGTH)))
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(str(_l("Mật khẩu dài quá %(n)d ký tự.", n=MAX_PASSWORD_LENGTH)))
    lowered = password.lower()
    core = lowered.rstrip("0123456789!@#$%^&*.?-_ ").lstrip("0123456789")
    common = common_passwords()
    if (lowered in common or (len(core) >= 4 and core in common) or len(set(lowered)) <= 2
            or _is_run(lowered)):
        problems.append(str(_l("Mật khẩu này quá phổ biến, dễ bị đoán. Hãy chọn mật khẩu khác.")))
    elif lowered.isdigit():
        problems.append(str(_l("Mật khẩu không được chỉ gồm chữ số (dễ đoán như ngày sinh).")))
    name = normalise_username(username)
    if name and len(name) >= 3 and name in lowered:
        problems.append(str(_l("Mật khẩu không được chứa tên đăng nhập.")))
    return problems


RUNS = ("01234567890123456789", "98765432109876543210", "abcdefghijklmnopqrstuvwxyz",
        "zyxwvutsrqponmlkjihgfedcba", "qwertyuiopasdfghjklzxcvbnm", "1qaz2wsx3edc4rfv5tgb6yhn",
        "zaq12wsxcde34rfvbgt56yhn")


def _is_run(lowered: str) -> bool:
    """A stretch of the digits, the alphabet or a keyboard row (``123456789012``, ``qwertyuiop``)."""
    return any(lowered in run for run in RUNS)


def set_password(user: User, password: str) -> None:
    """Apply the policy, then store the new hash (this ends the user's other sessions)."""
    problems = password_problems(password, username=user.username)
    if problems:
        raise AccountError(" ".join(problems))
    user.set_password(password)
    user.password_changed_at = utcnow()
    user.failed_logins = 0
    user.locked_until = None


def change_own_password(user: User, current: str, new: str) -> None:
    """A user changes their own password; the current one must be right."""
    if not user.check_password(current):
        raise AccountError(str(_l("Mật khẩu hiện tại không đúng.")))
    if current == new:
        raise AccountError(str(_l("Mật khẩu mới phải khác mật khẩu hiện tại.")))
    set_password(user, new)
    record("user.password_changed", user.username, user_id=user.id, object_type="user",
           object_id=user.id)


def reset_password(target: User, new: str, *, actor: User | None, actor_name: str) -> None:
    """An admin (or the CLI, ``actor=None``) sets someone's password; scope is checked by callers."""
    if actor is not None and actor.role != "admin":
        raise AccountError(str(_l("Chỉ quản trị viên được đặt lại mật khẩu.")))
    set_password(target, new)
    record("user.password_reset", actor_name, user_id=actor.id if actor else None,
           object_type="user", object_id=target.id, username=target.username)


def create_user(*, username: str, password: str, role: str, unit: Unit, full_name: str | None = None,
                actor: User | None, actor_name: str) -> User:
    """Create an account; ``actor`` (None for the CLI) may only create roles it is allowed to."""
    name = normalise_username(username)
    if not name or len(name) > 64 or not set(name) <= USERNAME_CHARS:
        raise AccountError(str(_l("Tên đăng nhập chỉ gồm chữ thường không dấu, số và . _ - "
                                  "(tối đa 64 ký tự).")))
    if role not in ROLES:
        raise AccountError(str(_l("Vai trò không hợp lệ.")))
    if actor is not None and role not in CREATABLE_ROLES[actor.role]:
        raise AccountError(str(_l("Bạn không được tạo tài khoản với vai trò này.")))
    if db.session.scalar(select(User.id).filter_by(username=name)) is not None:
        raise AccountError(str(_l("Tên đăng nhập này đã được dùng.")))
    user = User(username=name, role=role, unit_id=unit.id, full_name=(full_name or "").strip() or None,
                active=True, failed_logins=0)
    set_password(user, password)
    db.session.add(user)
    db.session.flush()
    record("user.create", actor_name, user_id=actor.id if actor else None, object_type="user",
           object_id=user.id, username=name, role=role, unit=unit.code)
    return user


def set_active(target: User, active: bool, *, actor: User, actor_name: str) -> None:
    """An admin deactivates (ending every session at once) or reactivates an account."""
    if actor.role != "admin":
        raise AccountError(str(_l("Chỉ quản trị viên được khoá hoặc mở tài khoản.")))
    if target.id == actor.id and not active:
        raise AccountError(str(_l("Bạn không thể tự khoá tài khoản của mình.")))
    if target.active == active:
        return
    target.active = active
    if active:
        target.failed_logins = 0
        target.locked_until = None
    record("user.activate" if active else "user.deactivate", actor_name, user_id=actor.id,
           object_type="user", object_id=target.id, username=target.username)
