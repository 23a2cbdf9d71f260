"""``sipas qr …`` (print, create, revoke, rotate codes) and ``sipas api-keys …``."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from .extensions import db
from .models import ApiKey, Counter, EntryPoint, ProcedureField, Unit, User
from .services import api_keys, audit
from .services.minting import MintingError, create_static, current_campaign, entry_url, revoke, rotate
from .services.printing import Actor, mint_and_print, print_poster

CLI_ACTOR = Actor("cli")


def register(app) -> None:
    """Attach ``qr`` and ``api-keys`` to ``app.cli``."""
    app.cli.add_command(qr_group)
    app.cli.add_command(api_keys_group)


@click.group("qr", cls=AppGroup, help="Print QR material; create, revoke and rotate codes.")
def qr_group() -> None:
    """QR commands."""


def _counter(ref: str) -> Counter:
    """A counter from ``UNIT_CODE/COUNTER_CODE`` or its numeric id."""
    if ref.isdigit():
        counter = db.session.get(Counter, int(ref))
    else:
        unit_code, _, counter_code = ref.partition("/")
        counter = db.session.scalar(select(Counter).join(Unit).where(
            Unit.code == unit_code, Counter.code == counter_code))
    if counter is None:
        raise click.ClickException(f"no counter {ref!r} (use UNIT_CODE/COUNTER_CODE, e.g. SD-P1/Q1)")
    return counter


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, so a failure leaves nothing half-written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@qr_group.command("print")
@click.option("--counter", "counter_ref", required=True, help="UNIT_CODE/COUNTER_CODE or counter id.")
@click.option("--kind", type=click.Choice(["poster", "slips", "receipt"]), required=True,
              help="poster: A4 per static code; slips: A4 sheets 3×8; receipt: 80 mm thermal.")
@click.option("--count", type=click.IntRange(1, 1000), default=24, show_default=True,
              help="New single-use codes to mint for slips/receipt (ignored for poster).")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PDF file to write.")
def print_command(counter_ref: str, kind: str, count: int, output: Path) -> None:
    """Write a PDF for a counter; slips and receipts mint COUNT new single-use codes."""
    counter = _counter(counter_ref)
    base = current_app.config["PUBLIC_BASE_URL"]
    try:
        if kind == "poster":
            pdf, n = print_poster(counter, actor=CLI_ACTOR, base_url=base), None
        else:
            entries, pdf = mint_and_print(counter, count, kind, actor=CLI_ACTOR, base_url=base)
            n = len(entries)
        _write_atomically(output, pdf)
    except (MintingError, OSError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    what = "poster" if n is None else f"{n} single-use codes"
    click.echo(f"{output}: {what} for {counter.unit.name} · {counter.name} ({len(pdf):,} bytes)")


@qr_group.command("create")
@click.option("--counter", "counter_ref", required=True, help="UNIT_CODE/COUNTER_CODE or counter id.")
@click.option("--field", "field_code", help="Procedure field code (e.g. ho_tich).")
@click.option("--staff", "username", help="Username of the staff member the code names.")
@click.option("--active-from", type=click.DateTime(), help="First moment it takes answers (UTC).")
@click.option("--active-until", type=click.DateTime(), help="Last moment it takes answers (UTC).")
@click.option("--label", help="A note shown to staff.")
def create_command(counter_ref: str, field_code: str | None, username: str | None,
                   active_from: datetime | None, active_until: datetime | None,
                   label: str | None) -> None:
    """Create a static code (poster) for a counter in the unit's current campaign."""
    counter = _counter(counter_ref)
    field = staff = None
    if field_code and (field := db.session.scalar(select(ProcedureField).filter_by(code=field_code))) is None:
        raise click.ClickException(f"no procedure field {field_code!r}")
    if username and (staff := db.session.scalar(select(User).filter_by(username=username))) is None:
        raise click.ClickException(f"no user {username!r}")
    campaign = current_campaign(counter.unit)
    if campaign is None:
        raise click.ClickException(f"{counter.unit.name}: no campaign is open today")
    try:
        entry = create_static(campaign=campaign, unit=counter.unit, counter=counter, field=field,
                              staff=staff, active_from=_utc(active_from), active_until=_utc(active_until),
                              label=label)
    except MintingError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    audit.record("entry_point.create", CLI_ACTOR.name, object_type="entry_point", object_id=entry.id,
                 code=entry.code, counter_id=counter.id)
    db.session.commit()
    click.echo(f"{entry.code}  {entry_url(current_app.config['PUBLIC_BASE_URL'], entry.code)}")


def _utc(moment: datetime | None) -> datetime | None:
    """A naive command-line time read as UTC."""
    from datetime import UTC
    return moment.replace(tzinfo=UTC) if moment else None


def _entry(code: str) -> EntryPoint:
    """An entry point by code."""
    entry = db.session.scalar(select(EntryPoint).filter_by(code=code.strip().upper()))
    if entry is None:
        raise click.ClickException(f"no code {code!r}")
    return entry


@qr_group.command("revoke")
@click.argument("code")
def revoke_command(code: str) -> None:
    """Stop CODE from taking answers."""
    entry = _entry(code)
    revoke(entry)
    audit.record("entry_point.revoke", CLI_ACTOR.name, object_type="entry_point",
                 object_id=entry.id, code=entry.code)
    db.session.commit()
    click.echo(f"{entry.code}: revoked")


@qr_group.command("rotate")
@click.argument("code")
def rotate_command(code: str) -> None:
    """Revoke CODE and issue a new code with the same meaning; print the new one."""
    entry = _entry(code)
    fresh = rotate(entry)
    audit.record("entry_point.rotate", CLI_ACTOR.name, object_type="entry_point",
                 object_id=fresh.id, old_code=entry.code, code=fresh.code)
    db.session.commit()
    click.echo(f"{entry.code} → {fresh.code}  {entry_url(current_app.config['PUBLIC_BASE_URL'], fresh.code)}")


@click.group("api-keys", cls=AppGroup, help="API keys of one-stop software (one or more per unit).")
def api_keys_group() -> None:
    """API key commands."""


@api_keys_group.command("create")
@click.option("--unit", "unit_code", required=True, help="Unit code the key issues codes for.")
@click.option("--name", required=True, help="What uses it, e.g. 'iGate VNPT Đồng Tháp'.")
def create_key_command(unit_code: str, name: str) -> None:
    """Create a key and print it once (only its hash is stored)."""
    unit = db.session.scalar(select(Unit).filter_by(code=unit_code))
    if unit is None:
        raise click.ClickException(f"no unit {unit_code!r}")
    try:
        key, raw = api_keys.create_key(unit, name)
    except api_keys.ApiKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    audit.record("api_key.create", CLI_ACTOR.name, object_type="api_key", object_id=key.id,
                 prefix=key.prefix, unit_id=unit.id)
    db.session.commit()
    click.echo(raw)
    click.echo(f"(key {key.prefix} for {unit.name}; shown once, store it in the one-stop software)",
               err=True)


@api_keys_group.command("revoke")
@click.argument("prefix")
def revoke_key_command(prefix: str) -> None:
    """Revoke the key whose visible prefix is PREFIX (or sipas_PREFIX)."""
    key = api_keys.find_key(prefix)
    if key is None:
        raise click.ClickException(f"no key {prefix!r}")
    api_keys.revoke_key(key)
    audit.record("api_key.revoke", CLI_ACTOR.name, object_type="api_key", object_id=key.id,
                 prefix=key.prefix)
    db.session.commit()
    click.echo(f"{key.prefix}: revoked")


@api_keys_group.command("list")
@click.option("--unit", "unit_code", help="Only this unit's keys.")
def list_keys_command(unit_code: str | None) -> None:
    """List keys: prefix, unit, name, created, last used, state."""
    ids = None
    if unit_code:
        ids = list(db.session.scalars(select(Unit.id).filter_by(code=unit_code)))
    for key in api_keys.list_keys(ids):
        state = "revoked" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(f"{key.prefix}  {state:<7}  {key.unit.code:<10}  {key.created_at:%Y-%m-%d}  "
                   f"last used {used}  {key.name}")
    if not db.session.scalar(select(ApiKey.id).limit(1)):
        click.echo("no API keys", err=True)
