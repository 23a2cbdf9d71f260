"""The citizen's form: GET renders it, POST stores the answers once and shows the receipt."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, make_response, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

from ..extensions import db
from ..models import QuestionnaireVersion
from ..models.base import utcnow
from ..questionnaires import NOT_APPLICABLE_LABEL
from ..services import direct
from ..services.answers import clean_answers
from ..services.entry_points import EntryPointUnavailable, check_open, load_entry_point
from ..services.questionnaires import questionnaire_of
from ..services.responses import answers_of, find_response, submit_response
from ..services.scans import record_scan
from . import device, limits, tokens
from .conditions import condition_css

bp = Blueprint("public", __name__)


@bp.get("/s/<code>")
def form(code: str):
    """Render the questionnaire for a scanned code."""
    now = utcnow()
    # A GET is a scan (HEAD requests, link previews, are not counted): on PostgreSQL the code's
    # read counts it, when the code is open, in the same statement.
    entry = _entry_or_error(code, scan_at=now if request.method == "GET" else None)
    check = _open_or_error(entry, now)
    if check is not None:
        return check
    page = _render_form(entry, answers={}, errors={}, status=200)
    if request.method == "GET" and entry.scanned is None:
        record_scan(entry.id, now)
        db.session.commit()
    return page


@bp.post("/s/<code>")
def submit(code: str):
    """Store the answers once per submission UUID; on any problem, return the page filled in.

    Rate limits per device, code and address come first (``public/limits.py``).
    """
    if limits.exceeded():
        return _limited()
    entry = _entry_or_error(code)
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        abort(403)
    payload, expired = tokens.read(request.form.get("token", ""), entry.code)
    closed = _open_or_error(entry)
    if payload is not None and (closed is not None or expired):
        # A retry or double tap that can no longer be inserted (its single-use code is used
        # now, or its token ran out): same receipt, nothing new. A retry through an open code
        # is answered the same way by submit_response, when the unique UUID refuses the INSERT.
        stored = find_response(payload["u"])
        if stored is not None:
            return _receipt(entry, stored)
    if closed is not None:
        return closed
    version = entry.campaign.questionnaire_version
    q = questionnaire_of(version)
    answers, errors = clean_answers(q, request.form.to_dict(flat=False))
    if payload is None or expired:
        notice = _("Phiên trả lời đã hết hạn hoặc không hợp lệ. Câu trả lời của Ông/Bà vẫn còn "
                   "trên trang; vui lòng kiểm tra và bấm Gửi lại.")
        return _render_form(entry, answers, errors, status=400, notice=notice,
                            raw=request.form)
    if errors:
        return _render_form(entry, answers, errors, status=422, raw=request.form,
                            submission=payload["u"], token=request.form["token"])
    try:
        response, created = submit_response(
            entry=entry, version=version, questionnaire=q, answers=answers,
            submission_uuid=payload["u"], channel="qr", language=str(get_locale()),
            form_seconds=max(0, int(time.time()) - int(payload.get("t", 0))),
            signals=device.signals(), secret=current_app.config["SECRET_KEY"],
            thresholds=device.thresholds(),  # flags go into the INSERT; they never block
            alone=True,
        )
    except EntryPointUnavailable as exc:
        db.session.rollback()
        return _unavailable(exc)
    # Rendered before the commit, which would expire and reload what it shows.
    page = _receipt(entry, response, len(answers) if created else None)
    if direct.in_transaction():  # PostgreSQL: the response committed on its own
        db.session.commit()
    return page


def _limited():
    """A rate-limited send: the page comes back filled in (429), nothing stored."""
    try:
        entry = load_entry_point(str((request.view_args or {}).get("code", "")))
    except EntryPointUnavailable:
        abort(429)  # the plain 429 page
    q = questionnaire_of(entry.campaign.questionnaire_version)
    answers, _errors = clean_answers(q, request.form.to_dict(flat=False))
    notice = _("Có quá nhiều phiếu gửi cùng lúc. Câu trả lời của Ông/Bà vẫn còn trên trang; "
               "vui lòng đợi một phút rồi bấm Gửi lại.")
    payload, _expired = tokens.read(request.form.get("token", ""), entry.code)
    token = request.form.get("token") if payload else None
    return _render_form(entry, answers, {}, status=429, notice=notice, raw=request.form,
                        submission=payload["u"] if payload else None, token=token)


@bp.get("/q/<int:version_id>/when.css")
def conditions_css(version_id: int):
    """CSS that hides conditional blocks until their condition holds (no JavaScript needed)."""
    version = db.get_or_404(QuestionnaireVersion, version_id)
    css = condition_css(questionnaire_of(version))
    resp = Response(css, mimetype="text/css")
    resp.cache_control.public = True
    resp.cache_control.max_age = 86400
    return resp


def _entry_or_error(code: str, scan_at=None):
    """The entry point (with a scan counted at ``scan_at``, see ``load_entry_point``), or the 404 page."""
    try:
        return load_entry_point(code, scan_at)
    except EntryPointUnavailable as exc:
        abort(_unavailable(exc))


def _open_or_error(entry, now=None):
    """None when the code takes answers now, else the 410 page."""
    try:
        check_open(entry, now)
    except EntryPointUnavailable as exc:
        return _unavailable(exc)
    return None


def _unavailable(exc: EntryPointUnavailable):
    """A clear Vietnamese page for unknown, revoked, used or closed codes."""
    return make_response(render_template("public/unavailable.html", reason=exc.reason),
                         exc.status)


def _render_form(entry, answers, errors, status, notice=None, raw=None, submission=None,
                 token=None):
    """The form page; a rejected POST comes back with the citizen's answers filled in."""
    version = entry.campaign.questionnaire_version
    q = questionnaire_of(version)
    if token is None:
        submission, token = tokens.issue(entry.code)
    if raw is not None:  # keep even answers that failed validation, so nothing is retyped
        answers = {**raw.to_dict(flat=False), **_as_lists(answers)}
    else:
        answers = _as_lists(answers)
    if "field" not in answers:
        answers.update(fresh_answers(entry, q))  # the QR says which field; the citizen may change it
    lang = str(get_locale())
    if raw is None and not errors and notice is None and not set(answers) - {"field"}:
        html = _fresh_page(entry, q, version, lang, answers, token, submission)
    else:
        html = _page(entry, q, version, lang, answers, errors, notice, token, submission,
                     _fresh_questions(q, version, lang, answers) if not errors else None,
                     returned=raw is not None)
    resp = make_response(html, status)
    if request.cookies.get("lang") != lang:  # the browser keeps its choice; nothing to re-send
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax", httponly=True)
    resp.headers["Cache-Control"] = "no-store"
    device.ensure_device_cookie(resp)
    return resp


def _page(entry, q, version, lang, answers, errors, notice, token, submission, questions_html,
          returned=False) -> str:
    """The whole form page from its template."""
    return render_template(
        "public/form.html", entry=entry, q=q, version=version, answers=answers, errors=errors,
        notice=notice, token=token, submission=submission, lang=lang,
        questions_html=questions_html, na_label=NOT_APPLICABLE_LABEL, returned=returned,
        other_lang_url=url_for("public.form", code=entry.code, lang="en" if lang == "vi" else "vi"),
    )


# Cached pages: rendered once with stand-ins where a request's own values go, "\ue000name\ue000"
# (private-use characters: no code, name, token or number contains them; in a URL they appear
# quoted), then split into literal parts and named places filled in per request.
_SLOT = re.compile("\ue000([a-z_]+)\ue000|%EE%80%80([a-z_]+)%EE%80%80")
_PAGES: dict[tuple, list] = {}
_PAGES_MAX = 256


def _slot(name: str) -> str:
    """The stand-in for the value ``name``."""
    return f"\ue000{name}\ue000"


def _cached(key: tuple, render) -> list:
    """The page ``render()`` makes with stand-ins, split once per ``key`` and process (every
    time while templates reload, as in debug mode)."""
    parts = _PAGES.get(key)
    if parts is None or current_app.jinja_env.auto_reload:
        html = render()
        parts, at = [], 0
        for found in _SLOT.finditer(html):
            parts += [html[at:found.start()], (found.group(1) or found.group(2),)]
            at = found.end()
        parts.append(html[at:])
        if len(_PAGES) >= _PAGES_MAX:
            _PAGES.clear()
        _PAGES[key] = parts
    return parts


def _fill(parts: list, values: dict[str, str]) -> str:
    """A cached page with this request's values (already HTML-escaped) in their places."""
    return "".join(values[part[0]] if isinstance(part, tuple) else part for part in parts)


class _Named:
    """A stand-in unit or counter: only its name is shown."""

    def __init__(self, name: str):
        self.name = name


class _StandIn:
    """A stand-in entry point for a cached page: what the public templates read of an entry."""

    def __init__(self, entry):
        self.code = _slot("code")
        self.unit = _Named(_slot("unit"))
        self.counter = _Named(_slot("counter")) if entry.counter is not None else None


def _fresh_page(entry, q, version, lang: str, answers: dict, token: str, submission: str) -> str:
    """A fresh form page: rendered once per (version, language, preselected field, with or
    without a counter, URL prefix) and process with stand-ins, then each request's code, names,
    token and submission UUID are put in their places (HTML-escaped, as the template would).
    Byte for byte the page :func:`_page` renders (tests/web/test_form_hot_path.py)."""
    parts = _cached(fresh_page_key(entry, q, version, lang, answers, request.script_root),
                    lambda: _page(_StandIn(entry), q, version, lang, answers, {}, None,
                                  _slot("token"), _slot("submission"),
                                  _fresh_questions(q, version, lang, answers)))
    return _fill(parts, fresh_page_values(entry, token, submission))


def fresh_page_key(entry, q, version, lang: str, answers: dict, script_root: str) -> tuple:
    """The cache key of a fresh form page (also read by the fast lane, public/fastlane.py)."""
    return ("form", version.id, q.content_hash, lang, tuple(answers.get("field", ())),
            entry.counter is not None, script_root)


def fresh_page_values(entry, token: str, submission: str) -> dict[str, str]:
    """A fresh form page's own values, HTML-escaped, for its cached parts."""
    return {"code": entry.code, "unit": str(escape(entry.unit.name)),
            "counter": str(escape(entry.counter.name)) if entry.counter is not None else "",
            "token": str(escape(token)), "submission": str(escape(submission))}


def fresh_answers(entry, q) -> dict[str, list[str]]:
    """What a fresh form shows filled in: the field the QR code names, if the form asks it."""
    return {"field": [entry.field.code]} if entry.field and "field" in q.items else {}


_QUESTIONS: dict[tuple, Markup] = {}
_QUESTIONS_MAX = 256


def _fresh_questions(q, version, lang: str, answers: dict) -> Markup | None:
    """The questions of a form nobody has filled in yet, rendered once per (version, language,
    preselected field) and process: the questionnaire version is immutable, so this is the same
    HTML every time. A form coming back with answers or errors is rendered in full (None)."""
    if set(answers) - {"field"}:
        return None
    key = (version.id, q.content_hash, lang, tuple(answers.get("field", ())))
    html = _QUESTIONS.get(key)
    if html is None:
        html = Markup(render_template("public/_questions.html", q=q, answers=answers, errors={},
                                      lang=lang, na_label=NOT_APPLICABLE_LABEL))
        if len(_QUESTIONS) >= _QUESTIONS_MAX:
            _QUESTIONS.clear()
        _QUESTIONS[key] = html
    return html


def _as_lists(answers: dict) -> dict[str, list[str]]:
    """Stored values as the form's string lists (for re-checking radios and boxes)."""
    return {k: [str(x) for x in v] if isinstance(v, list) else [str(v)]
            for k, v in answers.items()}


def _receipt(entry, response, answered: int | None = None):
    """The thank-you page with the receipt number (``answered``: known when just stored).

    Rendered once per (version, language, URL prefix) and process with stand-ins, like a fresh
    form page; byte for byte what :func:`_receipt_page` renders.
    """
    version = entry.campaign.questionnaire_version
    q = questionnaire_of(version)
    answered = len(answers_of(response)) if answered is None else answered
    lang = str(get_locale())
    parts = _cached(receipt_key(version, q, lang, request.script_root), lambda: _receipt_page(
        _StandIn(entry), q, _slot("submission"), _slot("receipt"), _slot("answered"), _slot("time"), lang))
    resp = make_response(_fill(parts, receipt_values(entry, response, answered)))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def receipt_key(version, q, lang: str, script_root: str) -> tuple:
    """The cache key of a thank-you page (also read by the fast lane)."""
    return ("receipt", version.id, q.content_hash, lang, script_root)


def receipt_values(entry, response, answered: int) -> dict[str, str]:
    """A thank-you page's own values, HTML-escaped, for its cached parts."""
    return {"submission": str(escape(response.submission_uuid)),
            "receipt": str(escape(_receipt_number(response.receipt))), "answered": str(int(answered)),
            "unit": str(escape(entry.unit.name)),
            "time": str(escape(current_app.jinja_env.filters["local_time"](response.submitted_at)))}


def _receipt_number(receipt: str) -> str:
    """A receipt as the citizen reads it: XXXX-XXXX."""
    return f"{receipt[:4]}-{receipt[4:]}"


def _receipt_page(entry, q, submission: str, receipt_number: str, answered, submitted: str,
                  lang: str) -> str:
    """The thank-you page from its template."""
    return render_template("public/receipt.html", entry=entry, q=q, submission=submission,
                           receipt_number=receipt_number, answered=answered, submitted=submitted,
                           lang=lang)
