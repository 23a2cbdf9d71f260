"""Typing paper forms in: once per serial, optionally twice by two clerks, differences resolved.

The response is stored through :func:`submit_response` with channel ``paper``, its submission
UUID derived from the campaign and serial (so a second store of the same serial inserts nothing,
even when two clerks press Enter at the same moment), and the form's own single-use QR code is
consumed with it. The form row then moves to ``entered`` by a conditional UPDATE.

Double entry keeps each typing (the codes as typed) in ``paper_entries``; the second must come
from a different clerk. Equal typings store the response; different ones wait for a clerk or
manager to choose, field by field, what the paper says. Every step is an audit entry:
``paper.enter`` (stored in one typing), ``paper.entry_first``, ``paper.entry_matched``,
``paper.entry_mismatch`` (with the differing question codes), ``paper.resolve`` (with the
source chosen for each differing question) and ``paper.import``. A refusal changes nothing and
writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import PaperEntry, PaperForm, Response
from ..models.base import utcnow
from . import audit
from .entry_points import LOCAL, EntryPointUnavailable
from .paper import N_, Actor, PaperError, paper_uuid
from .paper_codes import answer_codes, typed_answers
from .questionnaires import questionnaire_of
from .responses import submit_response


class TypedErrors(ValueError):
    """The typed codes do not pass: messages by question code (nothing was written)."""

    def __init__(self, errors: dict):
        super().__init__(f"{len(errors)} invalid answers")
        self.errors = errors


@dataclass
class Outcome:
    """What an entry did: ``stored``, ``held`` (first of two), ``matched`` or ``conflict``."""

    kind: str
    form: PaperForm
    response: Response | None = None
    differences: list[str] = field(default_factory=list)


def questionnaire_for(form: PaperForm):
    """The parsed questionnaire of the form's campaign."""
    return questionnaire_of(form.batch.campaign.questionnaire_version)


def refuse_if_done(form: PaperForm, actor: Actor | None = None) -> None:
    """Refuse a form already entered, waiting for its differences to be resolved, or waiting for
    a second entry that ``actor`` may not make (they made the first)."""
    if form.status == "entered":
        raise PaperError(N_("Phiếu số %(serial)s đã được nhập lúc %(when)s. Mỗi phiếu chỉ được nhập "
                            "một lần; không có gì thay đổi."),
                         serial=form.serial, when=_local(form.entered_at))
    if form.status == "conflict":
        raise PaperError(N_("Hai lần nhập phiếu số %(serial)s khác nhau và đang chờ đối chiếu với "
                            "phiếu giấy; không nhập thêm."), serial=form.serial)
    if (form.status == "first_entry" and actor is not None and actor.user_id is not None
            and form.entries and form.entries[0].user_id == actor.user_id):
        raise PaperError(N_("Phiếu số %(serial)s đã được bạn nhập lần thứ nhất; lần thứ hai phải do "
                            "một cán bộ khác nhập."), serial=form.serial)


def enter_form(form: PaperForm, typed: Mapping[str, object], *, actor: Actor,
               now: datetime | None = None) -> Outcome:
    """One typing of a form: stored at once, or held / compared when the batch uses double entry."""
    refuse_if_done(form, actor)
    q = questionnaire_for(form)
    answers, errors = typed_answers(q, typed)
    if errors:
        raise TypedErrors(errors)
    if not answers:
        raise PaperError(N_("Phiếu không có câu trả lời nào; không lưu phiếu trống."))
    codes = answer_codes(q, answers)
    if not form.batch.double_entry:
        response = store_final(form, answers, actor=actor, now=now)
        audit.record("paper.enter", actor.name, user_id=actor.user_id, object_type="paper_form",
                     object_id=form.id, serial=form.serial, response_id=response.id)
        return Outcome("stored", form, response)
    if form.status == "printed":
        _add_entry(form, 1, actor, codes)
        _move(form, "printed", "first_entry")
        audit.record("paper.entry_first", actor.name, user_id=actor.user_id,
                     object_type="paper_form", object_id=form.id, serial=form.serial)
        return Outcome("held", form)
    first = form.entries[0]
    _add_entry(form, 2, actor, codes)
    differences = differing(first.codes, codes)
    if not differences:
        response = store_final(form, answers, actor=actor, now=now, expect="first_entry")
        audit.record("paper.entry_matched", actor.name, user_id=actor.user_id,
                     object_type="paper_form", object_id=form.id, serial=form.serial,
                     response_id=response.id, first_user_id=first.user_id)
        return Outcome("matched", form, response)
    _move(form, "first_entry", "conflict")
    audit.record("paper.entry_mismatch", actor.name, user_id=actor.user_id, object_type="paper_form",
                 object_id=form.id, serial=form.serial, items=differences,
                 first_user_id=first.user_id)
    return Outcome("conflict", form, differences=differences)


def differing(first: Mapping[str, str], second: Mapping[str, str]) -> list[str]:
    """Question codes whose typed codes differ (one empty and one not counts), in first-seen order."""
    keys = list(dict.fromkeys([*first, *second]))
    return [k for k in keys if (first.get(k) or "") != (second.get(k) or "")]


def resolve_form(form: PaperForm, chosen: Mapping[str, str], sources: Mapping[str, str], *,
                 actor: Actor, now: datetime | None = None) -> Response:
    """Store a conflicting form with the codes chosen for each differing question.

    ``chosen`` gives the final code of every differing question (empty = not answered);
    ``sources`` says where each came from (``first``, ``second`` or ``other``) for the audit log.
    """
    if form.status != "conflict" or len(form.entries) != 2:
        raise PaperError(N_("Phiếu số %(serial)s không có gì cần đối chiếu."), serial=form.serial)
    first, second = form.entries
    differences = differing(first.codes, second.codes)
    missing = [k for k in differences if k not in chosen]
    if missing:
        raise TypedErrors({k: N_("Vui lòng chọn giá trị đúng theo phiếu giấy.") for k in missing})
    final = {k: v for k, v in first.codes.items() if k not in differences}
    final.update({k: chosen[k] for k in differences})
    q = questionnaire_for(form)
    answers, errors = typed_answers(q, final)
    if errors:
        raise TypedErrors(errors)
    if not answers:
        raise PaperError(N_("Phiếu không có câu trả lời nào; không lưu phiếu trống."))
    response = store_final(form, answers, actor=actor, now=now, expect="conflict")
    audit.record("paper.resolve", actor.name, user_id=actor.user_id, object_type="paper_form",
                 object_id=form.id, serial=form.serial, response_id=response.id,
                 items={k: sources.get(k, "other") for k in differences})
    return response


def store_final(form: PaperForm, answers: dict, *, actor: Actor, now: datetime | None = None,
                expect: str | None = None) -> Response:
    """Store the form's response once (channel ``paper``) and mark the form entered.

    The response is dated when it is typed, or on the campaign's last day when it is typed after
    the campaign closed (the form was filled in during the campaign); the form keeps the real time.
    """
    real_now = now or utcnow()
    campaign = form.batch.campaign
    version = campaign.questionnaire_version
    try:
        response, created = submit_response(
            entry=form.entry_point, version=version, questionnaire=questionnaire_for(form),
            answers=answers, submission_uuid=paper_uuid(form.campaign_id, form.serial),
            channel="paper", language="vi", now=_within_campaign(campaign, real_now))
    except EntryPointUnavailable as exc:
        raise _unavailable(form, exc.reason) from None
    if not created:
        raise PaperError(N_("Phiếu số %(serial)s đã được nhập trước đó. Mỗi phiếu chỉ được nhập một "
                            "lần; không có gì thay đổi."), serial=form.serial)
    done = db.session.execute(
        update(PaperForm).where(PaperForm.id == form.id, PaperForm.response_id.is_(None),
                                PaperForm.status == (expect or form.status))
        .values(status="entered", response_id=response.id, entered_at=real_now,
                entered_by_id=actor.user_id).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise PaperError(N_("Phiếu số %(serial)s vừa được người khác nhập; không có gì thay đổi."),
                         serial=form.serial)
    db.session.expire(form)
    return response


def _unavailable(form: PaperForm, reason: str) -> PaperError:
    """Why the form's own QR code cannot take this response."""
    if reason == "used":
        return PaperError(N_("Phiếu số %(serial)s đã được trả lời trực tuyến bằng mã QR in trên phiếu; "
                             "không nhập thêm bản giấy."), serial=form.serial)
    if reason == "not_yet":
        return PaperError(N_("Đợt khảo sát của phiếu số %(serial)s chưa bắt đầu."), serial=form.serial)
    return PaperError(N_("Mã của phiếu số %(serial)s đã bị thu hồi; không nhập được."), serial=form.serial)


def _within_campaign(campaign, now: datetime) -> datetime:
    """``now``, or the last second of the campaign (local time) once it has ended."""
    if now.astimezone(LOCAL).date() <= campaign.ends_on:
        return now
    return datetime.combine(campaign.ends_on, time(23, 59, 59), LOCAL).astimezone(UTC)


def _add_entry(form: PaperForm, round_: int, actor: Actor, codes: dict) -> None:
    """Keep one typing; a concurrent typing of the same round loses on the unique constraint."""
    try:
        with db.session.begin_nested():
            db.session.add(PaperEntry(form_id=form.id, round=round_, user_id=actor.user_id, codes=codes))
            db.session.flush()
    except IntegrityError:
        raise PaperError(N_("Phiếu số %(serial)s vừa được người khác nhập; không có gì thay đổi."),
                         serial=form.serial) from None


def _move(form: PaperForm, old: str, new: str) -> None:
    """Change the form's status only if nobody changed it meanwhile."""
    done = db.session.execute(update(PaperForm).where(PaperForm.id == form.id, PaperForm.status == old)
                              .values(status=new).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise PaperError(N_("Phiếu số %(serial)s vừa được người khác nhập; không có gì thay đổi."),
                         serial=form.serial)
    db.session.expire(form)


def _local(moment: datetime | None) -> str:
    """A stored UTC time as dd/mm/yyyy HH:MM in Asia/Ho_Chi_Minh."""
    if moment is None:
        return "—"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL).strftime("%d/%m/%Y %H:%M")
