"""The ``manage`` blueprint (``/admin/...``): units, counters, fields, campaigns, imports, review.

Roles: Nội vụ admins manage everything in their subtree (imports, campaigns, exclusions, the
audit log); unit managers see their subtree, manage its counters, and may flag a response for
the admins' review but do not decide exclusions themselves.
"""

from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user

from ..auth import role_required
from ..services.imports import MAX_BYTES, _l, display

bp = Blueprint("manage", __name__, url_prefix="/admin")
MANAGERS = ("admin", "unit_manager")
UPLOAD_ENDPOINTS = {"manage.import_units", "manage.import_population", "manage.import_counters",
                    "manage.import_fields"}


@bp.url_value_preprocessor
def allow_uploads(endpoint: str | None, values: dict | None) -> None:
    """Imports may be larger than the public form's body limit.

    This runs before every ``before_request`` hook, i.e. before anything reads the body.
    """
    if endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = MAX_BYTES + 64 * 1024


@bp.before_request
@role_required(*MANAGERS)
def guard():
    """Every page here needs a Nội vụ admin or a unit manager (finer checks per view)."""
    return None


def actor() -> str:
    """The name written in the audit log for the current user."""
    return current_user.username


def field_error(form, name: str | None, msgid: str, params: dict) -> None:
    """Show a service's refusal beside the form field it concerns (or the form's first field)."""
    target = form._fields.get(name) if name else None
    target = target or next(f for f in form if f.type not in ("CSRFTokenField", "HiddenField"))
    target.errors = [*target.errors, display(msgid, **params)]


def commit() -> bool:
    """Commit the request's changes; on a conflict with a concurrent change, roll back and say so.

    Services check uniqueness first, so this only happens when two people save the same thing
    at the same moment; the database constraint decides, and nothing half-written remains.
    """
    from flask import flash
    from sqlalchemy.exc import IntegrityError

    from ..extensions import db
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        flash(display(_l("Dữ liệu vừa được người khác thay đổi cùng lúc; không có gì được ghi. "
                         "Vui lòng thử lại.")), "error")
        return False
    return True
