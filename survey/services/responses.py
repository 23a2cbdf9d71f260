"""Storing a citizen's response exactly once."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Answer, EntryPoint, ProcedureField, QuestionnaireVersion, Response
from ..models.base import utcnow
from ..questionnaires import NOT_APPLICABLE, Questionnaire
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
) -> tuple[Response, bool]:
    """Store one response; return (response, created). A repeated UUID returns the stored one.

    The insert runs in a savepoint so that a concurrent duplicate (unique UUID) or a
    single-use code consumed by someone else a moment earlier leaves the session usable.
    The stored response is looked up only when the insert cannot go ahead (the unique UUID
    refused it, or the code no longer takes answers), so a first submission costs no extra query.

    With ``signals`` (and the app's ``secret`` and ``thresholds``) the integrity hashes and flags
    are worked out first (one query) and written in the same INSERT as the response.
    """
    now = now or utcnow()
    try:
        return _insert(entry, version, questionnaire, answers, submission_uuid, channel, language,
                       form_seconds, now, signals, secret, thresholds), True
    except (IntegrityError, EntryPointUnavailable):
        existing = find_response(submission_uuid)
        if existing is None:
            raise
        return existing, False


def _insert(entry: EntryPoint, version: QuestionnaireVersion, questionnaire: Questionnaire,
            answers: dict[str, object], submission_uuid: str, channel: str, language: str,
            form_seconds: int | None, now: datetime, signals: Signals | None, secret: str | None,
            thresholds: Thresholds | None) -> Response:
    """Check the code is open, then insert the response and its answers in a savepoint.

    The answers go in with one executemany of plain rows (no ORM objects): ``response.answers``
    is loaded from the database when somebody reads it.
    """
    check_open(entry, now)
    checked = None
    if signals is not None:
        checked = assess(answers=answers, signals=signals, secret=secret or "",
                         thresholds=thresholds or Thresholds(), entry_point_id=entry.id,
                         unit_id=entry.unit_id,
                         counter_network=entry.counter.network_cidr if entry.counter else None,
                         submitted_at=now, form_seconds=form_seconds)
    response = Response(
        submission_uuid=submission_uuid, receipt=_receipt(), entry_point_id=entry.id,
        campaign_id=entry.campaign_id, questionnaire_version_id=version.id,
        questionnaire_id=version.questionnaire_id, questionnaire_version=version.version,
        content_hash=version.content_hash, unit_id=entry.unit_id, counter_id=entry.counter_id,
        field_id=_field_id(entry, answers), channel=channel, language=language, submitted_at=now,
        form_seconds=form_seconds, flags=sorted(checked.flags) if checked else [], excluded=False,
        device_hash=checked.device_hash if checked else None,
        ip_hash=checked.ip_hash if checked else None,
        answer_pattern=checked.answer_pattern if checked else None,
    )
    with db.session.begin_nested():
        if entry.kind == "single_use":
            _consume(entry, now)
        db.session.add(response)
        db.session.flush()
        if answers:
            db.session.execute(ANSWERS.insert(), [_answer_row(questionnaire, response.id, code, value)
                                                  for code, value in answers.items()])
    if checked is not None and checked.crossings:
        flag_earlier(checked, response.id)
    return response


def _field_id(entry: EntryPoint, answers: dict[str, object]) -> int | None:
    """The procedure field: the citizen's answer when given, else the one the QR code names."""
    chosen = answers.get("field")
    if entry.field is not None and chosen == entry.field.code:  # the QR's own field: no lookup
        return entry.field_id
    if isinstance(chosen, str):
        found = db.session.scalar(select(ProcedureField.id).filter_by(code=chosen))
        if found is not None:
            return found
    return entry.field_id


def _consume(entry: EntryPoint, now: datetime) -> None:
    """Mark a single-use code used, atomically: only one transaction can win."""
    result = db.session.execute(
        update(EntryPoint).where(EntryPoint.id == entry.id, EntryPoint.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise EntryPointUnavailable("used")


ANSWERS = Answer.__table__
_EMPTY_ANSWER = {"rating": None, "scale_points": None, "not_applicable": False, "number": None,
                 "choice": None, "choices": None, "text": None}


def _answer_row(q: Questionnaire, response_id: int, code: str, value: object) -> dict:
    """Map a cleaned value to the typed columns of :class:`Answer` (a row for the executemany)."""
    item = q.items[code]
    row = {**_EMPTY_ANSWER, "response_id": response_id, "item_code": code}
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
