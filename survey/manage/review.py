"""Review queue, response detail with decisions, audit log view."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import role_required
from ..extensions import db
from ..models import Response
from ..services import audit_search
from ..services import campaigns as campaign_service
from ..services import review as review_service
from ..services.scope import get_in_scope
from .blueprint import MANAGERS, actor, bp, field_error
from .forms import DecisionForm

# Who may take which decision: admins (Nội vụ) exclude and re-include; managers may flag.
DECISIONS = {
    "exclude": (review_service.exclude, ("admin",)),
    "include": (review_service.include, ("admin",)),
    "flag": (review_service.flag, MANAGERS),
    "unflag": (review_service.unflag, MANAGERS),
}


def _page() -> int:
    """The ``?page=`` number, 1 when missing or absurd."""
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1


@bp.get("/review")
@role_required(*MANAGERS)
def review():
    """Flagged and excluded responses of a campaign (``?campaign_id=``, ``status``, ``page``)."""
    visible = campaign_service.visible_campaigns(current_user)
    campaign = None
    if request.args.get("campaign_id"):
        campaign = campaign_service.get_campaign(request.args["campaign_id"], current_user)
    elif visible:
        campaign = visible[0]
    status = request.args.get("status", "all")
    status = status if status in review_service.STATUSES else "all"
    page = rows = counts = None
    if campaign is not None:
        page = review_service.queue(campaign.id, current_user, status=status, page=_page())
        rows = review_service.queue_rows(page.responses)
        counts = review_service.queue_counts(campaign.id, current_user)
    return render_template("manage/review.html", campaigns=visible, campaign=campaign, status=status,
                           page=page, rows=rows, counts=counts, flag_labels=review_service.FLAG_LABELS)


@bp.get("/responses/<int:response_id>")
@role_required(*MANAGERS)
def response_detail(response_id: int):
    """One response: flags, answers, comment, decision history and the decision forms."""
    return _detail(get_in_scope(Response, response_id, current_user), DecisionForm())


def _detail(response: Response, form: DecisionForm, status: int = 200):
    """Render the response page (also after a refused decision, with the form's errors)."""
    from flask_babel import get_locale
    return render_template(
        "manage/response.html", response=response, form=form,
        answers=review_service.answer_rows(response, str(get_locale())),
        history=review_service.history(response), flag_labels=review_service.FLAG_LABELS,
        allowed={name for name, (_, roles) in DECISIONS.items() if current_user.role in roles},
        manual=review_service.MANUAL), status


@bp.post("/responses/<int:response_id>/decision")
@role_required(*MANAGERS)
def decide(response_id: int):
    """Exclude, re-include, flag or unflag, always with a reason; recorded in the audit log."""
    response = get_in_scope(Response, response_id, current_user)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _detail(response, form, 422)
    if form.action.data not in DECISIONS:
        abort(400)
    decide_with, roles = DECISIONS[form.action.data]
    if current_user.role not in roles:
        abort(403)
    try:
        decide_with(response, form.reason.data, user=current_user, actor=actor())
    except review_service.ReviewError as exc:
        db.session.rollback()
        field_error(form, "reason", exc.msgid, exc.params)
        return _detail(db.session.get(Response, response_id), form, 422)
    db.session.commit()
    flash(_("Đã ghi quyết định vào nhật ký."), "success")
    return redirect(url_for("manage.response_detail", response_id=response.id))


@bp.get("/audit")
@role_required("admin")
def audit():
    """The audit log, newest first, filtered by action, object, actor and local dates."""
    wanted = audit_search.AuditFilter(
        action=request.args.get("action", "").strip()[:64],
        object_type=request.args.get("object_type", "").strip()[:64],
        object_id=request.args.get("object_id", "").strip()[:64],
        actor=request.args.get("actor", "").strip()[:64],
        since=_date(request.args.get("since")), until=_date(request.args.get("until")))
    result = audit_search.search(current_user, wanted, _page())
    return render_template("manage/audit.html", result=result, wanted=wanted,
                           actions=audit_search.known_actions(current_user))


def _date(value: str | None) -> date | None:
    """An ISO date from a query parameter, or None."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
