"""Export pages: choose a format, follow the job's progress, download the file.

Views stay thin: parse, one service call, commit, render.  Every page is scoped with
``get_in_scope`` (a campaign or job outside the user's subtree is a 404); a unit manager's
exports hold their subtree only (the job stores the requester's unit).
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..auth import role_required
from ..extensions import db
from ..models import Campaign, ExportJob, User
from ..services.audit import record
from ..services.exports import FORMATS, ExportError, ExportOptions, default_options
from ..services.exports.jobs import (
    create_job,
    download_name,
    is_stale,
    job_path,
    job_state,
    start_in_background,
)
from ..services.scope import Narrowed, campaign_in_scope, get_in_scope, scope_filter

bp = Blueprint("exports", __name__, url_prefix="/admin")
MANAGERS = ("admin", "unit_manager")
DIRECT_MAX_ROWS = 20_000  # the raw CSV streams straight to the browser up to this many rows


@bp.get("/campaigns/<int:campaign_id>/exports")
@role_required(*MANAGERS)
def campaign_exports(campaign_id: int):
    """The export page of a campaign: formats, options and the user's recent jobs."""
    campaign = get_in_scope(Campaign, campaign_id, current_user)
    jobs = db.session.scalars(
        select(ExportJob).where(ExportJob.campaign_id == campaign.id,
                                scope_filter(ExportJob, current_user))
        .order_by(ExportJob.id.desc()).limit(20)).all()
    for job in jobs:
        _revive(job)
    earlier = db.session.execute(
        select(Campaign.id, Campaign.name).where(campaign_in_scope(current_user),
                                                 Campaign.id != campaign.id,
                                                 Campaign.starts_on < campaign.starts_on)
        .order_by(Campaign.starts_on.desc())).all()
    users = dict(db.session.execute(select(User.id, User.username).where(
        User.id.in_([j.user_id for j in jobs if j.user_id]))).all())
    results_url = (url_for("results.campaign", campaign_id=campaign.id)
                   if "results.campaign" in current_app.view_functions else None)
    return render_template("exports/campaign.html", campaign=campaign, jobs=jobs, users=users,
                           earlier=earlier, defaults=default_options(campaign),
                           direct_max=_direct_max(), results_url=results_url)


@bp.post("/campaigns/<int:campaign_id>/exports")
@role_required(*MANAGERS)
def create(campaign_id: int):
    """Queue an export job and start it; back to the page, which follows its progress."""
    campaign = get_in_scope(Campaign, campaign_id, current_user)
    try:
        options = _options(campaign)
        job = create_job(campaign, request.form.get("format", ""), options, current_user)
    except ExportError as exc:
        db.session.rollback()
        flash(_("Không tạo được tệp: %(reason)s", reason=str(exc)), "error")
        return redirect(url_for(".campaign_exports", campaign_id=campaign.id), 303)
    db.session.commit()
    start_in_background(current_app._get_current_object(), job.id)
    flash(_("Đang tạo tệp; trang này cho biết tiến độ và đưa đường tải khi xong."), "info")
    return redirect(url_for(".campaign_exports", campaign_id=campaign.id, _anchor=f"job-{job.id}"),
                    303)


@bp.get("/exports/<int:job_id>")
@role_required(*MANAGERS)
def job_status(job_id: int):
    """JSON progress of a job (polled by ``exports.js``)."""
    job = get_in_scope(ExportJob, job_id, current_user)
    _revive(job)
    state = job_state(job)
    if job.status == "done":
        state["download"] = url_for(".download", job_id=job.id)
    return jsonify(state)


@bp.get("/exports/<int:job_id>/download")
@role_required(*MANAGERS)
def download(job_id: int):
    """The finished file; a job not finished yet sends the user back to the page."""
    job = get_in_scope(ExportJob, job_id, current_user)
    path = job_path(job)
    if job.status != "done" or path is None or not path.is_file():
        flash(_("Tệp chưa sẵn sàng."), "info")
        return redirect(url_for(".campaign_exports", campaign_id=job.campaign_id), 303)
    campaign = db.session.get(Campaign, job.campaign_id)
    return send_file(path, mimetype=FORMATS[job.format][1], as_attachment=True,
                     download_name=download_name(job, campaign), max_age=0)


@bp.get("/campaigns/<int:campaign_id>/exports/raw.csv")
@role_required(*MANAGERS)
def raw_csv(campaign_id: int):
    """A small campaign's raw CSV streamed at once (larger ones go through a job)."""
    from ..services.exports.raw import raw_export
    from ..services.exports.raw_csv import csv_chunks
    campaign = get_in_scope(Campaign, campaign_id, current_user)
    viewer = Narrowed(unit_id=current_user.unit_id, role=current_user.role)
    export = raw_export(campaign, viewer=viewer,
                        include_flagged=request.args.get("include_flagged", "1") != "0")
    if export.count() > _direct_max():
        flash(_("Đợt khảo sát có nhiều phiếu: hãy dùng nút “Tạo tệp” để tạo tệp CSV."), "info")
        return redirect(url_for(".campaign_exports", campaign_id=campaign.id), 303)
    record("export.download", current_user.username, user_id=current_user.id,
           object_type="campaign", object_id=campaign.id, format="csv", direct=True)
    db.session.commit()
    name = f"{campaign.code}-du-lieu-tho.csv"
    return Response(stream_with_context(csv_chunks(export)), mimetype=FORMATS["csv"][1],
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


def _options(campaign: Campaign) -> ExportOptions:
    """Report options from the form (defaults: the campaign's weighting, no comparison)."""
    form = request.form
    defaults = default_options(campaign)
    compare = form.get("compare_to", "").strip()
    other = None
    if compare:
        if not compare.isdigit():
            raise ExportError(_("kỳ so sánh không hợp lệ"))
        other = get_in_scope(Campaign, int(compare), current_user).id
    return ExportOptions(weighting=form.get("weighting") or defaults.weighting, compare_to=other,
                         include_flagged=form.get("include_flagged", "1") != "0",
                         papi_compatible=form.get("papi") == "1")


def _revive(job: ExportJob) -> None:
    """Start a job again whose worker stopped (a restarted server); claiming prevents doubles."""
    if is_stale(job):
        start_in_background(current_app._get_current_object(), job.id)


def _direct_max() -> int:
    """Largest raw CSV streamed directly."""
    return int(current_app.config.get("EXPORT_DIRECT_MAX_ROWS", DIRECT_MAX_ROWS))
