"""SIPAS counter survey: the Flask application factory."""

from __future__ import annotations

import os
from pathlib import Path

from babel import Locale
from flask import Flask, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .config import from_environment
from .extensions import babel, csrf, db, limiter, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Create and configure the app; nothing touches the database or network here."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("SIPAS_INSTANCE_PATH") or str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(from_environment(app.instance_path))
    if test_config:
        app.config.update(test_config)

    from .cookie_sessions import CookieSessions
    app.session_interface = CookieSessions()  # Flask's signed cookies, serializer built once
    from . import models  # noqa: F401  (registers the tables on db.metadata)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale,
                   default_translation_directories=str(Path(__file__).parent / "translations"))
    limiter.init_app(app)
    _register_blueprints(app)
    _skip_needless_limit_checks(app)
    from .public.fastlane import FastLane
    app.wsgi_app = FastLane(app, app.wsgi_app)  # the form's plain GET and POST (inside ProxyFix)
    from . import production
    production.init_app(app)  # ProxyFix (SIPAS_TRUSTED_PROXIES) and /healthz
    _register_security_headers(app)
    from . import hardening
    hardening.init_app(app)  # staff-device cookie, invalid UTF-8 refused, X-Frame-Options, HSTS
    _register_error_pages(app)

    @app.template_filter("local_time")
    def local_time(moment) -> str:
        """A UTC timestamp as Asia/Ho_Chi_Minh wall time, dd/mm/yyyy HH:MM."""
        from datetime import UTC
        from zoneinfo import ZoneInfo
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(ZoneInfo(app.config["DISPLAY_TIMEZONE"])).strftime("%d/%m/%Y %H:%M")

    @app.context_processor
    def inject_language() -> dict:
        """Every template knows the page language (``<html lang>``, question texts)."""
        from flask_babel import get_locale
        return {"lang": str(get_locale())}

    from . import cli
    cli.register(app)
    return app


_LOCALES = {"vi": Locale("vi"), "en": Locale("en")}  # parsed once: Babel parses a string per request


def _select_locale() -> Locale:
    """``?lang=`` first, then the language cookie, then Vietnamese."""
    # Not request.form: reading the body here would re-raise errors such as 413 in error pages.
    args, cookies = request.args, request.cookies  # "in" first: a missing key raises inside .get
    lang = (args["lang"] if "lang" in args else None) or (cookies["lang"] if "lang" in cookies else None)
    return _LOCALES.get(lang) or _LOCALES["vi"]


def _register_blueprints(app: Flask) -> None:
    """One blueprint per audience."""
    from .public.views import bp as public_bp
    app.register_blueprint(public_bp)
    from .public.typed import bp as typed_bp
    app.register_blueprint(typed_bp)
    from .api import bp as api_bp
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # server-to-server, authenticated by API key, no cookies
    from .staff import api_keys_bp
    from .staff import bp as staff_bp
    app.register_blueprint(staff_bp)  # /staff: counters, posters, single-use slips
    app.register_blueprint(api_keys_bp)  # /admin/api-keys
    # The public form carries its own signed, long-lived form token (see public/tokens.py).
    csrf.exempt(public_bp)
    from . import auth
    auth.init_app(app)  # login_manager, /login, /logout, /account/password
    from .admin.views import bp as admin_bp
    app.register_blueprint(admin_bp)
    from .manage import bp as manage_bp
    app.register_blueprint(manage_bp)  # /admin/units, campaigns, imports, review, audit
    from .paper import bp as paper_bp
    app.register_blueprint(paper_bp)  # /staff/paper: print, type in, import paper forms
    from . import kiosk
    kiosk.init_app(app)  # /k/<code> on a counter's tablet; /staff kiosk links
    from .exports import bp as exports_bp
    app.register_blueprint(exports_bp)  # /admin/campaigns/<id>/exports, /admin/exports/<job>
    from .results import bp as results_bp
    app.register_blueprint(results_bp)  # /admin/results, /admin/campaigns/<id>/results


def _skip_needless_limit_checks(app: Flask) -> None:
    """Flask-Limiter's automatic check before each request finds nothing to count on the public
    form (its limits are counted in ``public/limits.py``) unless the app sets app-wide, default
    or meta limits: then it is skipped there (``extensions.Limiter``), ~35 µs per request."""
    app_wide = ("RATELIMIT_APPLICATION", "RATELIMIT_DEFAULT", "RATELIMIT_META",
                "RATELIMIT_IN_MEMORY_FALLBACK")
    manager = getattr(limiter, "limit_manager", None)
    if manager is None or manager.application_limits or manager.default_limits or \
            manager.blueprint_limits(app, "public") or any(app.config.get(key) for key in app_wide):
        return
    app.extensions["limiter_unchecked"] = frozenset({"public"})


def _register_error_pages(app: Flask) -> None:
    """Plain pages in the visitor's language for the errors a citizen may meet."""
    from flask import render_template
    from flask_babel import lazy_gettext as _l
    from werkzeug.exceptions import HTTPException

    pages = {
        403: (_l("Không được phép"), _l("Yêu cầu này không được chấp nhận.")),
        404: (_l("Không tìm thấy trang"), _l("Địa chỉ này không tồn tại. Vui lòng kiểm tra lại.")),
        413: (_l("Nội dung quá lớn"),
              _l("Phiếu gửi lên quá lớn. Vui lòng rút ngắn ý kiến rồi gửi lại.")),
        429: (_l("Quá nhiều yêu cầu"), _l("Vui lòng đợi một lát rồi thử lại.")),
        500: (_l("Lỗi hệ thống"), _l("Đã có lỗi xảy ra. Vui lòng thử lại sau ít phút.")),
    }

    def render(error: HTTPException):
        if error.code == 429 and getattr(error, "response", None) is not None:
            return error.response  # the public form came back filled in (public/views.py)
        title, message = pages.get(error.code, pages[500])
        return render_template("errors/error.html", title=title, message=message), error.code

    for code in pages:
        app.register_error_handler(code, render)


SECURITY_HEADERS = (
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),  # frame-ancestors for old browsers
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")  # HTTPS requests only


def _register_security_headers(app: Flask) -> None:
    """Headers that keep pages from being framed or running injected script."""
    plain = tuple((name.lower(), name, value) for name, value in SECURITY_HEADERS)
    secure_too = (*plain, (HSTS[0].lower(), *HSTS))

    @app.after_request
    def secure(response):
        """Each header the view did not set itself (one pass over the response's headers)."""
        headers = response.headers
        present = set(headers.keys(lower=True))
        for lowered, name, value in secure_too if request.is_secure else plain:
            if lowered not in present:
                headers.add(name, value)
        return response


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """WAL, foreign keys and a busy timeout for SQLite; other databases are left alone."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
