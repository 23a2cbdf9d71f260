"""Campaign progress: responses against targets, response rates, scans, flags, responses per day.

Everything is counted in SQL (``GROUP BY``) and restricted to the user's unit subtree through
``services.scope``; only a few rows per unit and counter reach Python. Days are calendar days in
Asia/Ho_Chi_Minh; timestamps are stored in UTC.

Rates, as shown on the dashboard:

- *response rate* = included responses ÷ transactions (hồ sơ đã trả kết quả) of the unit in the
  campaign's months (``PopulationCount``); transactions are per unit, so counters have none;
- *completion* = responses submitted through a QR code ÷ scans of the unit's or counter's codes
  (share of form openings that ended in a sent form).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, case, cast, func, literal, select

from ..extensions import db
from ..models import Campaign, CampaignUnit, Counter, EntryPoint, PopulationCount, Response, ScanCount, Unit
from ..models.base import utcnow
from .scope import in_scope

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass
class Tally:
    """Counts of one unit, counter or the whole campaign."""

    submissions: int = 0  # every stored response, excluded ones too
    excluded: int = 0
    flagged: int = 0
    via_code: int = 0  # submissions that came through a QR code (entry point)
    scans: int = 0
    last_at: datetime | None = None  # UTC

    @property
    def included(self) -> int:
        """Responses that count in the analysis."""
        return self.submissions - self.excluded

    @property
    def completion(self) -> float | None:
        """Submissions through a code ÷ scans of the codes (None without scans)."""
        return self.via_code / self.scans if self.scans else None

    def add(self, other: Tally) -> None:
        """Accumulate ``other`` into this tally."""
        self.submissions += other.submissions
        self.excluded += other.excluded
        self.flagged += other.flagged
        self.via_code += other.via_code
        self.scans += other.scans
        if other.last_at is not None and (self.last_at is None or other.last_at > self.last_at):
            self.last_at = other.last_at


@dataclass
class CounterProgress:
    """One counter of a unit (``counter_id`` None: responses not tied to a counter)."""

    counter_id: int | None
    code: str
    name: str
    tally: Tally = field(default_factory=Tally)


@dataclass
class UnitProgress:
    """One unit surveyed by the campaign, with its counters."""

    unit_id: int | None
    code: str
    name: str
    target: int | None = None
    transactions: int | None = None
    tally: Tally = field(default_factory=Tally)
    counters: list[CounterProgress] = field(default_factory=list)

    @property
    def target_share(self) -> float | None:
        """Included responses ÷ target (None without a target)."""
        return self.tally.included / self.target if self.target else None

    @property
    def response_rate(self) -> float | None:
        """Included responses ÷ transactions (None without transactions)."""
        return self.tally.included / self.transactions if self.transactions else None


@dataclass
class CampaignProgress:
    """The dashboard of one campaign as seen by one user."""

    campaign: Campaign
    units: list[UnitProgress]
    total: UnitProgress
    days: list[tuple[date, int]]  # every local day of the period so far, zeros included
    today: date


def campaign_progress(campaign: Campaign, user, *, now: datetime | None = None) -> CampaignProgress:
    """Progress of ``campaign`` over the units in ``user``'s subtree (the caller checked access)."""
    today = (now or utcnow()).astimezone(TIMEZONE).date()
    units = _campaign_units(campaign, user)
    by_id = {u.unit_id: u for u in units}
    counters = _counters(by_id)
    for (unit_id, counter_id), tally in _response_tallies(campaign.id, user).items():
        if unit_id in by_id:
            _counter_row(by_id[unit_id], counters, counter_id).tally.add(tally)
    for (unit_id, counter_id), scans in _scan_tallies(campaign.id, user).items():
        if unit_id in by_id:
            _counter_row(by_id[unit_id], counters, counter_id).tally.add(Tally(scans=scans))
    for unit_id, transactions in _transactions(campaign, user).items():
        if unit_id in by_id:
            by_id[unit_id].transactions = transactions
    total = UnitProgress(None, "", "", target=0, transactions=0)
    for unit in units:
        for row in unit.counters:
            unit.tally.add(row.tally)
        total.tally.add(unit.tally)
        total.target = (total.target or 0) + (unit.target or 0)
        total.transactions = (total.transactions or 0) + (unit.transactions or 0)
    total.target = total.target or None
    total.transactions = total.transactions or None
    return CampaignProgress(campaign, units, total, daily_responses(campaign, user, today), today)


def _campaign_units(campaign: Campaign, user) -> list[UnitProgress]:
    """The campaign's units inside the user's subtree, by official code."""
    rows = db.session.execute(
        select(Unit.id, Unit.code, Unit.name, CampaignUnit.target_n)
        .join(CampaignUnit, CampaignUnit.unit_id == Unit.id)
        .where(CampaignUnit.campaign_id == campaign.id, in_scope(user, CampaignUnit.unit_id))
        .order_by(Unit.code))
    return [UnitProgress(uid, code, name, target=target) for uid, code, name, target in rows]


def campaign_progress_units(campaign: Campaign, user) -> list[tuple[int, str]]:
    """(id, name) of the campaign's units in the user's subtree, for the unit chooser."""
    return [(u.unit_id, u.name) for u in _campaign_units(campaign, user)]


def _counters(units: dict[int, UnitProgress]) -> dict[int, CounterProgress]:
    """Every counter of the listed units (zero rows included), attached to its unit."""
    found = {}
    if not units:
        return found
    rows = db.session.execute(select(Counter.id, Counter.unit_id, Counter.code, Counter.name)
                              .where(Counter.unit_id.in_(list(units))).order_by(Counter.code))
    for cid, unit_id, code, name in rows:
        found[cid] = CounterProgress(cid, code, name)
        units[unit_id].counters.append(found[cid])
    return found


def _counter_row(unit: UnitProgress, counters: dict[int, CounterProgress],
                 counter_id: int | None) -> CounterProgress:
    """The unit's row for ``counter_id``; responses without a (known) counter share one row."""
    row = counters.get(counter_id) if counter_id is not None else None
    if row is not None and row in unit.counters:
        return row
    for existing in unit.counters:
        if existing.counter_id is None:
            return existing
    row = CounterProgress(None, "", "")
    unit.counters.append(row)
    return row


def flagged_clause():
    """Responses with at least one integrity flag (``flags`` is a JSON list)."""
    text = cast(Response.flags, Text)
    return and_(Response.flags.isnot(None), text.not_in(["[]", "null"]))


def _response_tallies(campaign_id: int, user) -> dict[tuple[int, int | None], Tally]:
    """Submissions, exclusions, flags and the last time, per unit × counter."""
    as_int = lambda cond: func.sum(case((cond, 1), else_=0))  # noqa: E731
    rows = db.session.execute(
        select(Response.unit_id, Response.counter_id, func.count(Response.id),
               as_int(Response.excluded.is_(True)), as_int(flagged_clause()),
               as_int(Response.entry_point_id.isnot(None)), func.max(Response.submitted_at))
        .where(Response.campaign_id == campaign_id, in_scope(user, Response.unit_id))
        .group_by(Response.unit_id, Response.counter_id))
    return {(unit_id, counter_id): Tally(int(n), int(excl or 0), int(flag or 0), int(coded or 0),
                                         0, _aware(last))
            for unit_id, counter_id, n, excl, flag, coded, last in rows}


def _scan_tallies(campaign_id: int, user) -> dict[tuple[int, int | None], int]:
    """Scans of the campaign's codes, per unit × counter."""
    rows = db.session.execute(
        select(EntryPoint.unit_id, EntryPoint.counter_id, func.sum(ScanCount.scans))
        .join(ScanCount, ScanCount.entry_point_id == EntryPoint.id)
        .where(EntryPoint.campaign_id == campaign_id, in_scope(user, EntryPoint.unit_id))
        .group_by(EntryPoint.unit_id, EntryPoint.counter_id))
    return {(unit_id, counter_id): int(n or 0) for unit_id, counter_id, n in rows}


def _transactions(campaign: Campaign, user) -> dict[int, int]:
    """Transactions per unit over the months the campaign period touches."""
    first_month = campaign.starts_on.replace(day=1)
    rows = db.session.execute(
        select(PopulationCount.unit_id, func.sum(PopulationCount.transactions))
        .where(PopulationCount.month >= first_month, PopulationCount.month <= campaign.ends_on,
               in_scope(user, PopulationCount.unit_id))
        .group_by(PopulationCount.unit_id))
    return {unit_id: int(n or 0) for unit_id, n in rows}


def local_day(column, moment: date):
    """SQL for the Asia/Ho_Chi_Minh calendar day of a UTC timestamp column."""
    if db.engine.dialect.name == "postgresql":
        return func.date(func.timezone(literal("Asia/Ho_Chi_Minh"), column))
    # SQLite keeps UTC wall time as text; Vietnam has one fixed offset (UTC+7, no daylight saving).
    noon = datetime.combine(moment, datetime.min.time()).replace(hour=12, tzinfo=TIMEZONE)
    minutes = int(noon.utcoffset().total_seconds() // 60)
    return func.date(column, f"{minutes:+d} minutes")


def daily_responses(campaign: Campaign, user, today: date) -> list[tuple[date, int]]:
    """Included responses per local day from the campaign start to today (or its end)."""
    inner = (select(local_day(Response.submitted_at, campaign.starts_on).label("day"))
             .where(Response.campaign_id == campaign.id, Response.excluded.is_(False),
                    in_scope(user, Response.unit_id)).subquery())
    counts = {_as_date(day): int(n) for day, n in db.session.execute(
        select(inner.c.day, func.count()).group_by(inner.c.day))}
    last = min(campaign.ends_on, max(today, campaign.starts_on))
    if counts:
        last = max(last, min(max(counts), campaign.ends_on))
    span = (last - campaign.starts_on).days + 1
    return [(campaign.starts_on + timedelta(days=i), counts.get(campaign.starts_on + timedelta(days=i), 0))
            for i in range(span)]


def _as_date(value) -> date:
    """A day from SQL (SQLite gives text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _aware(moment: datetime | None) -> datetime | None:
    """UTC-aware (SQLite returns naive UTC)."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
