"""Campaign pages: list, create, edit, sample targets."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import role_required
from ..extensions import db
from ..models import Campaign
from ..services import campaigns as campaign_service
from ..services import units as unit_service
from .blueprint import MANAGERS, actor, bp, commit, field_error
from .forms import CampaignForm, TargetForm, TargetsForm


@bp.get("/campaigns")
@role_required(*MANAGERS)
def campaigns():
    """Campaigns covering units of the user's subtree."""
    rows = campaign_service.visible_campaigns(current_user)
    editable = {c.id for c in rows if campaign_service.can_edit(c, current_user)}
    return render_template("manage/campaigns.html", campaigns=rows, editable=editable,
                           weightings=campaign_service.WEIGHTING_LABELS)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@role_required("admin")
def new_campaign():
    """Create a campaign."""
    return _campaign_form(None)


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@role_required("admin")
def edit_campaign(campaign_id: int):
    """Edit a campaign whose units are all in the admin's subtree."""
    campaign = campaign_service.get_campaign(campaign_id, current_user)
    if not campaign_service.can_edit(campaign, current_user):
        abort(403)
    return _campaign_form(campaign)


def _campaign_form(campaign: Campaign | None):
    """Create or edit a campaign; errors beside the fields, nothing written on error."""
    form = CampaignForm(obj=campaign)
    form.questionnaire_version_id.choices = [
        (v.id, f"{v.questionnaire_id} v{v.version}") for v in campaign_service.questionnaire_versions()]
    form.weighting.choices = [(k, str(v)) for k, v in campaign_service.WEIGHTING_LABELS.items()]
    form.unit_ids.choices = [(u.id, f"{'— ' * d}{u.name} ({u.code})")
                             for u, d in unit_service.unit_tree(current_user)]
    if request.method == "GET" and campaign is not None:
        form.margin_percent.data = round(campaign.margin_of_error * 100, 3)
        form.unit_ids.data = [cu.unit_id for cu in campaign.units]
    if form.validate_on_submit():
        data = campaign_service.CampaignInput(
            code=form.code.data, name=form.name.data,
            questionnaire_version_id=form.questionnaire_version_id.data,
            starts_on=form.starts_on.data, ends_on=form.ends_on.data, weighting=form.weighting.data,
            margin_of_error=form.margin_percent.data / 100, unit_ids=list(form.unit_ids.data or []))
        try:
            saved = campaign_service.save_campaign(campaign, data, user=current_user, actor=actor())
        except unit_service.UnitError as exc:
            db.session.rollback()
            field_error(form, "margin_percent" if exc.field == "margin_of_error" else exc.field,
                        exc.msgid, exc.params)
        else:
            name, saved_id = saved.name, saved.id
            if commit():
                flash(_("Đã lưu đợt khảo sát «%(name)s».", name=name), "success")
                return redirect(url_for("manage.targets", campaign_id=saved_id))
    status = 422 if request.method == "POST" else 200
    return render_template("manage/campaign_form.html", form=form, campaign=campaign), status


@bp.route("/campaigns/<int:campaign_id>/targets", methods=["GET", "POST"])
@role_required(*MANAGERS)
def targets(campaign_id: int):
    """Targets per unit; admins recompute them from a range of months' transactions."""
    campaign = campaign_service.get_campaign(campaign_id, current_user)
    editable = campaign_service.can_edit(campaign, current_user)
    form = TargetsForm()
    if request.method == "GET":
        form.first_month.data, form.last_month.data = campaign.starts_on, campaign.ends_on
    first, last = form.first_month.data or campaign.starts_on, form.last_month.data or campaign.ends_on
    if request.method == "POST":
        if not editable:
            abort(403)
        if form.validate_on_submit():
            try:
                campaign_service.compute_targets(campaign, user=current_user, actor=actor(),
                                                 first=first, last=last)
            except unit_service.UnitError as exc:
                db.session.rollback()
                field_error(form, "last_month", exc.msgid, exc.params)
            else:
                db.session.commit()
                flash(_("Đã tính lại chỉ tiêu mẫu."), "success")
                return redirect(url_for("manage.targets", campaign_id=campaign.id))
        first, last = campaign.starts_on, campaign.ends_on
    rows = campaign_service.target_rows(campaign, current_user, first, last)
    status = 422 if request.method == "POST" else 200
    return render_template("manage/targets.html", campaign=campaign, rows=rows, form=form,
                           editable=editable, first=first, last=last, one=TargetForm()), status


@bp.post("/campaigns/<int:campaign_id>/targets/<int:unit_id>")
@role_required("admin")
def set_target(campaign_id: int, unit_id: int):
    """Set one unit's target by hand (recorded in the audit log)."""
    campaign = campaign_service.get_campaign(campaign_id, current_user)
    if not campaign_service.can_edit(campaign, current_user):
        abort(403)
    form = TargetForm()
    if not form.validate_on_submit():
        flash(_("Chỉ tiêu phải là số nguyên không âm."), "error")
        return redirect(url_for("manage.targets", campaign_id=campaign.id))
    campaign_service.set_target(campaign, unit_id, form.target_n.data, user=current_user, actor=actor())
    if commit():
        flash(_("Đã lưu chỉ tiêu."), "success")
    return redirect(url_for("manage.targets", campaign_id=campaign.id))
