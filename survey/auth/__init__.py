"""Accounts and roles: Flask-Login on ``User``, the ``role_required`` guard, the login pages.

Sessions are Flask's signed cookies only (no server-side session store), so any worker of any
app server accepts them. The session id carries a keyed stamp of the password hash
(``User.get_id``): changing or resetting a password ends every other session of that user.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from flask import Flask, abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..extensions import db, login_manager
from ..models.user import ROLES

__all__ = ["ROLES", "init_app", "role_required"]


def role_required(*roles: str) -> Callable:
    """Guard a view: anonymous → redirect to ``/login``; a role not in ``roles`` → 403.

    ``@role_required()`` with no roles admits any logged-in user.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        guarded.allowed_roles = tuple(roles) or ROLES
        return guarded

    return decorator


def init_app(app: Flask) -> None:
    """Bind Flask-Login and register the login/logout/password pages."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Vui lòng đăng nhập để tiếp tục.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)
    # A workspace session lasts SESSION_HOURS after the last request (Flask checks the signed
    # cookie's timestamp against this on every request; the cookie also expires in the browser).
    app.permanent_session_lifetime = timedelta(hours=app.config.get("SESSION_HOURS", 12))

    from .nav import other_language_url, workspace_nav
    from .views import bp
    app.register_blueprint(bp)
    app.context_processor(lambda: {"workspace_nav": workspace_nav,
                                   "other_language_url": other_language_url})
    app.after_request(_remember_language)


def _remember_language(response):
    """A ``?lang=`` choice on a workspace page is kept in the same cookie the public form uses."""
    from flask import request
    args = request.args  # "in" first: a missing key raises inside .get
    lang = args["lang"] if "lang" in args else None
    if lang not in ("vi", "en") or request.cookies.get("lang") == lang:
        return response  # nearly every request: no choice made, or the same one
    if not any(c.startswith("lang=") for c in response.headers.getlist("Set-Cookie")):
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


def _load_user(session_id: str):
    """The active user of a session id ``<id>:<stamp>``, or None (stale stamp, unknown, inactive)."""
    from ..models import User
    ident, _, stamp = session_id.partition(":")
    if not ident.isdigit() or not stamp:
        return None
    user = db.session.get(User, int(ident))
    if user is None or not user.active or not _same(user.session_stamp(), stamp):
        return None
    return user


def _same(a: str, b: str) -> bool:
    """Constant-time comparison of two stamps."""
    import hmac
    return hmac.compare_digest(a.encode(), b.encode())
