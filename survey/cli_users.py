"""``sipas users``: create accounts, reset passwords and list accounts from the command line.

Passwords are read from a hidden prompt (or stdin with ``--password-stdin``), never from an
argument, so they do not end up in the shell history or the process list.
"""

from __future__ import annotations

import secrets
import sys

import click
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import select

from .extensions import db
from .models import Unit, User
from .models.user import ROLES


@click.group("users", cls=AppGroup, help="Create accounts, reset passwords, list accounts.")
def users_group() -> None:
    """Account commands."""


def _read_password(from_stdin: bool, generate: bool) -> tuple[str, bool]:
    """The new password and whether it was generated (and must be shown once)."""
    if generate:
        return secrets.token_urlsafe(12), True
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return click.prompt("Password", hide_input=True, confirmation_prompt=True), False


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the account may do.")
@click.option("--unit", "unit_code", required=True,
              help="Official code of the unit whose subtree the account sees.")
@click.option("--full-name", default=None, help="Name shown in the workspace.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--generate", is_flag=True, help="Generate a random password and print it once.")
def create_command(username: str, role: str, unit_code: str, full_name: str | None,
                   password_stdin: bool, generate: bool) -> None:
    """Create the account USERNAME (the password policy applies)."""
    from .services.users import AccountError, create_user
    unit = db.session.scalar(select(Unit).filter_by(code=unit_code))
    if unit is None:
        raise click.ClickException(f"no unit with code {unit_code!r}")
    password, generated = _read_password(password_stdin, generate)
    try:
        with force_locale("en"):  # policy messages in the language of the CLI
            user = create_user(username=username, password=password, role=role, unit=unit,
                               full_name=full_name, actor=None, actor_name="cli")
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"created {user.username} ({user.role}, {unit.code} {unit.name})")
    if generated:
        click.echo(f"password: {password}")


@users_group.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--generate", is_flag=True, help="Generate a random password and print it once.")
def reset_password_command(username: str, password_stdin: bool, generate: bool) -> None:
    """Set a new password for USERNAME; also lifts a login lockout and ends its sessions."""
    from .services.users import AccountError, normalise_username, reset_password
    user = db.session.scalar(select(User).filter_by(username=normalise_username(username)))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    password, generated = _read_password(password_stdin, generate)
    try:
        with force_locale("en"):
            reset_password(user, password, actor=None, actor_name="cli")
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"password of {user.username} reset")
    if generated:
        click.echo(f"password: {password}")


@users_group.command("list")
def list_command() -> None:
    """Print every account: username, role, unit code, active."""
    rows = db.session.execute(select(User.username, User.role, Unit.code, User.active)
                              .join(Unit, Unit.id == User.unit_id).order_by(User.username))
    for username, role, code, active in rows:
        click.echo(f"{username}\t{role}\t{code}\t{'active' if active else 'inactive'}")
