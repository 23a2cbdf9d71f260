"""``/admin/api-keys``: admins create and revoke the API keys of one-stop software, in scope."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..auth import role_required
from ..extensions import db
from ..models import ApiKey, Unit
from ..services import api_keys, audit
from ..services.scope import get_in_scope, in_scope, visible_unit_ids

bp = Blueprint("apikeys", __name__, url_prefix="/admin/api-keys")


def _page(status: int = 200, *, new_key: str | None = None, error: str | None = None,
          form: dict | None = None):
    """The list of keys in scope with the create form (and a new key, shown once)."""
    units = db.session.scalars(select(Unit).where(in_scope(current_user, Unit.id)).order_by(Unit.name))
    return render_template("staff/api_keys.html", keys=api_keys.list_keys(visible_unit_ids(current_user)),
                           units=list(units), new_key=new_key, error=error, form=form or {}), status


@bp.get("/")
@role_required("admin")
def index():
    """Keys of units in my scope."""
    return _page()


@bp.post("/")
@role_required("admin")
def create():
    """Create a key for a unit in scope; the key is shown on this response only, never again."""
    unit_id = request.form.get("unit_id", type=int)
    name = request.form.get("name", "")
    unit = db.session.scalar(select(Unit).where(Unit.id == unit_id, in_scope(current_user, Unit.id)))
    if unit is None:
        return _page(422, error=_("Chọn một đơn vị trong phạm vi của bạn."), form=request.form)
    try:
        key, raw = api_keys.create_key(unit, name, created_by=current_user)
    except api_keys.ApiKeyError as exc:
        db.session.rollback()
        return _page(422, error=str(exc), form=request.form)
    audit.record("api_key.create", current_user.username, user_id=current_user.id,
                 object_type="api_key", object_id=key.id, prefix=key.prefix, unit_id=unit.id)
    db.session.commit()
    page, status = _page(201, new_key=raw)
    return page, status, {"Cache-Control": "no-store"}


@bp.post("/<int:key_id>/revoke")
@role_required("admin")
def revoke(key_id: int):
    """Revoke a key of a unit in scope."""
    key = get_in_scope(ApiKey, key_id, current_user)
    api_keys.revoke_key(key)
    audit.record("api_key.revoke", current_user.username, user_id=current_user.id,
                 object_type="api_key", object_id=key.id, prefix=key.prefix)
    db.session.commit()
    flash(_("Đã thu hồi khoá %(prefix)s.", prefix=key.prefix), "success")
    return redirect(url_for("apikeys.index"), 303)
