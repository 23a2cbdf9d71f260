"""Maintenance commands: ``sipas backup``, ``sipas restore``, ``sipas maintenance purge-ip-hashes``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .extensions import db


def register(app: Flask) -> None:
    """Attach the maintenance commands to ``app.cli``."""
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(maintenance_group)


@click.command("backup", help="Write a consistent copy of the database to PATH "
               "(SQLite: online backup API; PostgreSQL: pg_dump custom format).")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(path: Path) -> None:
    """Back up the configured database."""
    from .services.backup import BackupError, backup_database, table_counts
    try:
        backup_database(db.engine.url, path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    counts = table_counts(db.engine)
    click.echo(f"Backup written to {path} ({path.stat().st_size:,} bytes).")
    click.echo(_counts_line(counts))


@click.command("restore", help="Replace the database with the backup at PATH "
               "(stop the app servers first).")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(path: Path, yes: bool) -> None:
    """Restore the configured database from a backup."""
    from .services.backup import BackupError, restore_database, table_counts
    if not yes:
        click.confirm(f"Replace every row of {db.engine.url.render_as_string()} with {path}?",
                      abort=True)
    db.session.remove()
    db.engine.dispose()  # no pooled connection may hold the old file or tables
    try:
        restore_database(db.engine.url, path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    db.engine.dispose()
    click.echo(f"Restored from {path}.")
    click.echo(_counts_line(table_counts(db.engine)))


@click.group("maintenance", cls=AppGroup, help="Retention and housekeeping.")
def maintenance_group() -> None:
    """Maintenance commands."""


@maintenance_group.command("purge-ip-hashes")
@click.option("--days", type=int, default=None,
              help="Keep hashes this many days (default SIPAS_NETWORK_HASH_RETENTION_DAYS, 90).")
def purge_command(days: int | None) -> None:
    """Clear the device and address hashes of responses older than the retention period."""
    from .services.audit import record
    from .services.integrity import purge_network_hashes
    days = current_app.config["NETWORK_HASH_RETENTION_DAYS"] if days is None else days
    if days < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--days")
    cleared = purge_network_hashes(days)
    record("maintenance.purge_network_hashes", "cli", days=days, responses=cleared)
    db.session.commit()
    click.echo(f"Cleared device/address hashes of {cleared} responses older than {days} days.")


def _counts_line(counts: dict[str, int]) -> str:
    """``responses 3,012 · answers 61,204 · …``"""
    return "Rows: " + " · ".join(f"{name} {n:,}" for name, n in counts.items())
