"""Admin pages: the list of campaigns in scope (landing page) and the progress dashboard."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..auth import role_required
from ..extensions import db
from ..models import Campaign, Unit
from ..services.progress import campaign_progress, campaign_progress_units
from ..services.scope import campaign_in_scope, get_in_scope, narrowed
from . import users
from .charts import daily_bars, thousands

bp = Blueprint("admin", __name__, url_prefix="/admin")
MANAGERS = ("admin", "unit_manager")
users.register(bp)


@bp.before_request
@role_required(*MANAGERS)
def guard():
    """Every page of this blueprint needs a Nội vụ admin or a unit manager."""
    return None


@bp.get("/")
@role_required(*MANAGERS)
def index():
    """Campaigns that survey units in the user's subtree, newest first."""
    campaigns = db.session.scalars(
        select(Campaign).where(campaign_in_scope(current_user))
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())).all()
    return render_template("admin/index.html", campaigns=campaigns,
                           view_names=current_app.view_functions)


@bp.get("/campaigns/<int:campaign_id>/progress")
@role_required(*MANAGERS)
def progress(campaign_id: int):
    """The progress dashboard of one campaign, over the units in the user's subtree."""
    campaign = get_in_scope(Campaign, campaign_id, current_user)
    unit, viewer = None, current_user
    if request.args.get("unit_id"):  # narrow to one unit of the subtree
        unit = get_in_scope(Unit, request.args["unit_id"], current_user)
        viewer = narrowed(current_user, unit)
    data = campaign_progress(campaign, viewer)
    chart = daily_bars(
        data.days, title=_("Số phiếu hợp lệ mỗi ngày"),
        description=_("Từ %(start)s đến %(end)s, theo giờ Việt Nam; bảng số liệu ở bên dưới.",
                      start=data.days[0][0].strftime("%d/%m/%Y") if data.days else "",
                      end=data.days[-1][0].strftime("%d/%m/%Y") if data.days else ""))
    choices = campaign_progress_units(campaign, current_user)
    return render_template("admin/progress.html", p=data, chart=chart, unit=unit, choices=choices)


@bp.context_processor
def number_formats() -> dict:
    """Numbers and shares in the page language (1.234 and 45,3 % in Vietnamese)."""
    return {"num": _number, "pct": _percent}


def _number(n: int | None) -> str:
    """A count with thousands separators, or a dash."""
    if n is None:
        return "—"
    return thousands(n) if str(get_locale()) == "vi" else f"{n:,}"


def _percent(share: float | None) -> str:
    """A share as a percentage with one decimal, or a dash."""
    if share is None:
        return "—"
    text = f"{100 * share:.1f}"
    return f"{text.replace('.', ',')} %" if str(get_locale()) == "vi" else f"{text}%"
