"""Finding the entry point behind a scanned code and deciding whether it still takes answers."""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Campaign, EntryPoint, QuestionnaireVersion
from ..models.base import utcnow
from . import direct

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
# No 0/O, 1/I/L: codes are typed from paper as well as scanned.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


class EntryPointUnavailable(Exception):
    """The code cannot take an answer now; ``reason`` picks the page, ``status`` 404 or 410."""

    def __init__(self, reason: str):
        self.reason = reason
        self.status = 404 if reason == "unknown" else 410
        super().__init__(reason)


def new_code() -> str:
    """A short random code (31^8 ≈ 8.5·10^11 values), unguessable enough for a URL."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


_CANONICAL = re.compile(r"[A-Z0-9]+")


def normalise_code(code: str) -> str:
    """Accept codes typed in lower case, with dashes, dots or spaces, full-width or with tone marks.

    A phone keyboard with Vietnamese input (Telex, VNI) may turn "D" into "Đ" or put a tone mark
    on a vowel; those marks are dropped, so "ảbcđ" reads as "ABCD".
    """
    if _CANONICAL.fullmatch(code):  # as printed: nothing to change (every request's case)
        return code
    code = unicodedata.normalize("NFKD", code).replace("đ", "d").replace("Đ", "D")
    code = "".join(ch for ch in code if not unicodedata.combining(ch))
    return "".join(ch for ch in code if ch.isalnum()).upper()


def find_entry_point(code: str) -> EntryPoint:
    """The entry point for ``code``; raise EntryPointUnavailable('unknown') if there is none."""
    code = normalise_code(code)
    if not code or len(code) > 16:
        raise EntryPointUnavailable("unknown")
    entry = db.session.scalar(
        select(EntryPoint).filter_by(code=code).options(
            # The version's stored JSON copy is read only when the shipped file differs.
            joinedload(EntryPoint.campaign).joinedload(Campaign.questionnaire_version)
            .defer(QuestionnaireVersion.definition),
            joinedload(EntryPoint.unit), joinedload(EntryPoint.counter),
            joinedload(EntryPoint.field)))
    if entry is None:
        raise EntryPointUnavailable("unknown")
    return entry


def check_open(entry: EntryPoint, now: datetime | None = None) -> None:
    """Raise EntryPointUnavailable unless ``entry`` accepts a new response at ``now``."""
    now = now or utcnow()
    if entry.revoked_at is not None:
        raise EntryPointUnavailable("revoked")
    if entry.kind == "single_use" and entry.used_at is not None:
        raise EntryPointUnavailable("used")
    if entry.active_from and now < _aware(entry.active_from):
        raise EntryPointUnavailable("not_yet")
    if entry.active_until and now > _aware(entry.active_until):
        raise EntryPointUnavailable("expired")
    today = now.astimezone(LOCAL).date()
    if today < entry.campaign.starts_on:
        raise EntryPointUnavailable("not_yet")
    if today > entry.campaign.ends_on:
        raise EntryPointUnavailable("closed")


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Characters a person may read or type for another when copying a code from paper. Codes never
# contain 0, O, 1, I or L, so those always stand for something else.
CONFUSABLE = {"0": "DQ", "O": "DQ", "1": "JT7", "I": "JT7", "L": "JT7",
              "5": "5S", "S": "S5", "2": "2Z", "Z": "Z2", "8": "8B", "B": "B8",
              "6": "6G", "G": "G6", "U": "UV", "V": "VU"}
MAX_VARIANTS = 256


def resolve_typed_code(text: str) -> str | None:
    """The one existing code a typed text means, or None (unknown or ambiguous).

    An exact match (after :func:`normalise_code`) wins; otherwise every reading of confusable
    characters is looked up in one query, and exactly one hit is accepted.
    """
    code = normalise_code(text)
    if not 4 <= len(code) <= 16:
        return None
    if db.session.scalar(select(EntryPoint.code).filter_by(code=code)) is not None:
        return code
    variants = [""]
    for ch in code:
        variants = [v + alt for v in variants for alt in CONFUSABLE.get(ch, ch)]
        if len(variants) > MAX_VARIANTS:
            return None
    hits = db.session.scalars(select(EntryPoint.code).where(EntryPoint.code.in_(variants))).all()
    return hits[0] if len(hits) == 1 else None


# --- The public form's read of a code: one Core row, no ORM objects -----------------------------

class _Row:
    """Attributes from a mapping (a read-only view of a few columns)."""

    def __init__(self, **values):
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.__dict__}>"


class VersionView(_Row):
    """The columns of a questionnaire version the form needs; ``definition`` is read on demand
    (only when the shipped questionnaire file is missing or differs)."""

    @property
    def definition(self):
        """The stored JSON copy of the questionnaire."""
        return db.session.scalar(select(QuestionnaireVersion.definition).filter_by(id=self.id))


class EntryView(_Row):
    """An entry point as the public form reads it: its own columns and those of its campaign,
    questionnaire version, unit, counter and field, all from one Core row read on every request
    (never cached: revocation, use and dates are current). ``scanned``: whether the read also
    counted a scan (None when it was not asked to, or could not)."""


def load_entry_point(code: str, scan_at: datetime | None = None) -> EntryView:
    """The entry point behind ``code`` with what the form needs, in one query without ORM loading.

    Raise EntryPointUnavailable('unknown') if there is none. Same answer as
    :func:`find_entry_point`, about half its CPU: the public form runs it on every GET and POST.

    ``scan_at`` (the form's GET): on PostgreSQL, outside a transaction, the same statement also
    counts a scan at that moment when the code takes answers then (:func:`check_open`'s rules,
    written in SQL: ``_scanning_statement``), so the GET is one round trip; ``scanned`` says
    whether it counted one. Elsewhere ``scanned`` is None and the caller records the scan.
    """
    code = normalise_code(code)
    if not code or len(code) > 16:
        raise EntryPointUnavailable("unknown")
    stmt, params, scanning = _entry_statement(), {"code": code}, False
    if scan_at is not None and db.engine.dialect.driver == "psycopg" and not direct.in_transaction():
        from .scans import scan_values
        stmt, scanning = _scanning_statement(), True
        params.update(scan_values(scan_at), now=scan_at)
    rows = direct.execute(stmt, params, alone=True)
    row = rows.mapping() if rows is not None else db.session.execute(stmt, params).mappings().first()
    if row is None:
        raise EntryPointUnavailable("unknown")
    values = {name: row[f"e_{name}"] for name in _ENTRY_COLUMNS}
    version = VersionView(id=row["v_id"], questionnaire_id=row["v_questionnaire_id"],
                          version=row["v_version"], content_hash=row["v_content_hash"])
    campaign = _Row(id=values["campaign_id"], starts_on=row["c_starts_on"], ends_on=row["c_ends_on"],
                    questionnaire_version_id=version.id, questionnaire_version=version)
    unit = _Row(id=values["unit_id"], name=row["u_name"])
    counter = (_Row(id=values["counter_id"], name=row["k_name"], network_cidr=row["k_network_cidr"])
               if values["counter_id"] is not None else None)
    field = (_Row(id=values["field_id"], code=row["f_code"], name=row["f_name"])
             if values["field_id"] is not None else None)
    return EntryView(**values, campaign=campaign, unit=unit, counter=counter, field=field,
                     scanned=bool(row["scanned"]) if scanning else None)


_ENTRY_COLUMNS = ("id", "code", "kind", "campaign_id", "unit_id", "counter_id", "field_id",
                  "active_from", "active_until", "revoked_at", "used_at")
_STATEMENT: list = []


def _entry_statement():
    """The joined SELECT behind :func:`load_entry_point`, built once (the code is bound)."""
    if not _STATEMENT:
        from ..models import Counter, ProcedureField, Unit
        e = EntryPoint.__table__
        columns = [e.c[name].label(f"e_{name}") for name in _ENTRY_COLUMNS]
        columns += [Campaign.starts_on.label("c_starts_on"), Campaign.ends_on.label("c_ends_on"),
                    QuestionnaireVersion.id.label("v_id"),
                    QuestionnaireVersion.questionnaire_id.label("v_questionnaire_id"),
                    QuestionnaireVersion.version.label("v_version"),
                    QuestionnaireVersion.content_hash.label("v_content_hash"),
                    Unit.name.label("u_name"), Counter.name.label("k_name"),
                    Counter.network_cidr.label("k_network_cidr"),
                    ProcedureField.code.label("f_code"), ProcedureField.name.label("f_name")]
        _STATEMENT.append(
            select(*columns)
            .join(Campaign, Campaign.id == e.c.campaign_id)
            .join(QuestionnaireVersion, QuestionnaireVersion.id == Campaign.questionnaire_version_id)
            .join(Unit, Unit.id == e.c.unit_id)
            .outerjoin(Counter, Counter.id == e.c.counter_id)
            .outerjoin(ProcedureField, ProcedureField.id == e.c.field_id)
            .where(e.c.code == bindparam("code")))
    return _STATEMENT[0]


_SCANNING: list = []


def _scanning_statement():
    """PostgreSQL: :func:`_entry_statement` and, in the same statement, the scan upsert of
    ``scans.record_scan`` for the code's row when it is open at ``now`` (``day`` its local date):
    ``WITH e AS (<the read>), s AS (INSERT INTO scan_counts SELECT … FROM e WHERE <open> ON
    CONFLICT … DO UPDATE …) SELECT e.*, (SELECT count(*) FROM s) AS scanned FROM e``. The
    conditions are those of :func:`check_open` (tests/services/test_entry_points.py holds them
    side by side for every state)."""
    if not _SCANNING:
        from sqlalchemy import and_, func, literal, or_
        from sqlalchemy.dialects import postgresql

        from ..models import ScanCount
        e = _entry_statement().cte("e")
        now, day = bindparam("now"), bindparam("day", type_=ScanCount.day.type)
        open_now = and_(
            e.c.e_revoked_at.is_(None), or_(e.c.e_kind != "single_use", e.c.e_used_at.is_(None)),
            or_(e.c.e_active_from.is_(None), e.c.e_active_from <= now),
            or_(e.c.e_active_until.is_(None), e.c.e_active_until >= now),
            e.c.c_starts_on <= day, e.c.c_ends_on >= day)
        table = ScanCount.__table__
        counted = (postgresql.insert(table)
                   .from_select(["entry_point_id", "day", "shard", "scans"],
                                select(e.c.e_id, day, bindparam("shard", type_=table.c.shard.type),
                                       literal(1)).where(open_now))
                   .on_conflict_do_update(index_elements=["entry_point_id", "day", "shard"],
                                          set_={"scans": table.c.scans + 1})
                   .returning(table.c.entry_point_id).cte("s"))
        scanned = select(func.count()).select_from(counted).scalar_subquery().label("scanned")
        _SCANNING.append(select(*e.c, scanned))
    return _SCANNING[0]
