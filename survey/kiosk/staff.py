"""Staff pages for kiosks: make a kiosk link for a counter, print it, see ratings and blocked presses."""

from __future__ import annotations

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from ..auth import role_required
from ..extensions import db
from ..models import Campaign, Counter, EntryPoint, Kiosk
from ..services.kiosk import create_kiosk, daily_activity, kiosks_of, open_campaigns, revoke_kiosk
from ..services.minting import MintingError
from ..services.scope import get_in_scope

bp = Blueprint("kiosk_staff", __name__, url_prefix="/staff")
STAFF_ROLES = ("admin", "unit_manager", "counter_staff")


def kiosk_url(code: str) -> str:
    """The address the tablet opens: ``https://host/k/XXXXXXXX``."""
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/k/{code}"


@bp.app_template_global("kiosk_section")
def kiosk_section(counter: Counter) -> Markup:
    """The kiosk block of the staff counter page (``templates/staff/counter.html`` includes it)."""
    return Markup(render_template("kiosk/_staff_section.html", counter=counter,
                                  kiosks=kiosks_of(counter), campaigns=open_campaigns(counter.unit),
                                  kiosk_url=kiosk_url))


@bp.post("/counters/<int:counter_id>/kiosks")
@role_required(*STAFF_ROLES)
def create(counter_id: int):
    """Make a kiosk link for the counter in one of the campaigns open for its unit."""
    counter = get_in_scope(Counter, counter_id, current_user)
    campaigns = {c.id: c for c in open_campaigns(counter.unit)}
    asked = request.form.get("campaign_id", type=int)
    if asked is None and len(campaigns) == 1:
        asked = next(iter(campaigns))
    chosen = campaigns.get(asked or 0)
    if chosen is None:
        flash(_("Chọn một đợt khảo sát đang mở cho quầy này."), "error")
        return redirect(url_for("staff.counter", counter_id=counter.id), 303)
    try:
        kiosk = create_kiosk(counter, db.session.get(Campaign, chosen.id), current_user)
    except MintingError as exc:
        db.session.rollback()
        flash(exc.translated(_), "error")
        return redirect(url_for("staff.counter", counter_id=counter.id), 303)
    db.session.commit()
    flash(_("Đã tạo liên kết kiosk. Mở liên kết này trên máy tính bảng đặt tại quầy."), "success")
    return redirect(url_for("kiosk_staff.show", kiosk_id=kiosk.id), 303)


@bp.get("/kiosks/<int:kiosk_id>")
@role_required(*STAFF_ROLES)
def show(kiosk_id: int):
    """One kiosk: its link and QR (to open it on the tablet), printable; ratings and blocked presses."""
    kiosk = get_in_scope(Kiosk, kiosk_id, current_user)
    entry = db.session.get(EntryPoint, kiosk.entry_point_id)
    url = kiosk_url(entry.code)
    qr = segno.make(url, error="m").svg_data_uri(scale=6, border=2)
    return render_template("kiosk/staff_kiosk.html", kiosk=kiosk, entry=entry, url=url, qr=qr,
                           days=daily_activity(entry.id),
                           interval=int(current_app.config["KIOSK_MIN_INTERVAL"]))


@bp.post("/kiosks/<int:kiosk_id>/revoke")
@role_required(*STAFF_ROLES)
def revoke(kiosk_id: int):
    """Stop a kiosk link (e.g. a tablet lost); its ratings stay."""
    kiosk = get_in_scope(Kiosk, kiosk_id, current_user)
    revoke_kiosk(kiosk, current_user)
    db.session.commit()
    flash(_("Đã thu hồi liên kết kiosk."), "success")
    return redirect(url_for("kiosk_staff.show", kiosk_id=kiosk.id), 303)
