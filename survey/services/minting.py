"""Issuing QR codes: static codes for posters, single-use batches, one code per dossier.

Also revoking, rotating (revoke + a fresh code with the same meaning) and the active window.
Dossier codes from the one-stop software are never stored: only an HMAC-SHA256 keyed with a
server secret, over the unit id and the dossier code, so the same dossier at the same unit always
finds its code again while the table reveals nothing about dossiers.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Campaign, CampaignUnit, Counter, EntryPoint, ProcedureField, Unit, User
from ..models.base import utcnow
from .entry_points import LOCAL, new_code

MAX_BATCH = 1000


def N_(message: str) -> str:
    """Mark a message for the catalogue; views translate it with ``MintingError.translated``."""
    return message


class MintingError(ValueError):
    """A request to issue codes that cannot be honoured; the message is for the user (Vietnamese)."""

    def __init__(self, message: str, **params: object):
        self.message, self.params = message, params
        super().__init__(message % params if params else message)

    def translated(self, gettext) -> str:
        """The message in the page's language (``gettext`` is flask_babel's)."""
        return gettext(self.message, **self.params)


def entry_url(base_url: str, code: str) -> str:
    """The short URL printed in a QR code: ``https://host/s/XXXXXXXX``."""
    return f"{base_url.rstrip('/')}/s/{code}"


def dossier_hash(key: str | bytes, unit_id: int, dossier_code: str) -> str:
    """Keyed hash (hex HMAC-SHA256) of a dossier code at a unit; the raw code is never stored."""
    key = key.encode() if isinstance(key, str) else key
    message = f"{unit_id}\x1f{dossier_code.strip()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def current_campaign(unit: Unit, today: date | None = None) -> Campaign | None:
    """The campaign open today (Asia/Ho_Chi_Minh) for ``unit`` or its nearest surveyed ancestor."""
    today = today or utcnow().astimezone(LOCAL).date()
    chain, node = [], unit
    while node is not None and len(chain) < 32:
        chain.append(node.id)
        node = node.parent
    rows = db.session.execute(
        select(Campaign, CampaignUnit.unit_id).join(CampaignUnit)
        .where(CampaignUnit.unit_id.in_(chain), Campaign.starts_on <= today,
               Campaign.ends_on >= today)
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())).all()
    for unit_id in chain:  # the unit's own campaign wins over an ancestor's
        for campaign, member in rows:
            if member == unit_id:
                return campaign
    return None


def create_static(*, campaign: Campaign, unit: Unit, counter: Counter | None = None,
                  field: ProcedureField | None = None, staff: User | None = None,
                  active_from: datetime | None = None, active_until: datetime | None = None,
                  label: str | None = None) -> EntryPoint:
    """A static code (poster) for a unit, optionally a counter, a field and a staff member."""
    _check_parts(unit, counter, field, staff)
    _check_window(active_from, active_until)
    entry = EntryPoint(code=_fresh_codes(1)[0], kind="static", campaign_id=campaign.id,
                       unit_id=unit.id, counter_id=counter.id if counter else None,
                       field_id=field.id if field else None, staff_user_id=staff.id if staff else None,
                       active_from=active_from, active_until=active_until, label=label)
    db.session.add(entry)
    db.session.flush()
    return entry


def create_single_use_batch(*, campaign: Campaign, unit: Unit, count: int,
                            counter: Counter | None = None, field: ProcedureField | None = None,
                            active_until: datetime | None = None,
                            label: str | None = None) -> list[EntryPoint]:
    """``count`` single-use codes for printed slips, all with the same meaning."""
    if not 1 <= count <= MAX_BATCH:
        raise MintingError(N_("Số phiếu phải từ 1 đến %(n)s."), n=MAX_BATCH)
    _check_parts(unit, counter, field, None)
    _check_window(None, active_until)
    entries = [EntryPoint(code=code, kind="single_use", campaign_id=campaign.id, unit_id=unit.id,
                          counter_id=counter.id if counter else None,
                          field_id=field.id if field else None, active_until=active_until,
                          label=label) for code in _fresh_codes(count)]
    db.session.add_all(entries)
    db.session.flush()
    return entries


def mint_for_dossier(*, key: str | bytes, unit: Unit, dossier_code: str, campaign: Campaign,
                     counter: Counter | None = None, field: ProcedureField | None = None,
                     valid_days: int = 30, now: datetime | None = None) -> tuple[EntryPoint, bool]:
    """The single-use code of a dossier: (entry, created). The same dossier gets the same code.

    Two identical requests at once both try to insert; the unique dossier hash lets one win and
    the other reads the winner's row. The code expires ``valid_days`` after issue or when the
    campaign ends, whichever is first.
    """
    if not dossier_code.strip():
        raise MintingError(N_("Thiếu mã hồ sơ."))
    _check_parts(unit, counter, field, None)
    digest = dossier_hash(key, unit.id, dossier_code)
    found = _by_dossier(digest)
    if found is not None:
        return found, False
    now = now or utcnow()
    campaign_end = datetime.combine(campaign.ends_on + timedelta(days=1), time(), LOCAL)
    until = min(now + timedelta(days=valid_days), campaign_end)
    for _attempt in range(5):
        entry = EntryPoint(code=_fresh_codes(1)[0], kind="single_use", campaign_id=campaign.id,
                           unit_id=unit.id, counter_id=counter.id if counter else None,
                           field_id=field.id if field else None, dossier_hash=digest,
                           active_until=until)
        try:
            with db.session.begin_nested():
                db.session.add(entry)
                db.session.flush()
        except IntegrityError:
            found = _by_dossier(digest)
            if found is not None:
                return found, False
            continue  # a code collision: draw again
        return entry, True
    raise RuntimeError("could not draw a free code")


def revoke(entry: EntryPoint, now: datetime | None = None) -> None:
    """Stop a code from taking answers (idempotent; the first revocation time is kept)."""
    if entry.revoked_at is None:
        entry.revoked_at = now or utcnow()
    db.session.flush()


def rotate(entry: EntryPoint, now: datetime | None = None) -> EntryPoint:
    """Revoke ``entry`` and issue a new code with the same meaning (e.g. a defaced poster)."""
    revoke(entry, now)
    digest, entry.dossier_hash = entry.dossier_hash, None
    db.session.flush()
    fresh = EntryPoint(code=_fresh_codes(1)[0], kind=entry.kind, campaign_id=entry.campaign_id,
                       unit_id=entry.unit_id, counter_id=entry.counter_id, field_id=entry.field_id,
                       staff_user_id=entry.staff_user_id, dossier_hash=digest,
                       active_from=entry.active_from, active_until=entry.active_until,
                       label=entry.label)
    db.session.add(fresh)
    db.session.flush()
    return fresh


def set_window(entry: EntryPoint, active_from: datetime | None,
               active_until: datetime | None) -> None:
    """Change when a code takes answers (None = no limit on that side)."""
    _check_window(active_from, active_until)
    entry.active_from, entry.active_until = active_from, active_until
    db.session.flush()


def _by_dossier(digest: str) -> EntryPoint | None:
    """The entry point already minted for a dossier hash."""
    return db.session.scalar(select(EntryPoint).filter_by(dossier_hash=digest))


def _fresh_codes(count: int) -> list[str]:
    """``count`` distinct new codes not yet in the table (checked in one query per draw)."""
    codes: set[str] = set()
    while len(codes) < count:
        draw = {new_code() for _ in range(count - len(codes))} - codes
        taken = set(db.session.scalars(select(EntryPoint.code).where(EntryPoint.code.in_(draw))))
        codes |= draw - taken
    return sorted(codes)


def _check_parts(unit: Unit, counter: Counter | None, field: ProcedureField | None,
                 staff: User | None) -> None:
    """The counter (and staff member) must belong to the unit."""
    if counter is not None and counter.unit_id != unit.id:
        raise MintingError(N_("Quầy không thuộc đơn vị này."))
    if staff is not None and staff.unit_id != unit.id:
        raise MintingError(N_("Cán bộ không thuộc đơn vị này."))


def _check_window(active_from: datetime | None, active_until: datetime | None) -> None:
    """An active window must not end before it starts."""
    if active_from and active_until and active_until <= active_from:
        raise MintingError(N_("Thời điểm kết thúc phải sau thời điểm bắt đầu."))
