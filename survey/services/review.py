"""Review of flagged responses: exclude, re-include, flag by hand; every decision in the audit log.

Nothing is deleted: exclusion sets ``Response.excluded`` with a reason, re-inclusion clears it,
and the audit log (append-only in the database) keeps each decision with who, when and why, so
the history of a response is its audit entries (:func:`history`). Analysis reads only included
responses (``survey.services.results``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from ..extensions import db
from ..models import Answer, AuditLog, Response, User
from . import audit
from .imports import _l, nfc

MANUAL = "manual"
REASON_MIN, REASON_MAX = 5, 1000
FLAG_LABELS = {
    "burst_device": _l("Nhiều phiếu từ cùng một thiết bị trong thời gian ngắn"),
    "burst_entry": _l("Nhiều phiếu dồn dập qua cùng một mã QR"),
    "staff_session": _l("Gửi từ phiên đăng nhập của cán bộ"),
    "counter_network": _l("Gửi từ mạng của quầy"),
    "repeated_pattern": _l("Mẫu trả lời lặp lại"),
    "too_fast": _l("Trả lời quá nhanh"),
    MANUAL: _l("Được đánh dấu thủ công"),
}
DECISIONS = ("response.exclude", "response.include", "response.flag", "response.unflag")
STATUSES = ("all", "flagged", "excluded", "pending")


def is_flagged():
    """SQL: the response carries a flag; the same test as ``results.flagged`` but with a literal 0,
    so that it matches the partial index ``ix_responses_review`` even in a prepared statement."""
    from sqlalchemy import literal_column
    return and_(Response.flags.is_not(None), func.json_array_length(Response.flags) > literal_column("0"))


def in_review():
    """SQL: flagged or excluded, written exactly as the predicate of ``ix_responses_review``."""
    return or_(Response.excluded, is_flagged())


class ReviewError(ValueError):
    """A decision that cannot be taken (missing reason, already excluded, …)."""

    def __init__(self, msgid: str, **params: object):
        super().__init__(msgid % params if params else msgid)
        self.msgid, self.params = msgid, params


@dataclass(frozen=True)
class QueuePage:
    """One page of the review queue."""

    responses: list[Response]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // self.per_page))


def queue(campaign_id: int, user: User, *, status: str = "all", page: int = 1,
          per_page: int = 50) -> QueuePage:
    """Flagged or excluded responses of a campaign in the user's subtree, newest first.

    ``status``: ``all`` (flagged or excluded), ``flagged``, ``excluded``, ``pending`` (flagged and
    still included, i.e. waiting for a decision).
    """
    from .scope import in_scope
    conditions = {
        "all": in_review(),
        "flagged": is_flagged(),
        "excluded": and_(in_review(), Response.excluded),
        # (flagged or excluded) and not excluded = flagged and not excluded, in index columns only
        "pending": and_(in_review(), ~Response.excluded),
    }[status if status in STATUSES else "all"]
    where = [Response.campaign_id == campaign_id, in_scope(user, Response.unit_id), conditions]
    total = db.session.scalar(select(func.count()).select_from(Response).where(*where))
    page = max(1, page)
    order = (Response.submitted_at.desc(), Response.id.desc())
    # The page's ids first (index-only on ix_responses_review), then only those rows.
    ids = (select(Response.id).where(*where).order_by(*order)
           .offset((page - 1) * per_page).limit(per_page))
    rows = db.session.scalars(select(Response).where(Response.id.in_(ids)).order_by(*order))
    return QueuePage(list(rows), total, page, per_page)


def queue_counts(campaign_id: int, user: User) -> dict[str, int]:
    """How many responses of the campaign in the user's subtree wait for a decision, were excluded.

    Read from the partial index of flagged-or-excluded responses (``ix_responses_review``).
    """
    from sqlalchemy import case

    from .scope import in_scope
    pending = func.sum(case((Response.excluded, 0), else_=1))
    excluded = func.sum(case((Response.excluded, 1), else_=0))
    row = db.session.execute(select(pending, excluded).where(
        Response.campaign_id == campaign_id, in_scope(user, Response.unit_id), in_review())).one()
    return {"pending": int(row[0] or 0), "excluded": int(row[1] or 0)}


def comments_of(responses: list[Response]) -> dict[int, list[str]]:
    """The free-text answers of each response (shown escaped in the queue)."""
    ids = [r.id for r in responses]
    if not ids:
        return {}
    found: dict[int, list[str]] = {}
    for response_id, value in db.session.execute(
            select(Answer.response_id, Answer.text).where(Answer.response_id.in_(ids),
                                                           Answer.text.isnot(None))
            .order_by(Answer.response_id, Answer.item_code)):
        found.setdefault(response_id, []).append(value)
    return found


def _reason(reason: str | None) -> str:
    """The NFC reason, or ReviewError when missing, too short or too long."""
    reason = nfc(reason or "")
    if len(reason) < REASON_MIN:
        raise ReviewError(_l("Vui lòng ghi lý do (ít nhất %(n)s ký tự)."), n=REASON_MIN)
    if len(reason) > REASON_MAX:
        raise ReviewError(_l("Lý do dài quá %(n)s ký tự."), n=REASON_MAX)
    return reason


def _decide(response: Response, action: str, reason: str, user: User | None, actor: str,
            **details: object) -> AuditLog:
    """Write the decision's audit entry (the response change is flushed with it)."""
    db.session.flush()
    return audit.record(action, actor, user_id=user.id if user else None, object_type="response",
                        object_id=response.id, reason=reason, campaign_id=response.campaign_id,
                        unit_id=response.unit_id, flags=list(response.flags or []), **details)


def exclude(response: Response, reason: str | None, *, user: User | None, actor: str) -> AuditLog:
    """Leave the response out of analysis, with a reason; reversible by :func:`include`."""
    reason = _reason(reason)
    if response.excluded:
        raise ReviewError(_l("Phiếu này đã bị loại."))
    response.excluded, response.exclusion_reason = True, reason
    return _decide(response, "response.exclude", reason, user, actor)


def include(response: Response, reason: str | None, *, user: User | None, actor: str) -> AuditLog:
    """Take an excluded response back into analysis, with a reason."""
    reason = _reason(reason)
    if not response.excluded:
        raise ReviewError(_l("Phiếu này đang được tính, không cần đưa lại."))
    previous = response.exclusion_reason
    response.excluded, response.exclusion_reason = False, None
    return _decide(response, "response.include", reason, user, actor, previous_reason=previous)


def flag(response: Response, reason: str | None, *, user: User | None, actor: str) -> AuditLog:
    """Add the ``manual`` flag so the response enters the review queue."""
    reason = _reason(reason)
    flags = list(response.flags or [])
    if MANUAL in flags:
        raise ReviewError(_l("Phiếu này đã được đánh dấu."))
    response.flags = [*flags, MANUAL]  # a new list, so the JSON column is written
    return _decide(response, "response.flag", reason, user, actor)


def unflag(response: Response, reason: str | None, *, user: User | None, actor: str) -> AuditLog:
    """Remove the ``manual`` flag (flags set at submission stay)."""
    reason = _reason(reason)
    flags = list(response.flags or [])
    if MANUAL not in flags:
        raise ReviewError(_l("Phiếu này không có dấu thủ công."))
    response.flags = [f for f in flags if f != MANUAL]
    return _decide(response, "response.unflag", reason, user, actor)


def history(response: Response) -> list[AuditLog]:
    """Every review decision on the response, oldest first."""
    return list(db.session.scalars(
        select(AuditLog).where(AuditLog.object_type == "response", AuditLog.object_id == str(response.id),
                               AuditLog.action.in_(DECISIONS))
        .order_by(AuditLog.at, AuditLog.id)))


@dataclass(frozen=True)
class AnswerRow:
    """One answered question as shown to a reviewer (text shown escaped by the template)."""

    code: str
    question: str
    value: str


def answer_rows(response: Response, lang: str = "vi") -> list[AnswerRow]:
    """The response's answers in questionnaire order with question texts and answer labels."""
    from ..models import QuestionnaireVersion
    from ..questionnaires import NOT_APPLICABLE_LABEL
    from .questionnaires import questionnaire_of
    q = questionnaire_of(db.session.get(QuestionnaireVersion, response.questionnaire_version_id))
    stored = {a.item_code: a for a in db.session.scalars(
        select(Answer).where(Answer.response_id == response.id))}
    rows = []
    for code, item in q.items.items():
        answer = stored.pop(code, None)
        if answer is not None:
            rows.append(AnswerRow(code, _pick(item.text, lang), _answer_text(q, item, answer, lang,
                                                                                NOT_APPLICABLE_LABEL)))
    # Answers to items no longer in the definition still show, by code.
    rows += [AnswerRow(code, code, _raw(a)) for code, a in sorted(stored.items())]
    return rows


def _pick(text: dict[str, str] | None, lang: str) -> str:
    """A text in the page language, else Vietnamese, else any."""
    text = text or {}
    return text.get(lang) or text.get("vi") or next(iter(text.values()), "")


def _answer_text(q, item, answer: Answer, lang: str, na_label: dict) -> str:
    """One stored answer as a reviewer reads it (label, not code)."""
    if answer.not_applicable:
        return _pick(na_label, lang)
    if answer.rating is not None:
        label = q.labels_for(item).get(answer.rating)
        return f"{answer.rating} · {_pick(label, lang)}" if label else str(answer.rating)
    if answer.number is not None and item.type == "yes_no":
        label = q.labels_for(item).get(answer.number)
        return _pick(label, lang) if label else str(answer.number)
    options = {o.code: _pick(o.label, lang) for o in item.options}
    if answer.choice is not None:
        return options.get(answer.choice, answer.choice)
    if answer.choices is not None:
        return "; ".join(options.get(c, c) for c in answer.choices)
    return _raw(answer)


def _raw(answer: Answer) -> str:
    """A stored answer's value as plain text."""
    for value in (answer.rating, answer.number, answer.choice, answer.text):
        if value is not None:
            return str(value)
    if answer.choices is not None:
        return "; ".join(answer.choices)
    return "—"


@dataclass(frozen=True)
class QueueRow:
    """What the queue shows beside each response: unit, rated answers, their mean, comments."""

    unit_name: str
    n_rated: int
    mean_rating: float | None
    comments: list[str]


def queue_rows(responses: list[Response]) -> dict[int, QueueRow]:
    """Per response of a queue page, in two queries (not one per row)."""
    from ..models import Unit
    if not responses:
        return {}
    ids = [r.id for r in responses]
    names = dict(db.session.execute(select(Unit.id, Unit.name).where(
        Unit.id.in_({r.unit_id for r in responses}))).all())
    ratings = {rid: (n, mean) for rid, n, mean in db.session.execute(
        select(Answer.response_id, func.count(Answer.rating), func.avg(Answer.rating))
        .where(Answer.response_id.in_(ids), Answer.rating.isnot(None)).group_by(Answer.response_id))}
    comments = comments_of(responses)
    return {r.id: QueueRow(names.get(r.unit_id, ""), *ratings.get(r.id, (0, None)), comments.get(r.id, []))
            for r in responses}
