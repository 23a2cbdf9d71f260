"""Paper questionnaires: print batches with serial numbers, and finding a form by its serial.

Every printed form gets

- a serial number (số phiếu) of nine digits, the last a Damm check digit, so any single mistyped
  digit or swap of two neighbours is caught as it is typed; serials are drawn at random and
  never repeat any serial already stored;
- its own single-use QR code, the online version of the same form: a form answered online
  cannot also be entered from paper, and a form entered from paper no longer opens online.

Each batch is an audit entry (``paper.print``: who, how many, which serials).
"""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import Campaign, CampaignUnit, Counter, PaperBatch, PaperForm, Unit
from ..models.base import utcnow
from ..printing.paper import PaperCopy, PaperDocument, render_paper
from ..questionnaires import Questionnaire
from . import audit
from .minting import MAX_BATCH, create_single_use_batch, entry_url
from .paper_codes import layout
from .questionnaires import questionnaire_of

# Damm's quasigroup of order 10: a check digit that catches every single-digit error and every
# adjacent transposition.
DAMM = ("0317598642", "7092154863", "4206871359", "1750983426", "6123045978",
        "3674209581", "5869720134", "8945362017", "9438617205", "2581436790")
SERIAL_NAMESPACE = uuid.UUID("6f1f3a52-4d5e-4b8a-9d0e-7a1c2b3d4e5f")
LEGEND = ("Mức độ hài lòng: 1 = Rất không hài lòng · 2 = Không hài lòng · 3 = Bình thường · "
          "4 = Hài lòng · 5 = Rất hài lòng · 0 = Không áp dụng / Không biết")


def N_(message: str) -> str:
    """Mark a message for the catalogue; it is translated where it is shown."""
    return message


class PaperError(ValueError):
    """A request about paper forms that cannot be honoured; the message is for the clerk."""

    def __init__(self, message: str, **params: object):
        self.message, self.params = message, params
        super().__init__(message % params if params else message)

    def translated(self, gettext) -> str:
        """The message in the page's language (``gettext`` is flask_babel's)."""
        return gettext(self.message, **self.params)


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (id and name) or the command line."""

    name: str
    user_id: int | None = None


def damm(digits: str) -> int:
    """The Damm checksum of a digit string (0 when its last digit is a correct check digit)."""
    interim = 0
    for d in digits:
        interim = int(DAMM[interim][int(d)])
    return interim


def new_serial() -> str:
    """Nine digits: eight random ones (the first never 0, so spreadsheets keep it) + check digit."""
    body = str(10_000_000 + secrets.randbelow(90_000_000))
    return body + str(damm(body))


def serial_is_valid(serial: str) -> bool:
    """A printed serial: nine digits whose Damm checksum is 0."""
    return len(serial) == 9 and serial.isdigit() and damm(serial) == 0


def normalise_serial(text: str) -> str:
    """A typed serial without spaces, dashes or dots, full-width digits made ASCII, upper case."""
    text = unicodedata.normalize("NFKC", str(text))
    return "".join(ch for ch in text if ch.isalnum()).upper()[:32]


def paper_uuid(campaign_id: int, serial: str) -> str:
    """The submission UUID of a paper form: the same serial always gives the same UUID, so the
    unique submission UUID of responses stores a form at most once even under a race."""
    return str(uuid.uuid5(SERIAL_NAMESPACE, f"paper:{campaign_id}:{serial}"))


def fresh_serials(count: int) -> list[str]:
    """``count`` new serials not yet used by any form (checked in one query per draw)."""
    serials: set[str] = set()
    while len(serials) < count:
        draw = {new_serial() for _ in range(count - len(serials))} - serials
        taken = set(db.session.scalars(select(PaperForm.serial).where(PaperForm.serial.in_(draw))))
        serials |= draw - taken
    return sorted(serials)


def campaign_covers(campaign: Campaign, unit: Unit) -> bool:
    """Whether the campaign surveys ``unit`` or one of its ancestors."""
    chain, node = [], unit
    while node is not None and len(chain) < 32:
        chain.append(node.id)
        node = node.parent
    return db.session.scalar(select(CampaignUnit.unit_id).where(
        CampaignUnit.campaign_id == campaign.id, CampaignUnit.unit_id.in_(chain)).limit(1)) is not None


def create_batch(*, campaign: Campaign, unit: Unit, counter: Counter | None, count: int,
                 double_entry: bool, actor: Actor, source: str = "print",
                 serials: list[str] | None = None) -> PaperBatch:
    """A batch of forms: serials, one single-use QR code each, the audit entry."""
    if not 1 <= count <= MAX_BATCH:
        raise PaperError(N_("Số phiếu phải từ 1 đến %(n)s."), n=MAX_BATCH)
    if counter is not None and counter.unit_id != unit.id:
        raise PaperError(N_("Quầy không thuộc đơn vị này."))
    if not campaign_covers(campaign, unit):
        raise PaperError(N_("Đợt khảo sát «%(campaign)s» không khảo sát đơn vị «%(unit)s»."),
                         campaign=campaign.name, unit=unit.name)
    serials = serials or fresh_serials(count)
    label = f"Phiếu giấy {utcnow():%Y-%m-%d %H:%M} UTC · {actor.name}"[:200]
    entries = create_single_use_batch(campaign=campaign, unit=unit, counter=counter, count=count,
                                      label=label)
    batch = PaperBatch(campaign_id=campaign.id, unit_id=unit.id,
                       counter_id=counter.id if counter else None, source=source,
                       double_entry=double_entry, count=count, created_by_id=actor.user_id)
    db.session.add(batch)
    db.session.flush()
    db.session.add_all([PaperForm(serial=serial, batch_id=batch.id, campaign_id=campaign.id,
                                  unit_id=unit.id, entry_point_id=entry.id, status="printed")
                        for serial, entry in zip(serials, entries, strict=True)])
    db.session.flush()
    action = "paper.print" if source == "print" else "paper.serials_added"
    audit.record(action, actor.name, user_id=actor.user_id, object_type="paper_batch",
                 object_id=batch.id, campaign_id=campaign.id, unit_id=unit.id, count=count,
                 double_entry=double_entry, serials=serials)
    return batch


def document(q: Questionnaire) -> PaperDocument:
    """The questionnaire as printed (Vietnamese)."""
    rated = any(i.type == "satisfaction" for i in q.items.values())
    return PaperDocument(title=q.title["vi"], intro=q.intro["vi"] if q.intro else None,
                         legend=LEGEND if rated else None, sections=layout(q, "vi"),
                         thanks=q.thanks["vi"] if q.thanks else None)


def render_batch(batch: PaperBatch, base_url: str) -> bytes:
    """The batch's forms as one A4 PDF, in serial order."""
    forms = db.session.scalars(select(PaperForm).where(PaperForm.batch_id == batch.id)
                               .order_by(PaperForm.serial)).all()
    q = questionnaire_of(batch.campaign.questionnaire_version)
    copies = [PaperCopy(serial=f.serial, url=entry_url(base_url, f.entry_point.code),
                        unit_name=batch.unit.name,
                        counter_name=batch.counter.name if batch.counter else None,
                        campaign_name=batch.campaign.name) for f in forms]
    return render_paper(document(q), copies)


def print_batch(*, campaign: Campaign, unit: Unit, counter: Counter | None, count: int,
                double_entry: bool, actor: Actor, base_url: str) -> tuple[PaperBatch, bytes]:
    """Create a batch of ``count`` forms and render it."""
    batch = create_batch(campaign=campaign, unit=unit, counter=counter, count=count,
                         double_entry=double_entry, actor=actor)
    return batch, render_batch(batch, base_url)


def find_form(serial: str, user=None) -> PaperForm:
    """The printed form with this serial in the user's subtree (all forms for the command line).

    Unknown, mistyped and other units' serials get the same answer.
    """
    from .scope import in_scope
    serial = normalise_serial(serial)
    if not serial:
        raise PaperError(N_("Vui lòng nhập số phiếu."))
    if serial.isdigit() and len(serial) == 9 and not serial_is_valid(serial):
        raise PaperError(N_("Số phiếu %(serial)s sai chữ số kiểm tra; xin đọc lại số in trên phiếu."),
                         serial=serial)
    query = select(PaperForm).where(PaperForm.serial == serial).order_by(PaperForm.id)
    if user is not None:
        query = query.where(in_scope(user, PaperForm.unit_id))
    found = db.session.scalars(query.limit(2)).all()
    if len(found) != 1:
        raise PaperError(N_("Không tìm thấy phiếu số %(serial)s trong các phiếu đã in của đơn vị."),
                         serial=serial)
    return found[0]
