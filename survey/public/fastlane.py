"""The public form's plain GET and POST on PostgreSQL, served without Flask's request machinery.

Why: at peak a province's posters bring hundreds of submissions a second, and on PostgreSQL
about half of the app's CPU per submission went to what every Flask request costs here (the
request and app contexts, routing, the session, before/after hooks, the Response object, the
form parser, the ORM session) rather than to the form's own work. ``benchmarks/load.py
--floors`` measures that floor. This lane answers the two requests nearly every citizen makes
with the same functions the views use (``load_entry_point``, ``check_open``, tokens,
``clean_answers``, the rate limits, ``submit_response``, the cached pages) and the same bytes
and headers (tests/web/test_fast_lane.py compares both ways).

What it serves, and nothing else:

- ``GET /s/<code>`` without a query string: a fresh form page of an open code (the scan counted
  in the code's read, see ``load_entry_point``);
- ``POST /s/<code>`` without a query string, ``application/x-www-form-urlencoded``, from a
  browser without a workspace session or staff-device cookie, whose origin, token, code and
  answers are all good: stored once, answered with the thank-you page.

Anything else (HEAD, ``?lang=``, an unknown or closed code, a page or receipt not yet cached,
a bad or expired token, answers to correct, odd bytes or sizes, another origin, a single-use
code taken meanwhile) goes to the Flask app as it came, before anything is
counted or stored, except on a POST already counted against the rate limits: then
``limits.COUNTED`` in the environ carries the lane's count, so Flask does not count it twice.
An unexpected error goes to Flask the same way (its pages and logs). The lane runs only on a
psycopg engine, without template reloading, trusted-host checks or rate-limit headers, and
``PUBLIC_FAST_LANE`` turns it off; app-wide or default rate limits (Flask-Limiter's own check on
every request) keep the form on Flask.
"""

from __future__ import annotations

import io
import logging
import re
import time
from urllib.parse import unquote_plus, urlsplit

from flask import Flask
from werkzeug.http import dump_cookie
from werkzeug.sansio.http import parse_cookie
from werkzeug.sansio.utils import get_host

from .. import HSTS, SECURITY_HEADERS
from ..extensions import db
from ..hardening import REPLACEMENT
from ..models.base import utcnow
from ..services import direct
from ..services.answers import clean_answers
from ..services.entry_points import EntryPointUnavailable, check_open, load_entry_point, normalise_code
from ..services.integrity import Signals
from ..services.questionnaires import questionnaire_of
from ..services.responses import answers_of, submit_response
from . import device, limits, tokens, views

log = logging.getLogger(__name__)
_CODE = re.compile(r"[A-Za-z0-9-]{1,32}")
_FORM = "application/x-www-form-urlencoded"
LANG_AGE = 365 * 86400  # the lang cookie, as views._render_form sets it


class _Pass(Exception):
    """Not for the lane: Flask answers this request."""


class FastLane:
    """WSGI middleware in front of the Flask app (inside ProxyFix, so addresses are the client's)."""

    def __init__(self, app: Flask, inner):
        self.app, self.inner = app, inner
        self._on: bool | None = None

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        if (path[:3] != "/s/" or method not in ("GET", "POST") or environ.get("QUERY_STRING")
                or environ.get("SCRIPT_NAME") or not _CODE.fullmatch(path[3:]) or not self._enabled()):
            return self.inner(environ, start_response)
        try:
            with self.app.app_context():
                status, headers, body = (self._form if method == "GET" else self._submit)(environ, path[3:])
        except _Pass:
            return self.inner(environ, start_response)
        except Exception:  # Flask's error pages and logging; a POST keeps its count (COUNTED)
            log.exception("fast lane: %s %s handed to Flask", method, path)
            return self.inner(environ, start_response)
        start_response(status, headers)
        return [body]

    def _enabled(self) -> bool:
        """Whether this app can use the lane (decided on the first request)."""
        if self._on is None:
            config = self.app.config
            with self.app.app_context():
                driver = db.engine.dialect.driver
            # Flask-Limiter's own check skipped on the form (no app-wide limits: create_app).
            unchecked = "public" in self.app.extensions.get("limiter_unchecked", ())
            self._on = bool(config.get("PUBLIC_FAST_LANE", True) and driver == "psycopg" and unchecked
                            and not self.app.jinja_env.auto_reload and not config.get("TRUSTED_HOSTS")
                            and not config.get("RATELIMIT_HEADERS_ENABLED"))
        return self._on

    # --- GET: a fresh form page ---------------------------------------------------------------

    def _form(self, environ, code: str):
        """The form page of an open code, the scan counted in the code's read."""
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        lang = _language(cookies)
        now = utcnow()
        try:
            entry = load_entry_point(code, scan_at=now)
            check_open(entry, now)
        except EntryPointUnavailable:
            raise _Pass from None  # nothing was counted: Flask shows the 404 or 410 page
        if not entry.scanned:
            raise _Pass  # no scan counted in the read (not PostgreSQL's way here): the view decides
        version = entry.campaign.questionnaire_version
        q = questionnaire_of(version)
        answers = views.fresh_answers(entry, q)
        submission, token = tokens.issue(entry.code)
        parts = views._PAGES.get(views.fresh_page_key(entry, q, version, lang, answers, ""))
        if parts is None:  # the first page of its kind in this process: rendered by the view's code
            with self.app.request_context(environ):
                html = views._fresh_page(entry, q, version, lang, answers, token, submission)
        else:
            html = views._fill(parts, views.fresh_page_values(entry, token, submission))
        cookies_out = []
        if cookies.get("lang") != lang:
            cookies_out.append(self._cookie("lang", lang, LANG_AGE, secure=False))
        if not _device_id(cookies):
            cookies_out.append(self._cookie(device.DEVICE_COOKIE, device.new_device_id(), 2 * device.YEAR,
                                            secure=self.app.config.get("SESSION_COOKIE_SECURE", False)))
        return self._page(environ, html, cookies_out)

    # --- POST: the answers stored, the thank-you page ---------------------------------------------

    def _submit(self, environ, code: str):
        """Store a correct submission once and show its receipt."""
        config = self.app.config
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        if (environ.get("CONTENT_TYPE") != _FORM or config["SESSION_COOKIE_NAME"] in cookies
                or device.STAFF_COOKIE in cookies):
            raise _Pass  # other bodies, and workspace browsers (staff flags), take the views
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            raise _Pass from None
        if not 0 < length <= (config.get("MAX_CONTENT_LENGTH") or 0):
            raise _Pass
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)  # Flask can still read it if the lane passes
        if len(body) != length:
            raise _Pass
        form = _form_fields(body, config.get("MAX_FORM_FIELDS", 500))
        origin = environ.get("HTTP_ORIGIN")
        if origin and origin != "null" and urlsplit(origin).netloc != _host(environ):
            raise _Pass  # the view answers 403
        lang = _language(cookies)
        try:
            entry = load_entry_point(code)
            check_open(entry)
        except EntryPointUnavailable:
            raise _Pass from None
        payload, expired = tokens.read(form["token"][0] if "token" in form else "", entry.code)
        if payload is None or expired:
            raise _Pass
        version = entry.campaign.questionnaire_version
        q = questionnaire_of(version)
        answers, errors = clean_answers(q, form)
        if errors or views._PAGES.get(views.receipt_key(version, q, lang, "")) is None:
            raise _Pass  # the page comes back with the messages; or the view renders the first receipt
        device_id = _device_id(cookies)
        address = environ.get("REMOTE_ADDR") or "127.0.0.1"  # as Flask-Limiter's get_remote_address
        over = limits.exceeded_for(f"device:{device_id}" if device_id else f"ip:{address}",
                                   "entry:" + normalise_code(code)[:16], f"ip:{address}")
        environ[limits.COUNTED] = over
        if over:
            raise _Pass  # the view shows the filled-in page with its 429 message
        try:
            response, created = submit_response(
                entry=entry, version=version, questionnaire=q, answers=answers,
                submission_uuid=payload["u"], channel="qr", language=lang,
                form_seconds=max(0, int(time.time()) - int(payload.get("t", 0))),
                signals=Signals(device_id=device_id, ip=environ.get("REMOTE_ADDR"), staff=False),
                secret=config["SECRET_KEY"], thresholds=device.thresholds(), alone=True)
        except EntryPointUnavailable:
            db.session.rollback()
            raise _Pass from None  # taken meanwhile: the view says so
        answered = len(answers) if created else len(answers_of(response))  # a resend: the stored one
        parts = views._PAGES[views.receipt_key(version, q, lang, "")]
        html = views._fill(parts, views.receipt_values(entry, response, answered))
        if direct.in_transaction():
            db.session.commit()
        return self._page(environ, html, [])

    # --- responses ----------------------------------------------------------------------------

    def _cookie(self, name: str, value: str, max_age: int, secure: bool) -> tuple[str, str]:
        """A Set-Cookie header as the views' ``set_cookie`` writes it."""
        return ("Set-Cookie", dump_cookie(name, value, max_age=max_age, path="/", secure=secure,
                                          httponly=True, samesite="Lax",
                                          max_size=self.app.config.get("MAX_COOKIE_SIZE", 4093)))

    def _page(self, environ, html: str, cookies: list) -> tuple[str, list, bytes]:
        """200 with the headers the views and the app's hooks give a public page."""
        body = html.encode()
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                   *cookies, ("Cache-Control", "no-store"), *SECURITY_HEADERS]
        if environ.get("wsgi.url_scheme") == "https":
            headers.append(HSTS)
        headers.append(("Vary", "Cookie"))
        return "200 OK", headers, body


def _host(environ) -> str:
    """``request.host`` as Flask works it out (default ports dropped)."""
    return get_host(environ["wsgi.url_scheme"], environ.get("HTTP_HOST"),
                    (environ.get("SERVER_NAME"), environ.get("SERVER_PORT")))


def _language(cookies) -> str:
    """The page language as the app's locale selector picks it without ``?lang=``."""
    lang = cookies.get("lang")
    return lang if lang in ("vi", "en") else "vi"


def _device_id(cookies) -> str | None:
    """The device cookie, if it is one the app could have set (``device.device_id``)."""
    value = cookies.get(device.DEVICE_COOKIE, "")
    return value if device.DEVICE_FORMAT.fullmatch(value) else None


def _form_fields(body: bytes, max_fields: int) -> dict[str, list[str]]:
    """The urlencoded body as name → values, or _Pass for anything the hardening hooks or the
    form parser would treat in their own way (odd separators, invalid UTF-8, NUL, too many)."""
    try:
        text = body.decode("ascii")  # browsers percent-encode everything else
    except UnicodeDecodeError:
        raise _Pass from None
    pairs = text.split("&")
    if len(pairs) > max_fields or any(pair.count("=") != 1 for pair in pairs):
        raise _Pass
    form: dict[str, list[str]] = {}
    try:
        for pair in pairs:  # as parse_qsl(strict) reads them; most need no unquoting at all
            name, _, value = pair.partition("=")
            if "%" in pair or "+" in pair:
                name = unquote_plus(name, encoding="utf-8", errors="strict")
                value = unquote_plus(value, encoding="utf-8", errors="strict")
            if "\x00" in name or "\x00" in value or REPLACEMENT in name or REPLACEMENT in value:
                raise _Pass  # refused by hardening._refuse_broken_encoding
            form.setdefault(name, []).append(value)
    except UnicodeDecodeError:
        raise _Pass from None
    return form
