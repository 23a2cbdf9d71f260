"""``sipas paper``: print paper questionnaires (A4 PDF) and ``sipas paper import`` typed files."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from .extensions import db
from .models import Campaign, Counter, Unit
from .services.imports import ImportRejected
from .services.minting import current_campaign
from .services.paper import Actor, PaperError, print_batch

CLI_ACTOR = Actor("cli")


def register(app) -> None:
    """Attach ``paper`` to ``app.cli``."""
    app.cli.add_command(paper_group)


@click.group("paper", cls=AppGroup, invoke_without_command=True,
             help="Print paper questionnaires with serial numbers; import typed files.")
@click.option("--questionnaire", "questionnaire_key", metavar="KEY",
              help="Questionnaire of the forms (sipas-counter or sipas-counter@1); must be the campaign's.")
@click.option("--unit", "unit_code", metavar="CODE", help="Unit code the forms are for.")
@click.option("--counter", "counter_code", metavar="CODE", help="Counter code within the unit (optional).")
@click.option("--campaign", "campaign_code", metavar="CODE",
              help="Campaign code (default: the campaign open today for the unit).")
@click.option("--count", type=click.IntRange(1, 1000), help="Number of forms (1-1000).")
@click.option("--double-entry", is_flag=True,
              help="Each form must be typed in twice, by two different clerks.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="PDF file to write.")
@with_appcontext
@click.pass_context
def paper_group(ctx, questionnaire_key, unit_code, counter_code, campaign_code, count, double_entry,
                output) -> None:
    """Without a subcommand: print COUNT forms of the unit's campaign to an A4 PDF."""
    if ctx.invoked_subcommand is not None:
        return
    missing = [name for name, value in (("--questionnaire", questionnaire_key), ("--unit", unit_code),
                                        ("--count", count), ("--output", output)) if value is None]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)}")
    unit = db.session.scalar(select(Unit).filter_by(code=unit_code))
    if unit is None:
        raise click.ClickException(f"no unit with code {unit_code!r}")
    counter = None
    if counter_code:
        counter = db.session.scalar(select(Counter).filter_by(unit_id=unit.id, code=counter_code))
        if counter is None:
            raise click.ClickException(f"unit {unit_code} has no counter {counter_code!r}")
    campaign = _campaign(campaign_code, unit)
    version = campaign.questionnaire_version
    if questionnaire_key not in (version.questionnaire_id, f"{version.questionnaire_id}@{version.version}"):
        raise click.ClickException(f"campaign {campaign.code} uses questionnaire "
                                   f"{version.questionnaire_id}@{version.version}, not {questionnaire_key}")
    try:
        batch, pdf = print_batch(campaign=campaign, unit=unit, counter=counter, count=count,
                                 double_entry=double_entry, actor=CLI_ACTOR,
                                 base_url=current_app.config["PUBLIC_BASE_URL"])
    except PaperError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    from .cli_qr import _write_atomically
    _write_atomically(output, pdf)  # before the commit: no serials recorded without their PDF
    db.session.commit()
    serials = sorted(f.serial for f in batch_forms(batch.id))
    click.echo(f"wrote {count} forms ({campaign.code}, {unit.code}) to {output}; "
               f"serials {serials[0]}…{serials[-1]}; batch {batch.id}"
               + ("; double entry" if double_entry else ""))


def batch_forms(batch_id: int):
    """The forms of a batch."""
    from .models import PaperForm
    return db.session.scalars(select(PaperForm).filter_by(batch_id=batch_id)).all()


def _campaign(code: str | None, unit: Unit) -> Campaign:
    """The named campaign, or the one open today for the unit."""
    if code:
        campaign = db.session.scalar(select(Campaign).filter_by(code=code))
        if campaign is None:
            raise click.ClickException(f"no campaign with code {code!r}")
        return campaign
    campaign = current_campaign(unit)
    if campaign is None:
        raise click.ClickException(f"no campaign is open today for unit {unit.code}; "
                                   "name one with --campaign CODE")
    return campaign


@paper_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--campaign", "campaign_code", required=True, metavar="CODE", help="Campaign code.")
@click.option("--new-serials", is_flag=True,
              help="Accept serials that SIPAS did not print (forms typed from other paper).")
def import_command(file: Path, campaign_code: str, new_serials: bool) -> None:
    """Store every row of FILE (CSV/XLSX, `sipas analyze` format + serial) as a paper response."""
    from .services.paper_import import import_paper
    campaign = db.session.scalar(select(Campaign).filter_by(code=campaign_code))
    if campaign is None:
        raise click.ClickException(f"no campaign with code {campaign_code!r}")
    try:
        summary = import_paper(file.read_bytes(), file.name, campaign=campaign, user=None,
                               actor=CLI_ACTOR, allow_new_serials=new_serials)
    except ImportRejected as exc:
        db.session.rollback()
        for error in exc.errors[:200]:
            where = f"{file}:{error.row}" if error.row else str(file)
            column = f" «{error.column}»" if error.column else ""
            click.echo(f"{where}:{column} {error.message}", err=True)
        raise click.ClickException(f"{len(exc.errors)} errors; nothing was imported") from None
    db.session.commit()
    click.echo(f"imported {summary.rows} paper forms ({summary.printed} printed by SIPAS, "
               f"{summary.new_serials} new serials) into {campaign.code}")
