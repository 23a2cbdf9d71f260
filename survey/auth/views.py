"""Login, logout and the user's own password page."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ..extensions import db, limiter
from ..services.users import MIN_PASSWORD_LENGTH, AccountError, authenticate, change_own_password
from . import role_required
from .forms import ChangePasswordForm, LoginForm

bp = Blueprint("auth", __name__)

DEFAULT_LOGIN_LIMIT = "10 per minute; 40 per hour"


def _login_limit() -> str:
    """Failed login POSTs allowed per client address (``LOGIN_RATE_LIMIT``)."""
    return current_app.config.get("LOGIN_RATE_LIMIT", DEFAULT_LOGIN_LIMIT)


def _failed(response) -> bool:
    """Only refused logins count against the address (a success redirects)."""
    return response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
def login():
    """The login form; every refusal gets the same message."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(landing_url(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        result = authenticate(form.username.data, form.password.data)
        db.session.commit()
        if result.user is not None:
            session.clear()  # no state from before the login survives it
            session.permanent = True  # expires SESSION_HOURS after the last request
            login_user(result.user)
            return redirect(_safe_next(request.args.get("next")) or landing_url(result.user))
        form.password.data = ""
        flash(_("Tên đăng nhập hoặc mật khẩu không đúng, hoặc tài khoản đang tạm khoá. "
                "Vui lòng thử lại."), "error")
    elif request.method == "POST":
        flash(_("Vui lòng nhập tên đăng nhập và mật khẩu rồi thử lại."), "error")
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 401


@bp.post("/logout")
def logout():
    """End the session (POST only, with the CSRF token, so a link cannot log anyone out)."""
    logout_user()
    session.clear()
    flash(_("Bạn đã đăng xuất."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@role_required()
def change_password():
    """A logged-in user changes their own password."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            change_own_password(current_user, form.current.data, form.new.data)
        except AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # keep this session, end the others
            flash(_("Đã đổi mật khẩu."), "success")
            return redirect(landing_url(current_user))
    elif request.method == "POST":
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
    status = 200 if request.method == "GET" else 422
    return render_template("auth/password.html", form=form, min_length=MIN_PASSWORD_LENGTH), status


def landing_url(user) -> str:
    """Where a user lands after logging in: the dashboard, or the staff pages for counter staff."""
    names = current_app.view_functions
    if user.role == "counter_staff" and "staff.index" in names:
        return url_for("staff.index")
    if user.role in ("admin", "unit_manager") and "admin.index" in names:
        return url_for("admin.index")
    return url_for("auth.change_password")


def _safe_next(target: str | None) -> str | None:
    """A ``next`` that stays on this site (a path, never ``//host`` or a scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
