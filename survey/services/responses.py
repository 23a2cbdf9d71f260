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
) -> tuple[Response, bool]:
    """Store one response; return (response, created). A repeated UUID returns the stored one.

    The insert runs in a savepoint so that a concurrent duplicate (unique UUID) or a
    single-use code consumed by someone else a moment earlier leaves the session usable.
    The stored response is looked up only when the insert cannot go ahead (the unique UUID
    refused it, or the code no longer takes answers), so a first submission costs no extra query.
    """
    now = now or utcnow()
    try:
        return _insert(entry, version, questionnaire, answers, submission_uuid, channel, language,
                       form_seconds, now), True
    except (IntegrityError, EntryPointUnavailable):
        existing = find_response(submission_uuid)
        if existing is None:
            raise
        return existing, False


def _insert(entry: EntryPoint, version: QuestionnaireVersion, questionnaire: Questionnaire,
            answers: dict[str, object], submission_uuid: str, channel: str, language: str,
            form_seconds: int | None, now: datetime) -> Response:
    """Check the code is open, then insert the response and its answers in a savepoint."""
    check_open(entry, now)
    response = Response(
        submission_uuid=submission_uuid, receipt=_receipt(), entry_point_id=entry.id,
        campaign_id=entry.campaign_id, questionnaire_version_id=version.id,
        questionnaire_id=version.questionnaire_id, questionnaire_version=version.version,
        content_hash=version.content_hash, unit_id=entry.unit_id, counter_id=entry.counter_id,
        field_id=_field_id(entry, answers), channel=channel, language=language, submitted_at=now,
        form_seconds=form_seconds, flags=[], excluded=False,
    )
    response.answers = [_answer_row(questionnaire, code, value) for code, value in answers.items()]
    with db.session.begin_nested():
        if entry.kind == "single_use":
            _consume(entry, now)
        db.session.add(response)
        db.session.flush()
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


def _answer_row(q: Questionnaire, code: str, value: object) -> Answer:
    """Map a cleaned value to the typed columns of :class:`Answer`."""
    item = q.items[code]
    row = Answer(item_code=code, not_applicable=False)
    if value == NOT_APPLICABLE:
        row.not_applicable, row.scale_points = True, item.points
    elif item.type in ("satisfaction", "scale"):
        row.rating, row.scale_points = value, item.points
    elif item.type in ("yes_no", "number"):
        row.number = value
    elif item.type == "single_choice":
        row.choice = value
    elif item.type == "multiple_choice":
        row.choices = list(value)
    else:
        row.text = value
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
