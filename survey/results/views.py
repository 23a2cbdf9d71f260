"""Results pages under ``/admin/campaigns/<campaign_id>/results``, for Nội vụ and unit managers.

Thin views: read the options from the query string (a bad value is a 400 with a clear message),
call :func:`survey.services.results_tables.campaign_results` once, draw the charts with
:mod:`survey.services.report_charts`, render.  Scoping: the campaign and any unit named in the
query go through :func:`survey.services.scope.get_in_scope`; the bundle lists only the units of
the viewer's subtree (its overall figure is the whole campaign's, said on the page).
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..auth import role_required
from ..extensions import db
from ..models import Campaign, CampaignUnit, Unit
from ..services import report_charts
from ..services.results import ResultsError
from ..services.results_tables import CI_CHOICES, campaign_results
from ..services.scope import campaign_in_scope, get_in_scope, visible_unit_ids

bp = Blueprint("results", __name__, url_prefix="/admin")
MANAGERS = ("admin", "unit_manager")
WEIGHTINGS = ("auto", "unweighted", "design", "raked")


class BadOption(ValueError):
    """A query-string option the page cannot use (message in the page language)."""


@bp.get("/results")
@role_required(*MANAGERS)
def index():
    """The campaigns in the viewer's scope, newest first, each linking to its results."""
    campaigns = db.session.scalars(
        select(Campaign).where(campaign_in_scope(current_user))
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())).all()
    return render_template("results/index.html", campaigns=campaigns)


@bp.get("/campaigns/<int:campaign_id>/results")
@role_required(*MANAGERS)
def campaign(campaign_id: int):
    """The results page of one campaign in the viewer's scope."""
    campaign = get_in_scope(Campaign, campaign_id, current_user)
    try:
        options = _options(campaign)
    except BadOption as exc:
        return _bad(campaign, str(exc))
    profile_unit = None
    if request.args.get("unit_id"):
        profile_unit = get_in_scope(Unit, request.args["unit_id"], current_user)
    try:
        results = campaign_results(campaign.id, visible_units=_visible_units(campaign),
                                   visible_campaigns=_visible_campaigns(), **options)
    except ResultsError:
        return _bad(campaign, _("Đợt khảo sát trước được chọn để so sánh không hợp lệ: hãy chọn "
                                "một đợt trong danh sách."))
    lang = "en" if str(get_locale()) == "en" else "vi"
    indicator = request.args.get("indicator") or results.root
    if results.ok and indicator not in {i.code for i in results.indicators}:
        return _bad(campaign, _("Chỉ số không có trong bộ phiếu của đợt khảo sát này."))
    charts = _charts(results, indicator, profile_unit, lang) if results.ok else {}
    return render_template("results/campaign.html", campaign=campaign, r=results,
                           options=options, indicator=indicator, charts=charts, lang=lang,
                           profile_unit=profile_unit, exports_url=_exports_url(campaign),
                           unit_ids=_unit_ids(results))


def _options(campaign: Campaign) -> dict:
    """Weighting, comparison, CI method and flagged responses from the query string."""
    args = request.args
    weighting = args.get("weighting") or "auto"
    if weighting not in WEIGHTINGS:
        raise BadOption(_("Cách gia quyền không hợp lệ: chọn “không gia quyền”, “theo thiết kế” "
                          "hoặc “hiệu chỉnh theo biên”."))
    ci = args.get("ci") or "logit"
    if ci not in CI_CHOICES:
        raise BadOption(_("Phương pháp khoảng tin cậy không hợp lệ."))
    compare = args.get("compare") or None
    if compare not in (None, "none"):
        if not compare.isdigit():
            raise BadOption(_("Đợt khảo sát trước được chọn để so sánh không hợp lệ: hãy chọn "
                              "một đợt trong danh sách."))
        compare = int(compare)
    flagged = args.get("flagged", "1")
    if flagged not in ("0", "1"):
        raise BadOption(_("Lựa chọn về phiếu bị gắn cờ không hợp lệ."))
    return {"weighting": weighting, "ci": ci, "compare_to": compare,
            "include_flagged": flagged == "1", "papi_compatible": args.get("papi") == "1"}


def _visible_units(campaign: Campaign) -> set[int] | None:
    """The viewer's units, or None when every unit of the campaign is in their subtree."""
    visible = set(db.session.scalars(visible_unit_ids(current_user)))
    surveyed = set(db.session.scalars(select(CampaignUnit.unit_id)
                                      .where(CampaignUnit.campaign_id == campaign.id)))
    return None if surveyed <= visible else visible


def _visible_campaigns() -> set[int]:
    """Campaign ids the viewer may see (for the comparison and the trend)."""
    return set(db.session.scalars(select(Campaign.id).where(campaign_in_scope(current_user))))


def _charts(results, indicator: str, profile_unit: Unit | None, lang: str) -> dict:
    """The page's charts; the element profile for the chosen unit (default: first listed)."""
    table = results.table("unit")
    unit_code = profile_unit.code if profile_unit is not None else (
        table.domains[0][0] if table is not None and table.domains else None)
    charts = {"units": report_charts.unit_bars(results, indicator, lang),
              "trend": report_charts.trend(results, indicator, lang),
              "priority": report_charts.priority_matrix(results, lang)}
    if unit_code is not None:
        charts["profile"] = report_charts.element_profile(results, unit_code, lang)
    return charts


def _unit_ids(results) -> dict[str, int]:
    """Unit code → id for the units listed (the element-profile chooser sends ids)."""
    table = results.table("unit") if results.ok else None
    codes = [code for code, _name in table.domains] if table is not None else []
    if not codes:
        return {}
    return dict(db.session.execute(select(Unit.code, Unit.id).where(Unit.code.in_(codes))).all())


def _exports_url(campaign: Campaign) -> str | None:
    """The export page of the campaign, when the exports blueprint is installed."""
    if "exports.campaign_exports" not in current_app.view_functions:
        return None
    from flask import url_for
    return url_for("exports.campaign_exports", campaign_id=campaign.id)


def _bad(campaign: Campaign, message: str):
    """A 400 page that says what was wrong and links back to the default view."""
    return render_template("results/bad_option.html", campaign=campaign, message=message), 400


@bp.app_template_filter("decimal")
def decimal(value: float | None, digits: int = 1) -> str:
    """A number with a decimal comma in Vietnamese (and a dash for none)."""
    lang = "en" if str(get_locale()) == "en" else "vi"
    return report_charts.number(value, lang, digits)
