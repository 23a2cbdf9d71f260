"""Questionnaire files: shipped ones validate, broken ones fail at the right file:line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from survey.questionnaires import (
    QuestionnaireError,
    load_questionnaire,
    shipped_files,
)
from survey.services.questionnaires import PublishError, publish_questionnaire

SHIPPED = {p.name: p for p in shipped_files()}


def test_all_shipped_questionnaires_validate():
    assert set(SHIPPED) >= {"sipas-counter.v1.yaml", "sipas-2024.v1.yaml",
                            "counter-rating.v1.yaml"}
    for path in SHIPPED.values():
        q = load_questionnaire(path)
        assert q.index_root and q.index_nodes[-1].code == q.index_root
        for item in q.items.values():
            assert item.text["vi"] and item.text["en"]


def test_sipas_counter_has_five_elements_of_22_criteria():
    q = load_questionnaire("sipas-counter")
    root = q.node(q.index_root)
    assert len(root.children) == 5
    sizes = [len(q.node(code).children) for code in root.children]
    assert sizes == [4, 5, 6, 3, 4] and len(q.criteria()) == 22
    e5 = next(s for s in q.sections if s.code == "e5")
    assert e5.when.item == "gave_feedback" and e5.when.values == (1,)
    assert any(s.demographic for s in q.sections)


def test_sipas_2024_has_39_satisfaction_items_and_policy_service_split():
    q = load_questionnaire("sipas-2024")
    assert len(q.criteria()) == 39
    root = q.node(q.index_root)
    assert set(root.children) == {"policy", "service"}
    assert len(q.node("policy").children) == 4 and len(q.node("service").children) == 5


def test_counter_rating_counts_top_two_of_three():
    q = load_questionnaire("counter-rating")
    (criterion,) = q.criteria()
    assert q.items[criterion.item].points == 3 and criterion.scoring == "top2"


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    src = SHIPPED["counter-rating.v1.yaml"]
    text = src.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / src.name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_broken_file_reports_file_line_and_path(tmp_path):
    path = _broken(tmp_path, "type: scale", "type: stars")
    with pytest.raises(QuestionnaireError) as info:
        load_questionnaire(path)
    line = next(n for n, row in enumerate(path.read_text().splitlines(), 1) if "type: stars" in row)
    assert f"{path}:{line}: " in str(info.value)
    assert "questions[0].type" in str(info.value) and "unknown type 'stars'" in str(info.value)


def test_cli_validate_fails_with_file_line(runner, tmp_path):
    path = _broken(tmp_path, "type: scale", "type: stars")
    result = runner.invoke(args=["questionnaires", "validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:" in result.output and "unknown type" in result.output
    ok = runner.invoke(args=["questionnaires", "validate"])
    assert ok.exit_code == 0 and "sipas-counter@1" in ok.output


def test_non_nfc_and_yaml_errors_are_located(tmp_path):
    bad = tmp_path / "x.v1.yaml"
    bad.write_bytes("id: x\nversion: 1\ntitle: {vi: \"Hoa\u0300\", en: A}\n".encode())
    with pytest.raises(QuestionnaireError, match=r"x.v1.yaml:3: text is not in Unicode NFC"):
        load_questionnaire(bad)
    bad.write_text("id: x\nversion: 1\nsections: [\n", encoding="utf-8")
    with pytest.raises(QuestionnaireError, match=r"x.v1.yaml:\d+: YAML syntax"):
        load_questionnaire(bad)


def test_show_json_lists_items_and_index_tree(runner):
    result = runner.invoke(args=["questionnaires", "show", "sipas-counter", "--format", "json"])
    data = json.loads(result.output)
    items = {i["code"]: i for i in data["items"]}
    assert items["c3_1"]["type"] == "satisfaction" and items["c3_1"]["points"] == 5
    nodes = {n["code"]: n for n in data["index"]["nodes"]}
    assert nodes["sipas"]["children"] == ["e1", "e2", "e3", "e4", "e5"]
    assert data["index"]["root"] == "sipas"


def test_published_version_cannot_change_without_new_number(app, tmp_path):
    src = SHIPPED["counter-rating.v1.yaml"]
    copy = tmp_path / src.name
    shutil.copy(src, copy)
    with app.app_context():
        _, created = publish_questionnaire(load_questionnaire(copy))
        assert created
        _, created = publish_questionnaire(load_questionnaire(copy))
        assert not created
        # A comment is not content; a wording change is.
        copy.write_text(src.read_text(encoding="utf-8") + "\n# note\n", encoding="utf-8")
        assert not publish_questionnaire(load_questionnaire(copy))[1]
        copy.write_text(src.read_text(encoding="utf-8").replace('vi: "Hài lòng"', 'vi: "Hài lòng lắm"'),
                        encoding="utf-8")
        with pytest.raises(PublishError, match="new version|version 2"):
            publish_questionnaire(load_questionnaire(copy))
