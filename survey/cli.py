"""The ``sipas`` command line: Flask's commands plus the project's own."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from .extensions import db


def main() -> None:
    """Entry point of the ``sipas`` console script."""
    from . import create_app
    from .analyze_cmd import analyze_command
    cli = FlaskGroup(create_app=create_app, help="SIPAS counter survey.")
    cli.add_command(analyze_command)
    cli.main(prog_name="sipas")


def register(app: Flask) -> None:
    """Attach the project's commands to ``app.cli``."""
    app.cli.add_command(questionnaires_group)
    app.cli.add_command(demo_command)
    from .cli_maint import register as register_maintenance
    register_maintenance(app)  # backup, restore, maintenance purge-ip-hashes
    from .cli_qr import register as register_qr
    register_qr(app)  # qr print|create|revoke|rotate, api-keys create|revoke|list
    from .cli_users import users_group
    app.cli.add_command(users_group)  # sipas users create|reset-password|list
    from .cli_manage import register as register_manage
    register_manage(app)  # units|population|counters|fields import
    from .cli_paper import register as register_paper
    register_paper(app)  # paper (print forms), paper import
    from .cli_export import register as register_export
    register_export(app)  # export --campaign … --format xlsx|csv|sav|pdf, export run-pending
    from .cli_papi import register as register_papi
    register_papi(app)  # demo-papi (PAPI-style demo campaign)


@click.group("questionnaires", cls=AppGroup,
             help="Validate, show and publish questionnaire definitions.")
def questionnaires_group() -> None:
    """Questionnaire commands."""


@questionnaires_group.command("validate")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
def validate_command(files: tuple[str, ...]) -> None:
    """Validate FILES (default: every shipped definition); print every error with file:line."""
    from .questionnaires import QuestionnaireError, load_questionnaire, shipped_files
    paths = files or [str(p) for p in shipped_files()]
    failed = False
    for path in paths:
        try:
            q = load_questionnaire(path)
        except QuestionnaireError as exc:
            failed = True
            for problem in exc.problems:
                click.echo(problem, err=True)
            continue
        click.echo(f"{path}: ok ({q.key}, {len(q.items)} questions, "
                   f"{len(q.criteria())} criteria, hash {q.content_hash[:12]})")
    if failed:
        sys.exit(1)


@questionnaires_group.command("show")
@click.argument("ident")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text",
              help="json: the parsed definition; text: a readable outline.")
def show_command(ident: str, fmt: str) -> None:
    """Print the parsed definition of IDENT (id, id@version or a file path)."""
    from .questionnaires import QuestionnaireError, load_questionnaire
    try:
        q = load_questionnaire(ident)
    except QuestionnaireError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "json":
        click.echo(json.dumps(q.to_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(f"{q.key}  {q.title['vi']} / {q.title['en']}")
    for section in q.sections:
        click.echo(f"  [{section.code}] {section.title['vi']}")
        for code in section.items:
            item = q.items[code]
            scale = f" 1..{item.points}" if item.points and item.type != "yes_no" else ""
            click.echo(f"    {code:<14} {item.type}{scale}  {item.text['vi']}")
    for node in q.index_nodes:
        if node.kind == "group":
            click.echo(f"  index {node.code} = {node.aggregate}({', '.join(node.children)})")


@questionnaires_group.command("load")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
def load_command(files: tuple[str, ...]) -> None:
    """Publish FILES (default: every shipped definition) into the database, immutably."""
    from .questionnaires import QuestionnaireError, load_questionnaire, shipped_files
    from .services.questionnaires import PublishError, publish_questionnaire
    paths = files or [str(p) for p in shipped_files()]
    try:
        for path in paths:
            version, created = publish_questionnaire(load_questionnaire(path))
            click.echo(f"{version.questionnaire_id}@{version.version}: "
                       f"{'published' if created else 'already published, unchanged'}")
    except (QuestionnaireError, PublishError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()


@click.command("demo", help="Load the demo province (idempotent) and print QR URLs and logins.")
@click.option("--responses", default=3000, show_default=True,
              help="Synthetic responses to create on the first run.")
@click.option("--seed", default=20261122, show_default=True, help="Random seed.")
@with_appcontext
def demo_command(responses: int, seed: int) -> None:
    """Load the Sa Đéc demo."""
    from flask import current_app

    from .services.demo import load_demo
    summary = load_demo(responses=responses, seed=seed)
    db.session.commit()
    base = current_app.config["PUBLIC_BASE_URL"]
    click.echo(f"Demo: {summary['units']} units, {summary['counters']} counters, "
               f"{summary['responses']} responses "
               f"({'created now' if summary['created'] else 'already loaded'}).")
    click.echo("QR codes (one per counter):")
    for label, code in summary["codes"]:
        click.echo(f"  {base}/s/{code}   {label}")
    if summary["codes"]:
        first_label, first_code = summary["codes"][0]
        click.echo(f"Scan to open the form of {first_label} "
                   f"(set SIPAS_PUBLIC_BASE_URL to an address your phone reaches):")
        click.echo(_terminal_qr(f"{base}/s/{first_code}"))
    click.echo("Logins:")
    for username, password, role in summary["logins"]:
        click.echo(f"  {username} / {password}   ({role})")


def _terminal_qr(url: str) -> str:
    """A QR code drawn with block characters, scannable from the terminal."""
    import io

    import qrcode
    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(url)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()
