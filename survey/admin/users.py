"""Account pages: list and create users in one's subtree; an admin resets a password.

Registered on the ``admin`` blueprint by ``admin/views.py``. A unit manager may create counter
staff in their own subtree; an admin any role in theirs. Every id comes through ``scope``.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ..auth import role_required
from ..extensions import db
from ..models import Unit, User
from ..services.scope import get_in_scope, in_scope
from ..services.users import (
    CREATABLE_ROLES,
    MIN_PASSWORD_LENGTH,
    AccountError,
    create_user,
    reset_password,
    set_active,
)

ROLE_NAMES = {"admin": _l("Quản trị (Nội vụ)"), "unit_manager": _l("Lãnh đạo đơn vị"),
              "counter_staff": _l("Cán bộ một cửa")}


class NewUserForm(FlaskForm):
    """A new account inside the creator's subtree."""

    username = StringField(_l("Tên đăng nhập"), validators=[DataRequired(), Length(max=64)])
    full_name = StringField(_l("Họ và tên"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Vai trò"))
    unit_id = SelectField(_l("Đơn vị"), coerce=int)
    password = PasswordField(_l("Mật khẩu ban đầu"), validators=[DataRequired()])
    confirm = PasswordField(_l("Nhập lại mật khẩu"), validators=[
        DataRequired(), EqualTo("password", message=_l("Hai lần nhập mật khẩu không khớp."))])


class ResetPasswordForm(FlaskForm):
    """A new password set by an admin."""

    password = PasswordField(_l("Mật khẩu mới"), validators=[DataRequired()])
    confirm = PasswordField(_l("Nhập lại mật khẩu mới"), validators=[
        DataRequired(), EqualTo("password", message=_l("Hai lần nhập mật khẩu không khớp."))])


@role_required("admin", "unit_manager")
def user_list():
    """Users of the current user's subtree."""
    users = db.session.execute(
        select(User, Unit.name).join(Unit, Unit.id == User.unit_id)
        .where(in_scope(current_user, User.unit_id)).order_by(Unit.code, User.username)).all()
    return render_template("admin/users.html", users=users, role_names=ROLE_NAMES,
                           can_create=bool(CREATABLE_ROLES[current_user.role]))


@role_required("admin", "unit_manager")
def user_new():
    """Create an account (roles and units limited to what the creator may give)."""
    form = NewUserForm()
    form.role.choices = [(r, str(ROLE_NAMES[r])) for r in CREATABLE_ROLES[current_user.role]]
    form.unit_id.choices = [(u.id, f"{u.name} ({u.code})") for u in db.session.scalars(
        select(Unit).where(in_scope(current_user, Unit.id)).order_by(Unit.code))]
    if form.validate_on_submit():
        unit = get_in_scope(Unit, form.unit_id.data, current_user)
        try:
            user = create_user(username=form.username.data, password=form.password.data,
                               role=form.role.data, unit=unit, full_name=form.full_name.data,
                               actor=current_user, actor_name=current_user.username)
        except AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Đã tạo tài khoản %(name)s.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    _flash_errors(form)
    return render_template("admin/user_new.html", form=form, min_length=MIN_PASSWORD_LENGTH), (
        422 if request.method == "POST" else 200)


@role_required("admin", "unit_manager")
def user_detail(user_id: int):
    """One account of the subtree; admins get the password reset form."""
    user = get_in_scope(User, user_id, current_user)
    return render_template("admin/user.html", user=user, role_names=ROLE_NAMES,
                           form=ResetPasswordForm(), min_length=MIN_PASSWORD_LENGTH)


@role_required("admin")
def user_reset_password(user_id: int):
    """An admin sets a new password for an account of their subtree (ends its sessions)."""
    user = get_in_scope(User, user_id, current_user)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            reset_password(user, form.password.data, actor=current_user,
                           actor_name=current_user.username)
        except AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Đã đặt lại mật khẩu của %(name)s.", name=user.username), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    _flash_errors(form)
    return render_template("admin/user.html", user=user, role_names=ROLE_NAMES, form=form,
                           min_length=MIN_PASSWORD_LENGTH), 422


@role_required("admin")
def user_set_active(user_id: int):
    """An admin deactivates or reactivates an account of their subtree."""
    user = get_in_scope(User, user_id, current_user)
    form = FlaskForm()
    if form.validate_on_submit():
        active = request.form.get("active") == "1"
        try:
            set_active(user, active, actor=current_user, actor_name=current_user.username)
        except AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Đã mở lại tài khoản %(name)s.", name=user.username) if active
                  else _("Đã khoá tài khoản %(name)s.", name=user.username), "success")
    else:
        _flash_errors(form)
    return redirect(url_for("admin.user_detail", user_id=user.id))


def _flash_errors(form: FlaskForm) -> None:
    """Field errors of a posted form as messages (the CSRF one included)."""
    if request.method != "POST":
        return
    for name, errors in form.errors.items():
        label = getattr(form, name).label.text if hasattr(form, name) else ""
        for message in errors:
            flash(f"{label}: {message}" if label else str(message), "error")


def register(bp) -> None:
    """Add the account pages to the admin blueprint."""
    bp.add_url_rule("/users", "users", user_list)
    bp.add_url_rule("/users/new", "user_new", user_new, methods=["GET", "POST"])
    bp.add_url_rule("/users/<int:user_id>", "user_detail", user_detail)
    bp.add_url_rule("/users/<int:user_id>/password", "user_reset_password", user_reset_password,
                    methods=["POST"])
    bp.add_url_rule("/users/<int:user_id>/active", "user_set_active", user_set_active,
                    methods=["POST"])
