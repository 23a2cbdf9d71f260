"""``/k/<code>``: the kiosk page, its token refresh and the JSON endpoint of the rating queue."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _

from ..extensions import db, limiter
from ..public import device
from ..questionnaires import NOT_APPLICABLE_LABEL
from ..services.entry_points import EntryPointUnavailable, check_open
from ..services.kiosk import KioskInputError, load_kiosk, one_tap_item, parse_batch, store_batch, touch
from ..services.questionnaires import questionnaire_of
from . import tokens

bp = Blueprint("kiosk", __name__)


def _language() -> str:
    """Vietnamese unless the page asks for English (``?lang=en``); a cookie is never followed:
    the next person at the kiosk starts in Vietnamese."""
    return "en" if request.args.get("lang") == "en" else "vi"


def _kiosk_limit() -> str:
    """Requests per kiosk code (``KIOSK_RATELIMIT``): a whole queue goes in a few requests."""
    return current_app.config["KIOSK_RATELIMIT"]


@bp.get("/k/sw.js")
def service_worker():
    """The kiosk's service worker (``static/kiosk-sw.js``), served under /k/ so that its scope
    covers the kiosk pages: a tablet reloading offline still gets its screen."""
    resp = send_from_directory(current_app.static_folder, "kiosk-sw.js", mimetype="text/javascript",
                               max_age=0)
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/k/<code>")
def page(code: str):
    """The kiosk screen: one-tap buttons, or the full questionnaire of the code's campaign."""
    lang = _language()
    with force_locale(lang):
        entry, kiosk = _kiosk_or_error(code, lang)
        try:
            check_open(entry)
        except EntryPointUnavailable as exc:
            return _unavailable(exc, lang)
        version = entry.campaign.questionnaire_version
        q = questionnaire_of(version)
        item = one_tap_item(q)
        template = "kiosk/tap.html" if item is not None else "kiosk/form.html"
        html = render_template(
            template, entry=entry, q=q, item=item, version=version, lang=lang,
            labels=q.labels_for(item) if item is not None else None,
            answers={"field": [entry.field.code]} if entry.field and "field" in q.items else {},
            errors={}, na_label=NOT_APPLICABLE_LABEL, token=tokens.issue(entry.code),
            config=current_app.config,
            other_lang_url=url_for("kiosk.page", code=entry.code, lang="en" if lang == "vi" else "vi"))
    touch(kiosk.id)
    db.session.commit()
    return _no_store(make_response(html))


@bp.get("/k/<code>/token")
def token(code: str):
    """A fresh kiosk token (the page asks every 30 minutes while online)."""
    entry, kiosk = _kiosk_or_error(code, "vi", as_json=True)
    touch(kiosk.id)
    db.session.commit()
    return _no_store(jsonify(token=tokens.issue(entry.code),
                             interval=int(current_app.config["KIOSK_MIN_INTERVAL"])))


@bp.post("/k/<code>/ratings")
@limiter.limit(_kiosk_limit, key_func=device.entry_key)
def ratings(code: str):
    """Store a batch of queued ratings; one outcome per rating, in order (JSON).

    200 with ``results`` when the batch could be read (each rating ``stored``, ``duplicate``,
    ``too_soon``, ``invalid`` or ``closed``); 400 with a message when it could not, and then
    nothing is stored.
    """
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        abort(403)
    # Only JSON is read: a cross-site HTML form cannot send it (that would need a CORS preflight,
    # which this app never grants), so with the Origin check and the kiosk token it replaces CSRF.
    payload = request.get_json(silent=True) if request.is_json else None
    try:
        sent_ms, raws, blocked = parse_batch(payload, batch_max=int(current_app.config["KIOSK_BATCH_MAX"]))
    except KioskInputError as exc:
        return _error(400, "bad_request", exc.message)
    entry, kiosk = _kiosk_or_error(code, "vi", as_json=True)
    outcomes = store_batch(entry, kiosk, raws, blocked, sent_ms=sent_ms, now=_now(),
                           config=current_app.config, secret=current_app.config["SECRET_KEY"],
                           read_token=tokens.reader(entry.code))
    return _no_store(jsonify(results=[o.as_json() for o in outcomes],
                             interval=int(current_app.config["KIOSK_MIN_INTERVAL"])))


def _now():
    """The server's time (a seam for tests)."""
    from ..models.base import utcnow
    return utcnow()


def _kiosk_or_error(code: str, lang: str, *, as_json: bool = False):
    """(entry, kiosk), or a 404 page (JSON for the queue) for codes that are not kiosks."""
    try:
        return load_kiosk(code)
    except EntryPointUnavailable as exc:
        if as_json:
            abort(_error(404, "unknown", _("Không tìm thấy kiosk này.")))
        abort(_unavailable(exc, lang))


def _unavailable(exc: EntryPointUnavailable, lang: str):
    """The Vietnamese page for an unknown, revoked or closed kiosk code."""
    with force_locale(lang):
        return _no_store(make_response(render_template("kiosk/unavailable.html", reason=exc.reason,
                                                       lang=lang), exc.status))


def _error(status: int, kind: str, message: str):
    """A JSON error the tablet can show: ``{error, message}``."""
    return _no_store(make_response(jsonify(error=kind, message=_(message)), status))


def _no_store(resp):
    """No cache keeps a kiosk page or answer (the next person must not get the last one's)."""
    resp.headers["Cache-Control"] = "no-store"
    return resp
