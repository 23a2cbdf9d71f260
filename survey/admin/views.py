"""Admin pages: the list of campaigns in scope (landing page) and the progress dashboard."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user
from sqlalchemy import select

from ..auth import role_required
from ..extensions import db
from ..models import Campaign
from ..services.scope import campaign_in_scope

bp = Blueprint("admin", __name__, url_prefix="/admin")
MANAGERS = ("admin", "unit_manager")


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
