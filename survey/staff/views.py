"""Staff pages: my counters, their codes and counts; posters and single-use slips as PDF."""

from __future__ import annotations

import io

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import role_required
from ..extensions import db
from ..models import Counter, EntryPoint
from ..services import audit
from ..services.minting import MAX_BATCH, MintingError, entry_url, rotate
from ..services.printing import Actor, mint_and_print, print_poster
from ..services.scope import get_in_scope
from ..services.staff_counters import counters_for, single_use_tally, static_codes_with_activity

bp = Blueprint("staff", __name__, url_prefix="/staff")
STAFF_ROLES = ("admin", "unit_manager", "counter_staff")


def _actor() -> Actor:
    """The logged-in user as the one who prints."""
    return Actor(current_user.username, current_user.id)


def _pdf(data: bytes, name: str):
    """A PDF download that no cache keeps (it holds live codes)."""
    resp = send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=name)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/")
@role_required(*STAFF_ROLES)
def index():
    """The counters of my unit (and below) with scans and responses."""
    return render_template("staff/index.html", counters=counters_for(current_user))


@bp.get("/counters/<int:counter_id>")
@role_required(*STAFF_ROLES)
def counter(counter_id: int):
    """One counter: its static codes with counts, and the forms to print."""
    found = get_in_scope(Counter, counter_id, current_user)
    base = current_app.config["PUBLIC_BASE_URL"]
    codes = [(entry, counts, entry_url(base, entry.code))
             for entry, counts in static_codes_with_activity(found)]
    return render_template("staff/counter.html", counter=found, codes=codes,
                           tally=single_use_tally(found), max_batch=MAX_BATCH)


@bp.get("/counters/<int:counter_id>/poster.pdf")
@role_required(*STAFF_ROLES)
def poster(counter_id: int):
    """A4 poster(s) for the counter's static code(s); the print is audited."""
    found = get_in_scope(Counter, counter_id, current_user)
    try:
        pdf = print_poster(found, actor=_actor(), base_url=current_app.config["PUBLIC_BASE_URL"])
    except MintingError as exc:
        db.session.rollback()
        flash(exc.translated(_), "error")
        return redirect(url_for("staff.counter", counter_id=found.id))
    db.session.commit()
    return _pdf(pdf, f"ap-phich-{found.unit.code}-{found.code}.pdf")


@bp.post("/counters/<int:counter_id>/slips")
@role_required(*STAFF_ROLES)
def slips(counter_id: int):
    """Mint a batch of single-use codes and download it as A4 slips or 80 mm receipts."""
    found = get_in_scope(Counter, counter_id, current_user)
    kind = request.form.get("kind", "slips")
    count = request.form.get("count", type=int)
    if kind not in ("slips", "receipt") or count is None or not 1 <= count <= MAX_BATCH:
        flash(_("Số phiếu phải từ 1 đến %(n)s.", n=MAX_BATCH), "error")
        return redirect(url_for("staff.counter", counter_id=found.id), 303)
    try:
        entries, pdf = mint_and_print(found, count, kind, actor=_actor(),
                                      base_url=current_app.config["PUBLIC_BASE_URL"])
    except MintingError as exc:
        db.session.rollback()
        flash(exc.translated(_), "error")
        return redirect(url_for("staff.counter", counter_id=found.id), 303)
    db.session.commit()
    return _pdf(pdf, f"phieu-{found.unit.code}-{found.code}-{entries[0].code}.pdf")


@bp.post("/entry-points/<int:entry_point_id>/rotate")
@role_required(*STAFF_ROLES)
def rotate_code(entry_point_id: int):
    """Replace a static code (e.g. a defaced or copied poster): the old one stops, a new one starts."""
    entry = get_in_scope(EntryPoint, entry_point_id, current_user)
    if entry.kind != "static" or entry.revoked_at is not None or entry.counter_id is None:
        abort(404)
    fresh = rotate(entry)
    audit.record("entry_point.rotate", current_user.username, user_id=current_user.id,
                 object_type="entry_point", object_id=fresh.id, old_code=entry.code, code=fresh.code)
    db.session.commit()
    flash(_("Đã đổi mã %(old)s thành %(new)s. Hãy in lại áp phích.", old=entry.code, new=fresh.code),
          "success")
    return redirect(url_for("staff.counter", counter_id=fresh.counter_id), 303)
