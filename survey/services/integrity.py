"""Anti-gaming flags, computed when a response is stored; they never block a citizen.

A flag routes a response to the review queue (A2's ``/admin/review``); results count excluded
responses out and report flagged ones separately. Codes (``Response.flags``):

``burst_device``     more than N responses from one device cookie (or, for a browser without
                     the cookie, one client address) within M minutes;
``burst_entry``      more than N responses through one entry point (QR code) within M minutes;
``staff_session``    sent from a browser that holds a staff login or the staff-device cookie;
``counter_network``  sent from the counter's own network (``Counter.network_cidr``);
``repeated_pattern`` the same answers repeated more than N times in one unit within M minutes;
``too_fast``         the form was completed in implausibly few seconds;
``manual``           added by a reviewer (A2).

Only keyed hashes are stored: the device cookie and the client address never reach the
database in clear, and ``purge_network_hashes`` clears both after the retention period.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, bindparam, cast, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from ..models import Counter, Response
from ..models.base import utcnow
from . import direct

FLAG_CODES = ("burst_device", "burst_entry", "staff_session", "counter_network",
              "repeated_pattern", "too_fast", "manual")
# Spreadsheet programs run a text cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@dataclass(frozen=True)
class Signals:
    """What the request tells about the sender (read by the web layer, never stored raw)."""

    device_id: str | None = None
    ip: str | None = None
    staff: bool = False


@dataclass(frozen=True)
class Thresholds:
    """Flag thresholds: ``(N, M)`` means more than N responses within M minutes."""

    burst_device: tuple[int, int] = (3, 60)
    burst_entry: tuple[int, int] = (20, 10)
    repeated_pattern: tuple[int, int] = (3, 30)
    min_form_seconds: int = 8
    seconds_per_answer: float = 1.0

    @classmethod
    def from_config(cls, config: Mapping) -> Thresholds:
        """Thresholds from the app config (``INTEGRITY_*`` keys, see config.py)."""
        return cls(
            burst_device=tuple(config.get("INTEGRITY_BURST_DEVICE", cls.burst_device)),
            burst_entry=tuple(config.get("INTEGRITY_BURST_ENTRY", cls.burst_entry)),
            repeated_pattern=tuple(config.get("INTEGRITY_REPEATED_PATTERN", cls.repeated_pattern)),
            min_form_seconds=int(config.get("INTEGRITY_MIN_FORM_SECONDS", cls.min_form_seconds)),
            seconds_per_answer=float(config.get("INTEGRITY_SECONDS_PER_ANSWER",
                                                cls.seconds_per_answer)),
        )


def keyed_hash(secret: str, purpose: str, value: str, length: int) -> str:
    """HMAC-SHA256 of ``value`` under a key derived from the app secret, truncated to hex chars."""
    key = hashlib.sha256(f"sipas-{purpose}:{secret}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:length]


def answer_pattern(answers: Mapping[str, object]) -> str:
    """A short hash of the whole set of answers (same answers, same pattern)."""
    canonical = json.dumps(answers, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass
class Assessment:
    """Hashes and flags of one submission, worked out before its row is written.

    ``crossings`` holds the bursts this submission pushes over their threshold: the earlier
    responses of each are flagged too (:func:`flag_earlier`, after the row is stored).
    """

    device_hash: str | None
    ip_hash: str | None
    answer_pattern: str
    flags: list[str]
    crossings: list[tuple[str, list]] = field(default_factory=list)


def assess(*, answers: Mapping[str, object], signals: Signals, secret: str, thresholds: Thresholds,
           entry_point_id: int | None, unit_id: int, counter_network: str | None,
           submitted_at: datetime, form_seconds: int | None, exclude_id: int | None = None
           ) -> Assessment:
    """Hashes and flags for a submission, with ONE query (the three burst counts together).

    Nothing here writes: the caller stores the hashes and flags in the response's INSERT, so a
    flag costs no UPDATE. ``counter_network`` is the counter's ``network_cidr`` (already loaded
    with the entry point). ``exclude_id`` leaves a response already stored out of the counts.
    """
    device_hash = keyed_hash(secret, "device", signals.device_id, 32) if signals.device_id else None
    ip_hash = keyed_hash(secret, "ip", signals.ip, 16) if signals.ip else None
    pattern = answer_pattern(answers)
    found = []
    if signals.staff:
        found.append("staff_session")
    if signals.ip and on_network(counter_network, signals.ip):
        found.append("counter_network")
    if _too_fast(form_seconds, len(answers), thresholds):
        found.append("too_fast")
    device_value = device_hash or ip_hash
    checks = [("burst_device", device_value, thresholds.burst_device),
              ("burst_entry", entry_point_id, thresholds.burst_entry),
              ("repeated_pattern", pattern, thresholds.repeated_pattern)]
    params = {"device": device_value, "entry": entry_point_id, "pattern": pattern, "unit": unit_id,
              "at": submitted_at, "exclude": exclude_id if exclude_id is not None else 0}
    for code, _value, (limit, minutes) in checks:
        params[f"{code}_since"] = submitted_at - timedelta(minutes=minutes)
        params[f"{code}_cap"] = limit + 1  # "over the threshold" needs no exact count
    stmt = _count_statement(device_hash is not None)
    rows = direct.execute(stmt, params, alone=True)  # a read: on its own unless a transaction is open
    counts = rows.fetchone() if rows is not None else db.session.execute(stmt, params).one()
    crossings = []
    for (code, value, (limit, minutes)), earlier in zip(checks, counts, strict=True):
        if value is None or earlier < limit:
            continue
        found.append(code)
        if earlier == limit:  # the threshold is crossed now: the earlier ones belong to the burst
            crossings.append((code, _scope(code, device_hash is not None, value, unit_id,
                                           submitted_at, minutes, exclude_id)))
    return Assessment(device_hash, ip_hash, pattern, found, crossings)


def _key_conditions(code: str, by_device: bool, value, unit) -> list:
    """What makes an earlier response part of the same burst as this one."""
    if code == "burst_device":  # the device cookie, or the address for a browser without one
        return [(Response.device_hash if by_device else Response.ip_hash) == value]
    if code == "burst_entry":
        return [Response.entry_point_id == value]
    # The same answers only count within one unit.
    return [Response.answer_pattern == value, Response.unit_id == unit]


_COUNTS: dict[bool, object] = {}


def _count_statement(by_device: bool):
    """The three burst counts in one statement (a scalar subquery each, on its own index).

    Each count stops at ``<code>_cap`` rows (the threshold + 1, a ``LIMIT`` inside the count):
    :func:`assess` only tells "under the threshold", "exactly at it" (the burst is crossed now)
    and "over it", so counting further changes nothing, and a busy poster's or a common answer
    pattern's hundreds of recent rows are no longer walked on every submission.
    Built once; every value is a bound parameter (``exclude`` 0 when nothing is left out).
    """
    stmt = _COUNTS.get(by_device)
    if stmt is None:
        keys = {"burst_device": bindparam("device"), "burst_entry": bindparam("entry"),
                "repeated_pattern": bindparam("pattern")}
        columns = []
        for code, value in keys.items():
            where = [*_key_conditions(code, by_device, value, bindparam("unit")),
                     Response.submitted_at > bindparam(f"{code}_since"),
                     Response.submitted_at <= bindparam("at"), Response.id != bindparam("exclude")]
            capped = select(literal_column("1").label("one")).select_from(Response).where(*where) \
                .limit(bindparam(f"{code}_cap", type_=BigInteger)).subquery(f"{code}_rows")
            columns.append(select(func.count()).select_from(capped).scalar_subquery().label(code))
        stmt = _COUNTS[by_device] = select(*columns)
    return stmt


def _scope(code: str, by_device: bool, value, unit, at: datetime, minutes: int,
           exclude_id: int | None) -> list:
    """The filter of one burst's earlier responses (for flagging them when it is crossed)."""
    scope = [*_key_conditions(code, by_device, value, unit),
             Response.submitted_at > at - timedelta(minutes=minutes), Response.submitted_at <= at]
    if exclude_id is not None:
        scope.append(Response.id != exclude_id)
    return scope


def flag_earlier(assessment: Assessment, stored_id: int) -> None:
    """Flag the earlier responses of each burst this submission crossed (rare; never blocks)."""
    for code, scope in assessment.crossings:
        _flag_earlier([*scope, Response.id != stored_id], code)


def assess_response(response: Response, answers: Mapping[str, object], signals: Signals, *,
                    secret: str, thresholds: Thresholds) -> list[str]:
    """Store the hashes on a just-created ``response`` and set its flags; return the new flags.

    For callers that store the response first (the demo, tests): call after ``submit_response``
    created the row (it is flushed) and before the commit; this costs an UPDATE. The public form
    passes its signals to ``submit_response`` instead, which writes all of it in the INSERT.
    """
    network = None
    if signals.ip and response.counter_id is not None:
        network = db.session.scalar(select(Counter.network_cidr).filter_by(id=response.counter_id))
    found = assess(answers=answers, signals=signals, secret=secret, thresholds=thresholds,
                   entry_point_id=response.entry_point_id, unit_id=response.unit_id,
                   counter_network=network, submitted_at=response.submitted_at,
                   form_seconds=response.form_seconds, exclude_id=response.id)
    response.device_hash, response.ip_hash = found.device_hash, found.ip_hash
    response.answer_pattern = found.answer_pattern
    response.flags = sorted(set(response.flags or []) | set(found.flags))
    db.session.flush()
    flag_earlier(found, response.id)
    return found.flags


def _too_fast(seconds: int | None, answered: int, thresholds: Thresholds) -> bool:
    """Faster than a floor, or than a second per answer (nobody reads 22 questions in 10 s)."""
    if seconds is None:
        return False
    return seconds < max(thresholds.min_form_seconds, thresholds.seconds_per_answer * answered)


def on_network(cidrs: str | None, ip: str) -> bool:
    """Whether ``ip`` is inside a counter's network(s) (``network_cidr``: comma-separated CIDRs)."""
    if not cidrs:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for cidr in cidrs.replace(";", ",").split(","):
        try:
            if cidr.strip() and address in ipaddress.ip_network(cidr.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def _flag_earlier(scope: list, code: str) -> None:
    """Append ``code`` to earlier responses of a burst; a lock conflict only skips this step.

    On PostgreSQL one UPDATE merges the code into each row's sorted flags (byte order, as
    ``sorted`` orders them); elsewhere the rows are read and updated one by one.
    """
    try:
        with db.session.begin_nested():
            if db.session.get_bind().dialect.name == "postgresql":
                db.session.execute(update(Response).where(
                    *scope, ~func.coalesce(cast(Response.flags, JSONB), text("'[]'::jsonb")).has_key(code))
                    .values(flags=_MERGED_FLAGS.bindparams(code=code))
                    .execution_options(synchronize_session=False))
                return
            rows = db.session.execute(select(Response.id, Response.flags).where(*scope)
                                      .order_by(Response.id)).all()
            for rid, flags in rows:
                if code not in (flags or []):
                    db.session.execute(update(Response).where(Response.id == rid)
                                       .values(flags=sorted({*(flags or []), code}))
                                       .execution_options(synchronize_session=False))
    except DBAPIError:  # never let a flag cost a citizen's answer
        pass


# A row's flags with :code added, sorted as Python sorts strings (the C collation: byte order).
_MERGED_FLAGS = text("""(SELECT json_agg(f ORDER BY f COLLATE "C") FROM (
    SELECT json_array_elements_text(COALESCE(responses.flags, '[]'::json)) AS f
    UNION SELECT CAST(:code AS text)) AS merged)""")


def purge_network_hashes(older_than_days: int, now: datetime | None = None) -> int:
    """Clear device and address hashes of responses older than the retention; return the count."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    result = db.session.execute(
        update(Response)
        .where(Response.submitted_at < cutoff,
               (Response.ip_hash.is_not(None)) | (Response.device_hash.is_not(None)))
        .values(ip_hash=None, device_hash=None)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


def neutralise_cell(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe.

    Numbers, dates and None pass unchanged (exports never turn numbers into text).
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
