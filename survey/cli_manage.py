"""``sipas units|population|counters|fields import``: the web imports, from the command line.

Same rules as the upload forms (whole file validated, all or nothing); errors are printed as
``FILE:ROW: «column»: message`` (messages in Vietnamese) and the command exits 1 without writing anything.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from .extensions import db


def _run(service, path: str) -> None:
    """Call an import service on the file, commit once, print the summary or every error."""
    from .services.imports import ImportRejected
    data = Path(path).read_bytes()
    try:
        summary = service(data, Path(path).name, user=None, actor="cli")
    except ImportRejected as exc:
        db.session.rollback()
        for error in exc.errors:
            where = f"{path}:{error.row}" if error.row else path
            column = f" «{error.column}»:" if error.column else ""
            click.echo(f"{where}:{column} {error.message}", err=True)
        click.echo(f"{len(exc.errors)} error(s); nothing was written.", err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"{summary.rows} rows: {summary.created} created, {summary.updated} updated, "
               f"{summary.unchanged} unchanged.")


@click.group("units", cls=AppGroup, help="Units (đơn vị): import the tree from CSV/XLSX.")
def units_group() -> None:
    """Unit commands."""


@units_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_units_command(path: str) -> None:
    """Create or update units from PATH (headers: Mã đơn vị, Tên đơn vị, Cấp, Mã đơn vị cha)."""
    from .services.units import import_units
    _run(import_units, path)


@click.group("population", cls=AppGroup, help="Transaction counts per unit × field × month (CSV/XLSX).")
def population_group() -> None:
    """Transaction-count commands."""


@population_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_population_command(path: str) -> None:
    """Import transaction counts from PATH (Mã đơn vị, Mã lĩnh vực, Tháng, Số hồ sơ); upsert per month."""
    from .services.population import import_population
    _run(import_population, path)


@click.group("counters", cls=AppGroup, help="Counters (quầy): import them from CSV/XLSX.")
def counters_group() -> None:
    """Counter commands."""


@counters_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_counters_command(path: str) -> None:
    """Create or update counters from PATH (Mã đơn vị, Mã quầy, Tên quầy, Dải mạng)."""
    from .services.reference_imports import import_counters
    _run(import_counters, path)


@click.group("fields", cls=AppGroup, help="Procedure fields (lĩnh vực): import the catalogue.")
def fields_group() -> None:
    """Procedure-field commands."""


@fields_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_fields_command(path: str) -> None:
    """Create or update fields from PATH (Mã lĩnh vực, Tên lĩnh vực, Tên tiếng Anh, Mã thủ tục)."""
    from .services.reference_imports import import_fields
    _run(import_fields, path)


def register(app) -> None:
    """Attach the commands to ``app.cli``."""
    for group in (units_group, population_group, counters_group, fields_group):
        app.cli.add_command(group)
