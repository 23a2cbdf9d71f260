"""Checking answers against a questionnaire: every type, every condition, every message."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey.questionnaires import load_questionnaire
from survey.services.answers import clean_answers

Q = Path(__file__).parent / "fixtures" / "all-types.v1.yaml"


@pytest.fixture
def check(app):
    """``check(form)`` -> (answers, errors) in a request context (messages are translated)."""
    q = load_questionnaire(Q)

    def run(form: dict, lang: str = "vi"):
        with app.test_request_context(f"/?lang={lang}"):
            raw = {k: v if isinstance(v, list) else [v] for k, v in form.items()}
            return clean_answers(q, raw)
    return run


def test_every_type_is_parsed_to_its_stored_value(check):
    answers, errors = check({"sat": "na", "agree": "2", "channel": "other", "other_channel": " Zalo ",
                             "topics": ["c", "a"], "visited": "1", "visits": "3", "why": "Chậm"})
    assert errors == {}
    assert answers == {"sat": "na", "agree": 2, "channel": "other", "other_channel": "Zalo",
                       "topics": ["a", "c"], "visited": 1, "visits": 3, "why": "Chậm"}


def test_required_and_out_of_range_answers_get_messages(check):
    answers, errors = check({"sat": "6", "channel": "fax", "topics": ["a", "b", "c"],
                             "visited": "1", "visits": "51"})
    assert set(errors) == {"sat", "agree", "channel", "topics", "visits"}
    assert errors["agree"] == "Vui lòng trả lời câu hỏi này."
    assert errors["topics"] == "Chọn tối đa 2 phương án."
    assert errors["visits"] == "Vui lòng nhập một số nguyên từ 0 đến 50."
    assert "visited" in answers  # valid answers are kept for the page that comes back


def test_messages_follow_the_language(check):
    _, errors = check({}, lang="en")
    assert errors["agree"] == "Please answer this question."


def test_text_longer_than_its_limit_is_refused(check):
    _, errors = check({"agree": "3", "channel": "other", "other_channel": "x" * 21})
    assert errors["other_channel"] == "Tối đa 20 ký tự (hiện có 21)."


def test_not_applicable_only_where_allowed(check):
    _, errors = check({"agree": "na"})
    assert "agree" in errors


@pytest.mark.parametrize("form,kept,dropped", [
    ({"agree": "4", "channel": "web", "other_channel": "x"}, set(), {"other_channel"}),
    ({"agree": "4", "visited": "0", "visits": "3"}, set(), {"visits"}),
    ({"agree": "4", "topics": ["a"], "b_sat": "5"}, set(), {"b_sat"}),
    ({"agree": "4", "topics": ["b"], "b_sat": "5"}, {"b_sat"}, set()),
    ({"agree": "3", "why": "x"}, set(), {"why"}),
    ({"agree": "1", "why": "x"}, {"why"}, set()),
    ({"agree": "4", "why": "x"}, set(), {"why"}),
])
def test_conditions_equals_contains_not_in(check, form, kept, dropped):
    answers, errors = check(form)
    assert errors == {}
    assert kept <= set(answers) and not dropped & set(answers)


def test_hidden_invalid_answer_is_not_an_error(check):
    """A citizen who changed an earlier answer is not held to a question now hidden."""
    answers, errors = check({"agree": "4", "visited": "0", "visits": "999"})
    assert errors == {} and "visits" not in answers
