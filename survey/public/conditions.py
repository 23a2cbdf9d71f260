"""Conditional blocks without JavaScript: CSS ``:has()`` rules generated from the questionnaire.

Browsers without ``:has()`` simply show every block; the server drops answers to blocks whose
condition is false, so the stored data is right either way.
"""

from __future__ import annotations

from ..questionnaires import Condition, Questionnaire


def condition_css(q: Questionnaire) -> str:
    """One rule per conditional section or question, inside ``@supports selector(:has(a))``."""
    rules = []
    targets = [(f"#sec-{s.code}", s.when) for s in q.sections if s.when]
    targets += [(f"#item-{i.code}", i.when) for i in q.items.values() if i.when]
    for selector, when in targets:
        shown = _shown_when(q, when)
        if shown:
            rules.append(f"form:not(:has({shown})) {selector}{{display:none}}")
    if not rules:
        return ""
    return "@supports selector(:has(a)){\n" + "\n".join(rules) + "\n}\n"


def _shown_when(q: Questionnaire, when: Condition) -> str | None:
    """A selector list matching a checked input that makes the condition true."""
    item = q.items[when.item]
    if item.type not in ("satisfaction", "scale", "yes_no", "single_choice", "multiple_choice"):
        return None  # typed answers: the block stays visible, the server decides
    name = f'input[name="{item.code}"]'
    if when.op == "not_in":
        excluded = "".join(f':not([value="{v}"])' for v in when.values)
        return f"{name}:checked{excluded}"
    return ",".join(f'{name}[value="{v}"]:checked' for v in when.values)
