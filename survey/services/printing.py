"""Printing QR material for a counter; every print batch goes into the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Counter, EntryPoint, Kiosk
from ..models.base import utcnow
from ..printing import KINDS, PrintItem, render
from . import audit
from .minting import N_, MintingError, create_single_use_batch, current_campaign, entry_url


@dataclass(frozen=True)
class Actor:
    """Who prints: a user (id and name) or the command line."""

    name: str
    user_id: int | None = None


def print_items(entries: Sequence[EntryPoint], base_url: str) -> list[PrintItem]:
    """What to print for each entry point: URL, code, unit, counter and field names."""
    typed = f"{urlsplit(base_url).netloc}{urlsplit(base_url).path.rstrip('/')}/c"
    return [PrintItem(code=e.code, url=entry_url(base_url, e.code), unit_name=e.unit.name,
                      counter_name=e.counter.name if e.counter else None,
                      field_name=e.field.name if e.field else None, typed_url=typed,
                      single_use=e.kind == "single_use") for e in entries]


def print_entries(kind: str, entries: Sequence[EntryPoint], *, actor: Actor,
                  base_url: str) -> bytes:
    """Render ``entries`` as ``kind`` and record the print batch (who, which codes, when)."""
    if kind not in KINDS:
        raise MintingError(N_("Kiểu in không hợp lệ: %(kind)s."), kind=kind)
    if not entries:
        raise MintingError(N_("Không có mã nào để in."))
    pdf = render(kind, print_items(entries, base_url))
    audit.record("qr.print", actor.name, user_id=actor.user_id, object_type="counter",
                 object_id=entries[0].counter_id, kind=kind, count=len(entries),
                 codes=[e.code for e in entries])
    return pdf


def static_codes(counter: Counter) -> list[EntryPoint]:
    """The counter's static codes that still take answers (not revoked), oldest first."""
    return list(db.session.scalars(
        select(EntryPoint).where(EntryPoint.counter_id == counter.id, EntryPoint.kind == "static",
                                 EntryPoint.revoked_at.is_(None),
                                 EntryPoint.id.not_in(select(Kiosk.entry_point_id)))  # no kiosk links
        .options(selectinload(EntryPoint.unit), selectinload(EntryPoint.counter),
                 selectinload(EntryPoint.field)).order_by(EntryPoint.id)))


def print_poster(counter: Counter, *, actor: Actor, base_url: str) -> bytes:
    """One A4 poster per static code of the counter."""
    entries = static_codes(counter)
    if not entries:
        raise MintingError(N_("Quầy này chưa có mã QR tĩnh. Xin liên hệ Phòng Nội vụ."))
    return print_entries("poster", entries, actor=actor, base_url=base_url)


def mint_and_print(counter: Counter, count: int, kind: str, *, actor: Actor,
                   base_url: str) -> tuple[list[EntryPoint], bytes]:
    """A new batch of single-use codes for the counter, rendered as slips or receipts."""
    if kind not in ("slips", "receipt"):
        raise MintingError(N_("Phiếu dùng một lần chỉ in dạng tờ A4 (slips) hoặc giấy in nhiệt (receipt)."))
    campaign = current_campaign(counter.unit)
    if campaign is None:
        raise MintingError(N_("Đơn vị không có đợt khảo sát nào đang diễn ra."))
    label = f"Lô {utcnow():%Y-%m-%d %H:%M} UTC · {actor.name}"
    entries = create_single_use_batch(campaign=campaign, unit=counter.unit, counter=counter,
                                      count=count, label=label[:200])
    audit.record("qr.batch", actor.name, user_id=actor.user_id, object_type="counter",
                 object_id=counter.id, campaign_id=campaign.id, count=count,
                 codes=[e.code for e in entries])
    return entries, print_entries(kind, entries, actor=actor, base_url=base_url)
