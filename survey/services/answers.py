"""Checking a citizen's answers against a questionnaire (pure: no database, no request)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

from flask_babel import lazy_gettext as _l

from ..questionnaires import NOT_APPLICABLE, Item, Questionnaire

Answers = dict[str, object]

MSG_REQUIRED = _l("Vui lòng trả lời câu hỏi này.")
MSG_CHOICE = _l("Vui lòng chọn một trong các phương án.")
MSG_TOO_MANY = _l("Chọn tối đa %(n)s phương án.")
MSG_NUMBER = _l("Vui lòng nhập một số nguyên từ %(lo)s đến %(hi)s.")
MSG_TOO_LONG = _l("Tối đa %(n)s ký tự (hiện có %(m)s).")


def clean_answers(q: Questionnaire, form: Mapping[str, Sequence[str]]) -> tuple[Answers, dict]:
    """Parse raw form values into stored values; return (answers, errors by item code).

    Items inside a block whose condition is false are dropped (not applicable), whatever the
    browser sent, so a citizen who changed an earlier answer is not held to a hidden question.
    """
    answers: Answers = {}
    errors: dict[str, str] = {}
    for section in q.sections:
        if section.when and not section.when.holds(answers):
            continue
        for code in section.items:
            item = q.items[code]
            if item.when and not item.when.holds(answers):
                continue
            raw = [v.strip() for v in form.get(code, ()) if v is not None and v.strip()]
            value, error = _parse(item, raw)
            if error:
                errors[code] = error
            elif value is None and item.required:
                errors[code] = str(MSG_REQUIRED)
            elif value is not None:
                answers[code] = value
    return answers, errors


def _parse(item: Item, raw: list[str]) -> tuple[object, str | None]:
    """One item's stored value, or an error message."""
    if not raw:
        return None, None
    if item.type == "multiple_choice":
        codes = {o.code for o in item.options}
        chosen = [c for c in dict.fromkeys(raw)]
        if any(c not in codes for c in chosen):
            return None, str(MSG_CHOICE)
        if item.max_choices and len(chosen) > item.max_choices:
            return None, str(MSG_TOO_MANY) % {"n": item.max_choices}
        return [o.code for o in item.options if o.code in chosen], None
    value = raw[-1] if item.type != "text" else raw[0]
    if item.type in ("satisfaction", "scale"):
        if item.allow_na and value == NOT_APPLICABLE:
            return NOT_APPLICABLE, None
        return _integer(value, 1, item.points, MSG_CHOICE)
    if item.type == "yes_no":
        return _integer(value, 0, 1, MSG_CHOICE)
    if item.type == "single_choice":
        ok = value in {o.code for o in item.options}
        return (value, None) if ok else (None, str(MSG_CHOICE))
    if item.type == "number":
        return _integer(value, item.minimum, item.maximum,
                        MSG_NUMBER, {"lo": item.minimum, "hi": item.maximum})
    text = unicodedata.normalize("NFC", value)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    if len(text) > item.max_length:
        return None, str(MSG_TOO_LONG) % {"n": item.max_length, "m": len(text)}
    return text, None


def _integer(value: str, lo: int, hi: int, message, fmt: dict | None = None
             ) -> tuple[int | None, str | None]:
    """An integer in [lo, hi], or the message (formatted with ``fmt``)."""
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not lo <= number <= hi:
        return None, str(message) % fmt if fmt else str(message)
    return number, None
