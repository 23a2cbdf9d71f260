"""Answer codes printed on paper forms (mã trả lời), and typed codes back to answers (pure).

One numbering serves the printed form, the clerks' entry screen and file imports:

- questions are numbered "Câu 1", "Câu 2", … in questionnaire order;
- a rated question (1..K) has the codes 1..K, and ``0`` for "Không áp dụng / Không biết" when
  the question allows it; yes/no: ``1`` Có, ``0`` Không;
- single and multiple choice: the options numbered 1..n (a file may also give the option
  codes, e.g. ``male``, as ``sipas analyze`` files do); several choices are separated by
  spaces, commas or semicolons (``1 3``), or typed as digits (``13``) when there are at most 9;
- numbers as they are, text as written; an empty cell is "not answered".

Typed codes become the form values :func:`survey.services.answers.clean_answers` checks, so a
typed paper form is validated exactly like the online form (conditional blocks included).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..questionnaires import NOT_APPLICABLE, NOT_APPLICABLE_LABEL, Condition, Item, Questionnaire
from .answers import clean_answers
from .imports import _l

NA_CODE = "0"
MISSING = {"na", "-"}
CODED = ("satisfaction", "scale", "yes_no", "single_choice")
SEPARATORS = re.compile(r"[\s,;+/]+")


@dataclass(frozen=True)
class PaperQuestion:
    """A question as printed and typed: its number, text and the codes it accepts."""

    number: int
    item: Item
    text: str
    codes: tuple[tuple[str, str], ...]  # (printed code, label)
    condition: str | None = None  # e.g. "Chỉ trả lời nếu Câu 9 = 1"
    when: dict | None = None  # the condition in printed codes, for the entry screen's script

    @property
    def code(self) -> str:
        """The item code (column name in files)."""
        return self.item.code

    @property
    def kind(self) -> str:
        """``coded`` (one code), ``multi`` (several), ``number`` or ``text``."""
        if self.item.type in CODED:
            return "coded"
        return {"multiple_choice": "multi"}.get(self.item.type, self.item.type)

    @property
    def allowed(self) -> str:
        """The codes as a short hint: ``1–5, 0``."""
        if self.kind == "number":
            return f"{self.item.minimum}–{self.item.maximum}"
        if not self.codes:
            return ""
        numbers = [c for c, _ in self.codes if c != NA_CODE]
        hint = f"{numbers[0]}–{numbers[-1]}" if len(numbers) > 2 else ", ".join(numbers)
        return hint + (f", {NA_CODE}" if any(c == NA_CODE for c, _ in self.codes) else "")


@dataclass(frozen=True)
class PaperSection:
    """A block of questions with its title, introduction and condition."""

    code: str
    title: str
    intro: str | None
    condition: str | None
    questions: tuple[PaperQuestion, ...]


class CodeError(ValueError):
    """A typed code the question does not accept (``msgid`` Vietnamese, with ``params``)."""

    def __init__(self, msgid: str, **params: object):
        super().__init__(msgid % params if params else msgid)
        self.msgid, self.params = msgid, params


def item_codes(q: Questionnaire, item: Item, lang: str = "vi") -> tuple[tuple[str, str], ...]:
    """(code, label) pairs printed beside a question's answers."""
    if item.type in ("satisfaction", "scale"):
        labels = q.labels_for(item)
        pairs = [(str(k), labels[k][lang] if k in labels else "") for k in range(1, item.points + 1)]
        if item.allow_na:
            pairs.append((NA_CODE, NOT_APPLICABLE_LABEL[lang]))
        return tuple(pairs)
    if item.type == "yes_no":
        return tuple((str(k), label[lang]) for k, label in q.labels_for(item).items())
    if item.type in ("single_choice", "multiple_choice"):
        return tuple((str(i), o.label[lang]) for i, o in enumerate(item.options, start=1))
    return ()


def layout(q: Questionnaire, lang: str = "vi") -> tuple[PaperSection, ...]:
    """The questionnaire as printed: sections and numbered questions with their codes."""
    numbers: dict[str, int] = {}
    sections = []
    for section in q.sections:
        questions = []
        for code in section.items:
            item = q.items[code]
            numbers[code] = len(numbers) + 1
            questions.append(PaperQuestion(
                number=numbers[code], item=item, text=item.text[lang], codes=item_codes(q, item, lang),
                condition=_condition_text(q, item.when, numbers), when=_condition_codes(q, item.when)))
        sections.append(PaperSection(
            code=section.code, title=section.title[lang],
            intro=section.intro[lang] if section.intro else None,
            condition=_condition_text(q, section.when, numbers), questions=tuple(questions)))
    return tuple(sections)


def questions(q: Questionnaire, lang: str = "vi") -> list[PaperQuestion]:
    """Every question in order, each with the condition of its section if it has none of its own."""
    out = []
    for section in layout(q, lang):
        sec = next(s for s in q.sections if s.code == section.code)
        for question in section.questions:
            if question.when is None and sec.when is not None:
                question = PaperQuestion(question.number, question.item, question.text, question.codes,
                                         section.condition, _condition_codes(q, sec.when))
            out.append(question)
    return out


def _printed(q: Questionnaire, item_code: str, value: object) -> str:
    """The printed code of a stored value of ``item_code``."""
    item = q.items[item_code]
    if item.type in ("single_choice", "multiple_choice"):
        for i, option in enumerate(item.options, start=1):
            if option.code == value:
                return str(i)
    if value == NOT_APPLICABLE:
        return NA_CODE
    return str(value)


def _condition_codes(q: Questionnaire, when: Condition | None) -> dict | None:
    """A condition with its values as printed codes (for the entry screen)."""
    if when is None:
        return None
    return {"item": when.item, "op": when.op, "values": [_printed(q, when.item, v) for v in when.values]}


def _condition_text(q: Questionnaire, when: Condition | None, numbers: dict[str, int]) -> str | None:
    """"Chỉ trả lời nếu Câu 9 = 1 (Có)" for a printed form."""
    if when is None or when.item not in numbers:
        return None
    item = q.items[when.item]
    labels = dict(item_codes(q, item))
    values = [_printed(q, when.item, v) for v in when.values]
    shown = " hoặc ".join(f"{v} ({labels[v]})" if v in labels else v for v in values)
    if when.op == "not_in":
        return f"Chỉ trả lời nếu Câu {numbers[when.item]} không phải {shown}"
    if when.op == "contains":
        return f"Chỉ trả lời nếu Câu {numbers[when.item]} có chọn {shown}"
    return f"Chỉ trả lời nếu Câu {numbers[when.item]} = {shown}"


# --- typed codes → answers ---------------------------------------------------------------------

def form_values(q: Questionnaire, item: Item, raw: object) -> list[str]:
    """The form values (as the online form posts them) for one typed code; raise CodeError."""
    if raw is None:
        return []
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    if not text:
        return []
    if item.type == "text":
        return [text]
    if text.casefold() in MISSING:  # as in `sipas analyze` files: not answered
        return []
    if item.type == "number":
        grouped = re.fullmatch(r"\d{1,3}([. ]\d{3})+", text)  # 1.250 or 1 250
        cleaned = text.replace(".", "").replace(" ", "") if grouped else text
        if not re.fullmatch(r"[+-]?\d+", cleaned):
            raise CodeError(_l("«%(value)s» không phải là số nguyên."), value=text)
        return [cleaned]
    codes = item_codes(q, item)
    allowed = ", ".join(c for c, _ in codes)
    if item.type == "multiple_choice":
        tokens = [t for t in SEPARATORS.split(text) if t]
        if len(tokens) == 1 and tokens[0].isdigit() and len(item.options) <= 9:
            tokens = list(tokens[0])
        return list(dict.fromkeys(_option(item, t, allowed) for t in tokens))
    if item.type == "single_choice":
        return [_option(item, text, allowed)]
    if text == NA_CODE and item.allow_na and item.type != "yes_no":
        return [NOT_APPLICABLE]
    if text.lstrip("0") and text.isdigit() and any(c == str(int(text)) for c, _ in codes):
        return [str(int(text))]
    if text == "0" and any(c == "0" for c, _ in codes):
        return ["0"]
    raise CodeError(_l("Mã «%(value)s» không hợp lệ; chọn một trong: %(allowed)s."),
                    value=text, allowed=allowed)


def _option(item: Item, token: str, allowed: str) -> str:
    """An option's code from its printed number (or from the option code itself)."""
    if token.isdigit() and 1 <= int(token) <= len(item.options):
        return item.options[int(token) - 1].code
    by_code = {o.code.casefold(): o.code for o in item.options}
    if token.casefold() in by_code:
        return by_code[token.casefold()]
    raise CodeError(_l("Mã «%(value)s» không hợp lệ; chọn một trong: %(allowed)s."),
                    value=token, allowed=allowed)


def typed_answers(q: Questionnaire, typed: Mapping[str, object]) -> tuple[dict, dict[str, CodeError | str]]:
    """Typed codes (item code → text) → (answers, errors by item code).

    Code errors are :class:`CodeError` (the caller places and translates them); everything else
    is checked by ``clean_answers`` (required answers, ranges, lengths, conditional blocks).
    """
    form: dict[str, list[str]] = {}
    errors: dict[str, CodeError | str] = {}
    for code, item in q.items.items():
        try:
            form[code] = form_values(q, item, typed.get(code))
        except CodeError as exc:
            errors[code] = exc
    answers, problems = clean_answers(q, form)
    # A code typed into a block that does not apply (its condition is false) is dropped, as the
    # online form drops it, rather than refused.
    errors = {code: e for code, e in errors.items() if _applies(q, code, answers)}
    for code, message in problems.items():
        errors.setdefault(code, message)
    return ({} if errors else answers), errors


def _applies(q: Questionnaire, item_code: str, answers: Mapping[str, object]) -> bool:
    """Whether the item's block and the item itself are shown for ``answers``."""
    item = q.items[item_code]
    section = next((s for s in q.sections if item_code in s.items), None)
    if section is not None and section.when is not None and not section.when.holds(answers):
        return False
    return item.when is None or item.when.holds(answers)


def answer_codes(q: Questionnaire, answers: Mapping[str, object]) -> dict[str, str]:
    """Stored answers → the codes a clerk types (the inverse of :func:`typed_answers`)."""
    out = {}
    for code, value in answers.items():
        item = q.items.get(code)
        if item is None:
            continue
        if isinstance(value, list):
            out[code] = " ".join(_printed(q, code, v) for v in value)
        else:
            out[code] = _printed(q, code, value)
    return out


def code_label(q: Questionnaire, item_code: str, code: str | None) -> str:
    """A typed code with its label for display: ``4 · Hài lòng``; ``—`` when empty."""
    if not code:
        return "—"
    labels = dict(item_codes(q, q.items[item_code]))
    parts = code.split(" ") if q.items[item_code].type == "multiple_choice" else [code]
    return "; ".join(f"{p} · {labels[p]}" if p in labels else p for p in parts)
