"""Paper pages: batches and printing, the keyboard entry screen, resolving double entries, imports."""

from __future__ import annotations

import io

from flask import Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from ..auth import role_required
from ..extensions import db
from ..models import Counter, PaperForm, Unit
from ..services.imports import MAX_BYTES, display
from ..services.minting import current_campaign
from ..services.paper import Actor, PaperError, find_form, normalise_serial, print_batch
from ..services.paper_codes import CodeError, code_label, questions
from ..services.paper_entry import (
    TypedErrors,
    differing,
    enter_form,
    questionnaire_for,
    refuse_if_done,
    resolve_form,
)
from ..services.paper_lists import batches, conflicts, counters_of, units_of
from ..services.scope import get_in_scope

bp = Blueprint("paper", __name__, url_prefix="/staff/paper")
STAFF_ROLES = ("admin", "unit_manager", "counter_staff")
MANAGERS = ("admin", "unit_manager")
WEB_MAX_FORMS = 200  # one PDF per request (~25 ms of CPU per form); larger batches with `sipas paper`


@bp.url_value_preprocessor
def allow_uploads(endpoint: str | None, values: dict | None) -> None:
    """The import takes files larger than the public form's body limit (before anything reads it)."""
    if endpoint == "paper.import_file":
        request.max_content_length = MAX_BYTES + 64 * 1024


def _actor() -> Actor:
    """The logged-in user."""
    return Actor(current_user.username, current_user.id)


def _message(error) -> str:
    """A service message in the page language."""
    if isinstance(error, CodeError):
        return display(error.msgid, **error.params)
    if isinstance(error, PaperError):
        return error.translated(_)
    return display(str(error))


@bp.get("/")
@role_required(*STAFF_ROLES)
def index():
    """Batches of the subtree, the print form, forms waiting for a resolution."""
    return render_template("paper/index.html", batches=batches(current_user),
                           conflicts=conflicts(current_user), units=units_of(current_user),
                           counters=counters_of(current_user), max_forms=WEB_MAX_FORMS)


@bp.post("/print")
@role_required(*STAFF_ROLES)
def print_forms():
    """Create a batch of forms for a unit (optionally a counter) and download it as PDF."""
    unit = get_in_scope(Unit, request.form.get("unit_id"), current_user)
    counter = None
    if request.form.get("counter_id"):
        counter = get_in_scope(Counter, request.form.get("counter_id"), current_user)
    count = request.form.get("count", type=int)
    if count is None or not 1 <= count <= WEB_MAX_FORMS:
        flash(_("Số phiếu phải từ 1 đến %(n)s.", n=WEB_MAX_FORMS), "error")
        return redirect(url_for("paper.index"), 303)
    campaign = current_campaign(unit)
    if campaign is None:
        flash(_("Đơn vị không có đợt khảo sát nào đang diễn ra."), "error")
        return redirect(url_for("paper.index"), 303)
    try:
        batch, pdf = print_batch(campaign=campaign, unit=unit, counter=counter, count=count,
                                 double_entry=bool(request.form.get("double_entry")), actor=_actor(),
                                 base_url=current_app.config["PUBLIC_BASE_URL"])
    except PaperError as exc:
        db.session.rollback()
        flash(exc.translated(_), "error")
        return redirect(url_for("paper.index"), 303)
    db.session.commit()
    resp = send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True,
                     download_name=f"phieu-giay-{unit.code}-{batch.id}.pdf")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/entry")
@role_required(*STAFF_ROLES)
def entry():
    """The entry screen: a serial box; with ``?serial=`` the form's questions to type."""
    serial = request.args.get("serial", "")
    if not serial.strip():
        return render_template("paper/entry.html", form=None, serial="")
    form = None
    try:
        form = find_form(serial, current_user)
        refuse_if_done(form, _actor())
    except PaperError as exc:
        return render_template("paper/entry.html", form=None, serial=normalise_serial(serial),
                               serial_error=exc.translated(_), found=form), 404
    return _entry_page(form)


def _entry_page(form: PaperForm, values: dict | None = None, errors: dict | None = None,
                status: int = 200):
    """The questions of ``form`` with typed values and messages beside them."""
    q = questionnaire_for(form)
    round_ = 2 if form.status == "first_entry" else 1
    return render_template("paper/entry.html", form=form, serial=form.serial, questions=questions(q),
                           values=values or {}, errors={k: _message(e) for k, e in (errors or {}).items()},
                           round=round_ if form.batch.double_entry else None), status


@bp.post("/entry")
@role_required(*STAFF_ROLES)
def enter():
    """Store one typing of a form; the same serial twice is refused and changes nothing."""
    try:
        form = find_form(request.form.get("serial", ""), current_user)
    except PaperError as exc:
        return render_template("paper/entry.html", form=None, serial="",
                               serial_error=exc.translated(_)), 404
    typed = {k[2:]: v for k, v in request.form.items() if k.startswith("q-")}
    try:
        outcome = enter_form(form, typed, actor=_actor())
        db.session.commit()
    except TypedErrors as exc:
        db.session.rollback()
        return _entry_page(form, typed, exc.errors, 422)
    except (PaperError, IntegrityError) as exc:
        db.session.rollback()
        message = exc.translated(_) if isinstance(exc, PaperError) else _(
            "Phiếu số %(serial)s vừa được người khác nhập; không có gì thay đổi.", serial=form.serial)
        return render_template("paper/entry.html", form=None, serial="", serial_error=message), 409
    flash(_outcome_message(outcome), "success" if outcome.kind != "conflict" else "error")
    return redirect(url_for("paper.entry"), 303)


def _outcome_message(outcome) -> str:
    """The confirmation shown after Enter."""
    serial = outcome.form.serial
    if outcome.kind in ("stored", "matched"):
        extra = " " + _("Hai lần nhập khớp nhau.") if outcome.kind == "matched" else ""
        return _("Đã lưu phiếu số %(serial)s (biên nhận %(receipt)s).", serial=serial,
                 receipt=outcome.response.receipt) + extra
    if outcome.kind == "held":
        return _("Đã lưu lần nhập thứ nhất của phiếu số %(serial)s; phiếu chờ một cán bộ khác nhập lần "
                 "hai.", serial=serial)
    return _("Hai lần nhập phiếu số %(serial)s khác nhau ở %(n)s câu; cần đối chiếu với phiếu giấy.",
             serial=serial, n=len(outcome.differences))


@bp.get("/forms/<int:form_id>")
@role_required(*STAFF_ROLES)
def form_detail(form_id: int):
    """One form: status, typings, and the resolution of differing answers."""
    return _form_page(get_in_scope(PaperForm, form_id, current_user))


def _form_page(form: PaperForm, errors: dict | None = None, status: int = 200):
    """The form page (with the messages of a refused resolution)."""
    q = questionnaire_for(form)
    numbered = {p.code: p for p in questions(q)}
    diffs = differing(*[e.codes for e in form.entries]) if len(form.entries) == 2 else []
    rows = [(numbered[k], [code_label(q, k, e.codes.get(k)) for e in form.entries]) for k in diffs
            if k in numbered]
    return render_template("paper/form.html", form=form, rows=rows,
                           errors={k: _message(e) for k, e in (errors or {}).items()}), status


@bp.post("/forms/<int:form_id>/resolve")
@role_required(*STAFF_ROLES)
def resolve(form_id: int):
    """Store a conflicting form with the value chosen for each differing question."""
    form = get_in_scope(PaperForm, form_id, current_user)
    chosen, sources = {}, {}
    if len(form.entries) == 2:
        first, second = form.entries
        for code in differing(first.codes, second.codes):
            pick = request.form.get(f"pick-{code}")
            if pick in ("first", "second"):
                chosen[code] = (first if pick == "first" else second).codes.get(code, "")
            elif pick == "other":
                chosen[code] = request.form.get(f"other-{code}", "")
            else:
                continue
            sources[code] = pick
    try:
        resolve_form(form, chosen, sources, actor=_actor())
        db.session.commit()
    except TypedErrors as exc:
        db.session.rollback()
        return _form_page(form, exc.errors, 422)
    except (PaperError, IntegrityError) as exc:
        db.session.rollback()
        flash(exc.translated(_) if isinstance(exc, PaperError) else _("Không có gì thay đổi."), "error")
        return redirect(url_for("paper.form_detail", form_id=form.id), 303)
    flash(_("Đã lưu phiếu số %(serial)s sau khi đối chiếu.", serial=form.serial), "success")
    return redirect(url_for("paper.index"), 303)
