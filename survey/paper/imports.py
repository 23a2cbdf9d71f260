"""``/staff/paper/import``: a whole CSV/XLSX file of typed forms, validated first, all or nothing."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, SelectField

from ..auth import role_required
from ..extensions import db
from ..models import Campaign
from ..services.imports import ImportRejected
from ..services.paper_import import BASE_COLUMNS, import_paper
from ..services.scope import campaign_in_scope, get_in_scope
from .views import MANAGERS, _actor, bp

WEB_MAX_ROWS = 2000  # ~10 s of storing in one request; larger files with `sipas paper import`


class PaperImportForm(FlaskForm):
    """The campaign, the file, and whether serials SIPAS did not print are accepted."""

    campaign_id = SelectField(_l("Đợt khảo sát"), coerce=int)
    file = FileField(_l("Tệp CSV hoặc XLSX"), validators=[FileRequired(_l("Vui lòng chọn một tệp."))])
    new_serials = BooleanField(_l("Chấp nhận số phiếu không do SIPAS in (phiếu giấy khác)"))


def _form() -> PaperImportForm:
    """The form with the campaigns of the user's subtree."""
    form = PaperImportForm()
    campaigns = db.session.scalars(select(Campaign).where(campaign_in_scope(current_user))
                                   .order_by(Campaign.starts_on.desc())).all()
    form.campaign_id.choices = [(c.id, f"{c.name} ({c.code})") for c in campaigns]
    return form


def _page(form: PaperImportForm, errors=None, status: int = 200):
    """The import page (with the errors of a refused file)."""
    return render_template("paper/import.html", form=form, errors=errors, columns=BASE_COLUMNS), status


@bp.get("/import")
@role_required(*MANAGERS)
def import_page():
    """The upload form and the file format."""
    return _page(_form())


@bp.post("/import")
@role_required(*MANAGERS)
def import_file():
    """Validate the whole file, then store every row as a paper response, or nothing."""
    form = _form()
    if not form.validate_on_submit():
        return _page(form, status=422)
    campaign = get_in_scope(Campaign, form.campaign_id.data, current_user)
    upload = form.file.data
    try:
        summary = import_paper(upload.read(), upload.filename or "", campaign=campaign, user=current_user,
                               actor=_actor(), allow_new_serials=form.new_serials.data,
                               max_rows=WEB_MAX_ROWS)
    except ImportRejected as exc:
        db.session.rollback()
        return _page(form, exc.errors, 422)
    db.session.commit()
    flash(_("Đã nhập %(rows)s phiếu giấy (%(printed)s phiếu do SIPAS in, %(new)s số phiếu mới).",
            rows=summary.rows, printed=summary.printed, new=summary.new_serials), "success")
    return redirect(url_for("paper.index"), 303)

