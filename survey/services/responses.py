"""Storing a citizen's response exactly once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Integer,
    bindparam,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from ..extensions import db
from ..models import RESPONSE_ANSWERS, EntryPoint, ProcedureField, QuestionnaireVersion, Response
from ..models.base import utcnow
from ..questionnaires import NOT_APPLICABLE, Questionnaire
from . import direct
from .answer_store import ARRAY_NAMES, ARRAY_PARAMS, EMPTY_ANSWER, answer_arrays, store_answers
from .entry_points import CODE_ALPHABET, EntryPointUnavailable, check_open
from .integrity import Signals, Thresholds, assess, flag_earlier


def find_response(submission_uuid: str) -> Response | None:
    """The response already stored for a submission UUID, if any."""
    return db.session.scalar(select(Response).filter_by(submission_uuid=submission_uuid))


def submit_response(
    *,
    entry: EntryPoint,
    version: QuestionnaireVersion,
    questionnaire: Questionnaire,
    answers: dict[str, object],
    submission_uuid: str,
    channel: str = "qr",
    language: str = "vi",
    form_seconds: int | None = None,
    now: datetime | None = None,
    signals: Signals | None = None,
    secret: str | None = None,
    thresholds: Thresholds | None = None,
    alone: bool = False,
) -> tuple[Response, bool]:
    """Store one response; return (response, created). A repeated UUID returns the stored one.

    The response row goes in with ``INSERT … ON CONFLICT DO NOTHING RETURNING``: a duplicate
    UUID (a retry, or a concurrent double tap: the second insert waits for the first to commit)
    inserts nothing and raises nothing, and the stored response is returned instead; a
    single-use code someone else consumed a moment earlier raises ``EntryPointUnavailable``
    unless this very submission consumed it. The stored response is looked up only in those
    cases, so a first submission costs no extra query, and no savepoint is needed.

    With ``signals`` (and the app's ``secret`` and ``thresholds``) the integrity hashes and flags
    are worked out first (one query) and written in the same INSERT as the response.

    ``alone`` (the public form): with no transaction open in the session, the INSERT may commit
    on its own (``direct.execute``), unless the code is single-use (its use and the response
    commit together) or the submission crosses a burst threshold (the earlier responses are
    flagged in the same transaction). The returned response is then not in the session.
    """
    now = now or utcnow()
    try:
        return _insert(entry, version, questionnaire, answers, submission_uuid, channel, language,
                       form_seconds, now, signals, secret, thresholds, alone), True
    except (_Duplicate, EntryPointUnavailable):
        existing = find_response(submission_uuid)
        if existing is None:
            raise
        return existing, False


class _Duplicate(Exception):
    """The submission UUID is already stored."""


def _insert(entry: EntryPoint, version: QuestionnaireVersion, questionnaire: Questionnaire,
            answers: dict[str, object], submission_uuid: str, channel: str, language: str,
            form_seconds: int | None, now: datetime, signals: Signals | None, secret: str | None,
            thresholds: Thresholds | None, alone: bool = False) -> Response:
    """Check the code is open, consume a single-use one, insert the response and its answers.

    Plain Core statements, no ORM flush: the response row with its flags in one INSERT, the
    answers in one executemany (on PostgreSQL both in ONE statement, see
    :func:`_insert_statement`). The returned :class:`Response` is attached to the session as
    the stored row (``response.answers`` is loaded from the database when somebody reads it).
    """
    check_open(entry, now)
    checked = None
    if signals is not None:
        checked = assess(answers=answers, signals=signals, secret=secret or "",
                         thresholds=thresholds or Thresholds(), entry_point_id=entry.id,
                         unit_id=entry.unit_id,
                         counter_network=entry.counter.network_cidr if entry.counter else None,
                         submitted_at=now, form_seconds=form_seconds)
    values = dict(
        submission_uuid=submission_uuid, entry_point_id=entry.id,
        campaign_id=entry.campaign_id, questionnaire_version_id=version.id,
        questionnaire_id=version.questionnaire_id, questionnaire_version=version.version,
        content_hash=version.content_hash, unit_id=entry.unit_id, counter_id=entry.counter_id,
        channel=channel, language=language, submitted_at=now,
        form_seconds=form_seconds, flags=sorted(checked.flags) if checked else [], excluded=False,
        device_hash=checked.device_hash if checked else None,
        ip_hash=checked.ip_hash if checked else None,
        answer_pattern=checked.answer_pattern if checked else None, exclusion_reason=None,
    )
    if entry.kind == "single_use":
        _consume(entry, now)
    rows = [_answer_row(questionnaire, code, value) for code, value in answers.items()]
    alone = alone and entry.kind != "single_use" and not (checked is not None and checked.crossings)
    response_id, field_id, receipt, answers_stored = _insert_row(values, _field_id(entry, answers), rows,
                                                                 alone)
    if rows and not answers_stored:
        store_answers([{**row, "response_id": response_id} for row in rows])
    response = _stored_response(dict(values, id=response_id, receipt=receipt, field_id=field_id))
    if direct.in_transaction():  # else it committed on its own: nothing left for the session
        db.session.add(response)
    if checked is not None and checked.crossings:
        flag_earlier(checked, response_id)
    return response


def _insert_row(values: dict, field_id, answer_rows: list[dict], alone: bool = False
                ) -> tuple[int, int | None, str, bool]:
    """INSERT the response unless its UUID is stored; return (id, field_id, receipt, whether the
    answers went in with it: on PostgreSQL they do, in the same statement).

    A receipt number that happens to be taken already is drawn again (31^8 values).
    """
    chosen = isinstance(field_id, _FieldByCode)
    dialect_name = db.session.get_bind().dialect.name
    with_answers = dialect_name == "postgresql" and bool(answer_rows)
    stmt = _insert_statement(dialect_name, chosen, with_answers)
    params = {**values, **({"field_code": field_id.code, "fallback_field_id": field_id.fallback}
                           if chosen else {"field_id": field_id})}
    if with_answers:
        params.update(answer_arrays(answer_rows))
    for _attempt in range(5):
        params["receipt"] = _receipt()
        rows = direct.execute(stmt, params, alone=alone)
        row = rows.fetchone() if rows is not None else db.session.execute(stmt, params).first()
        if row is not None:
            return row[0], row[1], params["receipt"], with_answers
        if db.session.scalar(select(Response.id).filter_by(
                submission_uuid=values["submission_uuid"])) is not None:
            raise _Duplicate(values["submission_uuid"])
    raise IntegrityError("INSERT INTO responses", None, Exception("no free receipt number"))


def _stored_response(values: dict) -> Response:
    """A :class:`Response` for a row already in the database, with ``values`` as its loaded
    columns (the rest, such as ``answers``, load when read), not yet in the session.

    The instance is made the way a query result is (a new instance, its columns put in its
    state) rather than through the constructor, whose per-attribute change events cost ~35 µs
    for 22 columns that are then marked unchanged anyway.
    """
    response = _RESPONSES.class_manager.new_instance()
    inspect(response).dict.update(values)
    make_transient_to_detached(response)  # the row exists: no INSERT from the session
    return response


_RESPONSES = inspect(Response)


@dataclass(frozen=True)
class _FieldByCode:
    """A procedure field chosen by the citizen: its id is looked up inside the INSERT."""

    code: str
    fallback: int | None


_STATEMENTS: dict[tuple[str, bool, bool], object] = {}


def _insert_statement(dialect_name: str, field_by_code: bool, with_answers: bool = False):
    """``INSERT INTO responses … ON CONFLICT DO NOTHING RETURNING id, field_id``, built once.

    Every value is a bound parameter, so each request only binds (no statement building).
    ``with_answers`` (PostgreSQL): the answers go in with the response, in one statement, as
    ONE row of arrays — ``WITH ins AS (INSERT INTO responses … RETURNING …), ans AS (INSERT
    INTO response_answers SELECT ins.id, <one array per column> FROM ins) SELECT … FROM ins``.
    One round trip, and two rows written instead of one per answer; a duplicate UUID inserts no
    response, so ``ins`` is empty and no answer goes in either.
    """
    key = (dialect_name, field_by_code, with_answers)
    stmt = _STATEMENTS.get(key)
    if stmt is None and with_answers:
        ins = _insert_statement(dialect_name, field_by_code).cte("ins")
        answers = (RESPONSE_ANSWERS.insert()
                   .from_select(["response_id", *ARRAY_NAMES],
                                select(ins.c.id, *ARRAY_PARAMS).select_from(ins))
                   .cte("ans"))
        stmt = _STATEMENTS[key] = select(ins.c.id, ins.c.field_id).add_cte(answers)
    elif stmt is None:
        table = Response.__table__
        dialect = postgresql if dialect_name == "postgresql" else sqlite
        columns = {c.name: bindparam(c.name, type_=c.type) for c in table.columns
                   if c.name not in ("id", "field_id")}
        if field_by_code:
            found = (select(ProcedureField.id).where(ProcedureField.code == bindparam("field_code"))
                     .scalar_subquery())
            columns["field_id"] = func.coalesce(found, bindparam("fallback_field_id", type_=Integer))
        else:
            columns["field_id"] = bindparam("field_id", type_=Integer)
        stmt = _STATEMENTS[key] = (dialect.insert(table).values(columns).on_conflict_do_nothing()
                                   .returning(table.c.id, table.c.field_id))
    return stmt


def _field_id(entry: EntryPoint, answers: dict[str, object]):
    """The procedure field: the citizen's answer when given, else the one the QR code names.

    A field other than the QR's own is looked up inside the INSERT (a scalar subquery), not by
    a query of its own.
    """
    chosen = answers.get("field")
    if entry.field is not None and chosen == entry.field.code:  # the QR's own field: no lookup
        return entry.field_id
    if isinstance(chosen, str):
        return _FieldByCode(chosen, entry.field_id)
    return entry.field_id


def _consume(entry: EntryPoint, now: datetime) -> None:
    """Mark a single-use code used, atomically: only one transaction can win."""
    result = db.session.execute(
        update(EntryPoint).where(EntryPoint.id == entry.id, EntryPoint.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise EntryPointUnavailable("used")


def _answer_row(q: Questionnaire, code: str, value: object) -> dict:
    """Map a cleaned value to the typed columns of :class:`Answer` (``response_id`` comes later)."""
    item = q.items[code]
    row = {**EMPTY_ANSWER, "item_code": code}
    if value == NOT_APPLICABLE:
        row["not_applicable"], row["scale_points"] = True, item.points
    elif item.type in ("satisfaction", "scale"):
        row["rating"], row["scale_points"] = value, item.points
    elif item.type in ("yes_no", "number"):
        row["number"] = value
    elif item.type == "single_choice":
        row["choice"] = value
    elif item.type == "multiple_choice":
        row["choices"] = list(value)
    else:
        row["text"] = value
    return row


def _receipt() -> str:
    """A receipt number the citizen can quote (8 characters, shown as XXXX-XXXX)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


def answers_of(response: Response) -> dict[str, object]:
    """The stored answers of ``response`` as code → value (the inverse of ``_answer_row``)."""
    out: dict[str, object] = {}
    for row in response.answers:
        if row.not_applicable:
            out[row.item_code] = NOT_APPLICABLE
        elif row.rating is not None:
            out[row.item_code] = row.rating
        elif row.number is not None:
            out[row.item_code] = row.number
        else:
            out[row.item_code] = row.choice or row.choices or row.text
    return out
