"""``sipas export``: a campaign's raw CSV, XLSX report, SPSS .sav or PDF report to a file.

    sipas export --campaign sadec-2026 --format xlsx --output ketqua.xlsx
    sipas export run-pending          # run export jobs queued from the web pages
    sipas export purge --days 30      # delete old export files

Bad input (unknown campaign, format or weighting, an output folder that does not exist)
exits 1 with a message and writes nothing; a failure half-way leaves no partial file.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from .extensions import db


def export_to_file(campaign_ref: str, fmt: str, output: Path, *, weighting: str | None = None,
                   compare_to: str | None = None, include_flagged: bool = True,
                   ci: str = "logit", papi_compatible: bool = False) -> int:
    """Write one export of the campaign ``campaign_ref`` (code or id) to ``output``; return rows."""
    from .services.exports import ExportOptions, default_options, find_campaign, write_export
    campaign = find_campaign(campaign_ref)
    options = default_options(campaign)
    other = find_campaign(compare_to).id if compare_to else None
    options = ExportOptions(weighting=weighting or options.weighting, compare_to=other,
                            include_flagged=include_flagged, ci=ci,
                            papi_compatible=papi_compatible)
    return write_export(fmt, campaign, output, options=options)


@click.group("export", cls=AppGroup, invoke_without_command=True,
             help="Export a campaign (raw CSV, XLSX report, SPSS .sav, PDF report).")
@click.option("--campaign", "campaign_ref", metavar="CODE_OR_ID", help="Campaign code or id.")
@click.option("--format", "fmt", metavar="xlsx|csv|sav|pdf",
              help="csv: raw responses (sipas analyze input); xlsx/pdf: report; sav: SPSS data.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option("--weighting", metavar="unweighted|design|raked",
              help="Weights of the report's numbers (default: the campaign's).")
@click.option("--compare-to", metavar="CODE_OR_ID",
              help="An earlier campaign to compare with (sheet/section 'So sánh kỳ trước').")
@click.option("--exclude-flagged", is_flag=True,
              help="Leave out responses carrying integrity flags (default: keep them).")
@click.option("--ci-method", "ci", metavar="logit|beta|wilson|wald", default="logit",
              show_default=True, help="Interval method of shares and indices.")
@click.option("--papi-intervals", is_flag=True,
              help="Report estimate ± 1.645·SE, what PAPI labels a 95% CI (really 90%).")
@click.pass_context
def export_group(ctx: click.Context, campaign_ref: str | None, fmt: str | None,
                 output: Path | None, weighting: str | None, compare_to: str | None,
                 exclude_flagged: bool, ci: str, papi_intervals: bool) -> None:
    """Write one export when called without a sub-command."""
    if ctx.invoked_subcommand is not None:
        return
    _check_arguments(campaign_ref, fmt, output, weighting, ci)
    from .services.exports import ExportError
    from .services.results import ResultsError
    try:
        rows = export_to_file(campaign_ref, fmt, output, weighting=weighting,
                              compare_to=compare_to, include_flagged=not exclude_flagged, ci=ci,
                              papi_compatible=papi_intervals)
    except (ExportError, ResultsError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {output} ({fmt}, {rows:,} rows)", err=True)


def _check_arguments(campaign_ref, fmt, output, weighting, ci) -> None:
    """Bad input exits 1 (ClickException) before anything is read or written."""
    from .services.exports import FORMATS, WEIGHTINGS
    missing = [name for name, value in (("--campaign", campaign_ref), ("--format", fmt),
                                        ("--output", output)) if not value]
    if missing:
        raise click.ClickException(f"missing {', '.join(missing)} (see sipas export --help)")
    if fmt not in FORMATS:
        raise click.ClickException(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if weighting is not None and weighting not in WEIGHTINGS:
        raise click.ClickException(f"--weighting {weighting!r}: use one of {', '.join(WEIGHTINGS)}")
    if ci not in ("logit", "beta", "wilson", "wald"):
        raise click.ClickException(f"--ci-method {ci!r}: use logit, beta, wilson or wald")
    if output.exists() and output.is_dir():
        raise click.ClickException(f"{output} is a folder; give a file name")
    if not output.parent.resolve().is_dir():
        raise click.ClickException(f"{output}: folder {output.parent} does not exist")


@export_group.command("run-pending")
def run_pending_command() -> None:
    """Run the export jobs queued from the web pages (and jobs whose worker stopped)."""
    from .services.exports.jobs import run_pending
    done = run_pending()
    click.echo(f"ran {done} export job(s)")


@export_group.command("purge")
@click.option("--days", type=click.FloatRange(min=0), default=30, show_default=True,
              help="Delete the files of export jobs finished more than this many days ago.")
def purge_command(days: float) -> None:
    """Delete old export files (the jobs stay listed, marked as deleted)."""
    from .services.exports.jobs import purge
    removed = purge(days)
    db.session.commit()
    click.echo(f"deleted {removed} export file(s) older than {days:g} days")


def register(app: Flask) -> None:
    """Attach ``sipas export`` to the app's CLI."""
    app.cli.add_command(export_group)
