"""Kiosk mode: a tablet fixed at a counter rates through ``/k/<code>`` (channel ``kiosk``).

- A kiosk is a static entry point of one counter with a :class:`~survey.models.Kiosk` row, made by
  staff (:func:`create_kiosk`); ``/k/<code>`` answers only for such codes.
- The tablet queues each rating in the browser with its own submission UUID and sends the queue
  in batches (:func:`store_batch`); a UUID already stored is answered "duplicate", so a resent
  queue stores every rating exactly once.
- A minimum interval between ratings (``KIOSK_MIN_INTERVAL``) stops button mashing: a rating
  pressed within the interval of another stored rating of the same kiosk is refused and counted
  in ``kiosk_blocked_presses`` (per entry point and local day, an upsert), as are the presses the
  tablet itself refused while its buttons were locked (sent with the next batch).
- Integrity flags: a kiosk is one device at one counter by design, so the device, address, staff
  and counter-network signals say nothing about a kiosk rating and are not passed; the press
  time (not the arrival time) is the response's time, so a queue sent after hours offline is not
  a burst. ``burst_entry`` stays (more than N ratings through the kiosk in M minutes).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter as Tally
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import Campaign, CampaignUnit, Counter, EntryPoint, Kiosk, KioskBlockedPress, Response, User
from ..models.base import utcnow
from ..questionnaires import Item, Questionnaire
from . import audit
from .answers import clean_answers
from .entry_points import LOCAL, EntryPointUnavailable, check_open, load_entry_point
from .integrity import Signals, Thresholds
from .minting import MintingError, create_static, revoke
from .questionnaires import questionnaire_of
from .responses import find_response, submit_response

N_ = lambda message: message  # noqa: E731  (marks a message for the catalogue)

DEFAULTS = {
    "KIOSK_MIN_INTERVAL": 10,        # seconds between two ratings of one kiosk
    "KIOSK_RESET_SECONDS": 5,        # the thanks screen, then a fresh screen
    "KIOSK_TOKEN_MAX_AGE": 7 * 24 * 3600,  # a queued rating may wait this long for the network
    "KIOSK_BATCH_MAX": 20,           # ratings per request
    "KIOSK_RATELIMIT": "60/minute",  # requests per kiosk code
}
# Two presses measured on the tablet's clock arrive with different network delays: the server
# allows this much less than the interval the tablet enforces.
INTERVAL_TOLERANCE = timedelta(seconds=1)
MAX_ANSWER_FIELDS = 200
MAX_VALUE_LENGTH = 4000
MAX_BLOCKED_PER_BATCH = 1000
LABEL = "Kiosk"


class KioskInputError(ValueError):
    """A request the kiosk endpoint cannot read; ``message`` is Vietnamese (translated by the view)."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Rating:
    """One queued rating as the tablet sends it (times in the tablet's milliseconds)."""

    uuid: str
    answers: dict[str, list[str]]
    pressed_ms: int
    issued_at: int | None = None  # when its kiosk token was signed (server seconds)
    language: str = "vi"
    form_seconds: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one rating: ``stored``, ``duplicate``, ``too_soon``, ``invalid``, ``closed``."""

    uuid: str
    status: str
    errors: dict[str, str] = dataclasses.field(default_factory=dict)

    def as_json(self) -> dict:
        """The JSON row the tablet reads."""
        row = {"uuid": self.uuid, "status": self.status}
        if self.errors:
            row["errors"] = self.errors
        return row


# --- Which codes are kiosks -------------------------------------------------------------------

def load_kiosk(code: str):
    """(entry view, kiosk) for a kiosk code; EntryPointUnavailable('unknown') for any other code."""
    entry = load_entry_point(code)
    kiosk = db.session.scalar(select(Kiosk).filter_by(entry_point_id=entry.id))
    if kiosk is None:
        raise EntryPointUnavailable("unknown")
    return entry, kiosk


def one_tap_item(q: Questionnaire) -> Item | None:
    """The single rated question of a one-tap questionnaire (``counter-rating``), else None.

    One-tap: exactly one required rating question and nothing else required. Other optional
    questions (the reason after "Không hài lòng") are not asked at a kiosk: they need a keyboard,
    and a typed text would stay on a shared screen.
    """
    rated = [i for i in q.items.values() if i.type in ("scale", "satisfaction")]
    required = [i for i in q.items.values() if i.required]
    if len(rated) == 1 and required == rated:
        return rated[0]
    return None


def open_campaigns(unit) -> list[Campaign]:
    """Campaigns open today for ``unit`` or an ancestor (a kiosk can be made for any of them)."""
    today = utcnow().astimezone(LOCAL).date()
    chain, node = [], unit
    while node is not None and len(chain) < 32:
        chain.append(node.id)
        node = node.parent
    return list(db.session.scalars(
        select(Campaign).join(CampaignUnit)
        .where(CampaignUnit.unit_id.in_(chain), Campaign.starts_on <= today, Campaign.ends_on >= today)
        .distinct().order_by(Campaign.starts_on.desc(), Campaign.id.desc())))


def create_kiosk(counter: Counter, campaign: Campaign, user: User | None) -> Kiosk:
    """A new kiosk code for ``counter`` in ``campaign`` (open for the counter's unit); audited."""
    if campaign.id not in {c.id for c in open_campaigns(counter.unit)}:
        raise MintingError(N_("Đợt khảo sát này không mở cho quầy này hôm nay."))
    entry = create_static(campaign=campaign, unit=counter.unit, counter=counter, label=LABEL)
    kiosk = Kiosk(entry_point_id=entry.id, unit_id=counter.unit_id, counter_id=counter.id,
                  created_by_id=user.id if user else None)
    db.session.add(kiosk)
    db.session.flush()
    audit.record("kiosk.create", user.username if user else "system", user_id=user.id if user else None,
                 object_type="entry_point", object_id=entry.id, code=entry.code,
                 counter_id=counter.id, campaign_id=campaign.id)
    return kiosk


def revoke_kiosk(kiosk: Kiosk, user: User | None) -> None:
    """Stop a kiosk code (idempotent); its stored ratings stay; audited."""
    entry = db.session.get(EntryPoint, kiosk.entry_point_id)
    revoke(entry)
    audit.record("kiosk.revoke", user.username if user else "system", user_id=user.id if user else None,
                 object_type="entry_point", object_id=entry.id, code=entry.code)


def kiosk_entry_ids() -> select:
    """SELECT of the entry point ids that are kiosks (to keep them off poster lists)."""
    return select(Kiosk.entry_point_id)


def touch(kiosk_id: int, now: datetime | None = None) -> None:
    """Note that the tablet reached the server (shown to staff as "last seen")."""
    db.session.execute(update(Kiosk).where(Kiosk.id == kiosk_id)
                       .values(last_seen_at=now or utcnow()).execution_options(synchronize_session=False))


# --- Reading a batch ------------------------------------------------------------------------

def parse_batch(payload: object, *, batch_max: int) -> tuple[int, list[dict], list[int]]:
    """(sent_ms, raw ratings, blocked press times) from the tablet's JSON, or KioskInputError."""
    if not isinstance(payload, dict):
        raise KioskInputError(N_("Dữ liệu gửi lên không đúng định dạng."))
    sent = payload.get("sent_at")
    ratings = payload.get("ratings", [])
    blocked = payload.get("blocked", [])
    if not _is_ms(sent):
        raise KioskInputError(N_("Thiếu thời điểm gửi (sent_at)."))
    if not isinstance(ratings, list) or not isinstance(blocked, list):
        raise KioskInputError(N_("Dữ liệu gửi lên không đúng định dạng."))
    if len(ratings) > batch_max:
        raise KioskInputError(N_("Quá nhiều phiếu trong một lần gửi."))
    if not all(_is_ms(b) for b in blocked):
        raise KioskInputError(N_("Thời điểm bấm bị chặn không hợp lệ."))
    return int(sent), ratings, [int(b) for b in blocked[:MAX_BLOCKED_PER_BATCH]]


def read_rating(raw: object, read_token) -> Rating:
    """One rating of a batch; ``read_token(token) -> issued seconds`` raises KioskInputError."""
    if not isinstance(raw, dict):
        raise KioskInputError(N_("Dữ liệu gửi lên không đúng định dạng."))
    submission = raw.get("uuid")
    if not _is_uuid(submission):
        raise KioskInputError(N_("Mã phiếu (UUID) không hợp lệ."))
    if not _is_ms(raw.get("pressed_at")):
        raise KioskInputError(N_("Thiếu thời điểm bấm (pressed_at)."))
    answers = raw.get("answers")
    if not isinstance(answers, dict) or len(answers) > MAX_ANSWER_FIELDS:
        raise KioskInputError(N_("Câu trả lời không đúng định dạng."))
    clean: dict[str, list[str]] = {}
    for key, values in answers.items():
        values = values if isinstance(values, list) else [values]
        if not isinstance(key, str) or not all(isinstance(v, str | int) and not isinstance(v, bool)
                                               and len(str(v)) <= MAX_VALUE_LENGTH for v in values):
            raise KioskInputError(N_("Câu trả lời không đúng định dạng."))
        clean[key] = [str(v) for v in values]
    seconds = raw.get("form_seconds")
    seconds = int(seconds) if isinstance(seconds, int | float) and 0 <= seconds < 86400 else None
    language = raw.get("lang") if raw.get("lang") in ("vi", "en") else "vi"
    return Rating(uuid=submission, answers=clean, pressed_ms=int(raw["pressed_at"]),
                  issued_at=read_token(raw.get("token")), language=language, form_seconds=seconds)


def _is_ms(value: object) -> bool:
    """An epoch time in milliseconds, not a bool. Only differences of the tablet's times are used,
    so a tablet whose clock is years off still has its ratings stored."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 <= value <= 4_102_444_800_000)


def _is_uuid(value: object) -> bool:
    """A canonical UUID string."""
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def press_time(pressed_ms: int, sent_ms: int, now: datetime, *, max_age: int,
               issued_at: int | None = None) -> datetime:
    """When the tablet's button was pressed, on the server's clock.

    The tablet's clock may be wrong, but the time between press and send is measured on that one
    clock: press = now − (sent − pressed), at most ``max_age`` ago and never before the press's
    token was signed (a rating cannot be dated back before its page existed).
    """
    age = timedelta(milliseconds=min(max(sent_ms - pressed_ms, 0), max_age * 1000))
    moment = now - age
    if issued_at is not None:
        moment = max(moment, datetime.fromtimestamp(issued_at, tz=now.tzinfo))
    return min(moment, now)


# --- Storing ----------------------------------------------------------------------------------

def store_batch(entry, kiosk: Kiosk, raws: list[dict], blocked_ms: list[int], *, sent_ms: int,
                now: datetime, config: Mapping, secret: str, read_token) -> list[Outcome]:
    """Store a batch of queued ratings, each in its own transaction (committed here), in order.

    Returns one outcome per rating; a malformed rating is ``invalid`` and stores nothing. The
    blocked presses the tablet counted are added to the day of each press.
    """
    version = entry.campaign.questionnaire_version
    q = questionnaire_of(version)
    max_age = int(config["KIOSK_TOKEN_MAX_AGE"])
    outcomes = []
    for raw in raws:
        try:
            rating = read_rating(raw, read_token)
        except KioskInputError as exc:
            found = raw.get("uuid") if isinstance(raw, dict) and _is_uuid(raw.get("uuid")) else ""
            outcomes.append(Outcome(found, "invalid", {"": exc.message}))
            continue
        at = press_time(rating.pressed_ms, sent_ms, now, max_age=max_age, issued_at=rating.issued_at)
        outcomes.append(store_rating(entry, kiosk, version, q, rating, at, config=config,
                                     secret=secret))
    if blocked_ms:
        days = Tally(press_time(ms, sent_ms, now, max_age=max_age).astimezone(LOCAL).date()
                     for ms in blocked_ms)
        record_blocked(entry.id, days)
    touch(kiosk.id, now)
    db.session.commit()
    return outcomes


def store_rating(entry, kiosk: Kiosk, version, q: Questionnaire, rating: Rating, at: datetime, *,
                 config: Mapping, secret: str) -> Outcome:
    """Store one rating pressed at ``at`` exactly once, unless it comes within the interval.

    Order matters: a UUID already stored is a resend (``duplicate``, nothing counted); then the
    kiosk's row is locked (an UPDATE), so two ratings of one kiosk are checked one after the
    other on both databases; a stored kiosk rating within the interval either side of ``at``
    makes this one ``too_soon`` (counted as a blocked press).
    """
    if find_response(rating.uuid) is not None:
        return Outcome(rating.uuid, "duplicate")
    one_tap = one_tap_item(q)
    form = {one_tap.code: rating.answers.get(one_tap.code, [])} if one_tap else rating.answers
    answers, errors = clean_answers(q, form)
    if errors:
        return Outcome(rating.uuid, "invalid", {k: str(v) for k, v in errors.items()})
    try:
        check_open(entry, at)
    except EntryPointUnavailable as exc:
        return Outcome(rating.uuid, "closed", {"": exc.reason})
    touch(kiosk.id, utcnow())  # takes the kiosk's row lock until the commit below
    if _within_interval(entry.id, at, int(config["KIOSK_MIN_INTERVAL"])):
        if find_response(rating.uuid) is not None:  # the same UUID was stored while we waited
            db.session.commit()
            return Outcome(rating.uuid, "duplicate")
        record_blocked(entry.id, {at.astimezone(LOCAL).date(): 1})
        db.session.commit()
        return Outcome(rating.uuid, "too_soon")
    try:
        response, created = submit_response(
            entry=entry, version=version, questionnaire=q, answers=answers,
            submission_uuid=rating.uuid, channel="kiosk", language=rating.language,
            form_seconds=None if one_tap else rating.form_seconds, now=at,
            signals=Signals(), secret=secret, thresholds=kiosk_thresholds(config, one_tap is not None))
    except EntryPointUnavailable as exc:
        db.session.rollback()
        return Outcome(rating.uuid, "closed", {"": exc.reason})
    if created and one_tap is not None:
        _forget_pattern(response.id)
    db.session.commit()
    return Outcome(rating.uuid, "stored" if created else "duplicate")


def _forget_pattern(response_id: int) -> None:
    """A one-tap rating's answer pattern is one of three: kept, it would make every "Hài lòng"
    sent by phone in the same unit a ``repeated_pattern`` of the kiosk's. Cleared in the same
    transaction (an UPDATE of the response row, which the append-only rules allow)."""
    db.session.execute(update(Response).where(Response.id == response_id).values(answer_pattern=None)
                       .execution_options(synchronize_session=False))


def kiosk_thresholds(config: Mapping, one_tap: bool) -> Thresholds:
    """The app's flag thresholds, with the repeated-answers flag off for one-tap ratings.

    Three buttons give three possible answer sets: the same "Hài lòng" three times in half an
    hour at one unit is the normal case, not a pattern. A full questionnaire keeps the flag.
    """
    found = Thresholds.from_config(config)
    if one_tap:
        found = dataclasses.replace(found, repeated_pattern=(2**31 - 1, found.repeated_pattern[1]))
    return found


def _within_interval(entry_point_id: int, at: datetime, interval: int) -> bool:
    """Whether a kiosk rating of this entry point is stored within the interval around ``at``."""
    window = timedelta(seconds=interval) - INTERVAL_TOLERANCE
    if window <= timedelta(0):
        return False
    found = db.session.scalar(
        select(func.count()).select_from(Response)
        .where(Response.entry_point_id == entry_point_id, Response.channel == "kiosk",
               Response.submitted_at > at - window, Response.submitted_at < at + window))
    return bool(found)


# --- Blocked presses ----------------------------------------------------------------------------

_UPSERTS: dict[str, object] = {}


def record_blocked(entry_point_id: int, days: Mapping[date, int]) -> None:
    """Add blocked presses per local day: ``INSERT … ON CONFLICT DO UPDATE blocked = blocked + n``."""
    dialect_name = db.session.get_bind().dialect.name
    stmt = _UPSERTS.get(dialect_name)
    if stmt is None:
        table = KioskBlockedPress.__table__
        dialect = postgresql if dialect_name == "postgresql" else sqlite
        insert = dialect.insert(table).values(
            {name: bindparam(name, type_=table.c[name].type)
             for name in ("entry_point_id", "day", "blocked")})
        stmt = _UPSERTS[dialect_name] = insert.on_conflict_do_update(
            index_elements=["entry_point_id", "day"],
            set_={"blocked": table.c.blocked + insert.excluded.blocked})
    rows = [{"entry_point_id": entry_point_id, "day": day, "blocked": int(n)}
            for day, n in sorted(days.items()) if n > 0]
    if rows:
        db.session.execute(stmt, rows)


@dataclass(frozen=True)
class DayActivity:
    """A kiosk's day: ratings stored (by press time) and presses blocked."""

    day: date
    ratings: int
    blocked: int


def daily_activity(entry_point_id: int, days: int = 14, today: date | None = None) -> list[DayActivity]:
    """The last ``days`` local days, newest first, with ratings and blocked presses (zeros too)."""
    today = today or utcnow().astimezone(LOCAL).date()
    since = today - timedelta(days=days - 1)
    blocked = dict(db.session.execute(
        select(KioskBlockedPress.day, KioskBlockedPress.blocked)
        .where(KioskBlockedPress.entry_point_id == entry_point_id, KioskBlockedPress.day >= since)).all())
    start = datetime.combine(since, datetime.min.time(), LOCAL)
    ratings = Tally()
    for (moment,) in db.session.execute(
            select(Response.submitted_at).where(Response.entry_point_id == entry_point_id,
                                                Response.submitted_at >= start)):
        ratings[_local_day(moment)] += 1
    return [DayActivity(d, ratings.get(d, 0), int(blocked.get(d, 0)))
            for d in (today - timedelta(days=i) for i in range(days))]


def _local_day(moment: datetime) -> date:
    """The Asia/Ho_Chi_Minh day of a stored UTC time (SQLite returns it naive)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(LOCAL).date()


def kiosks_of(counter: Counter) -> list[tuple[Kiosk, EntryPoint, DayActivity]]:
    """The counter's kiosks, active first then newest, each with today's figures."""
    rows = db.session.execute(
        select(Kiosk, EntryPoint).join(EntryPoint, EntryPoint.id == Kiosk.entry_point_id)
        .where(Kiosk.counter_id == counter.id)
        .order_by(EntryPoint.revoked_at.isnot(None), Kiosk.id.desc())).all()
    return [(kiosk, entry, daily_activity(entry.id, days=1)[0]) for kiosk, entry in rows]
