"""The PAPI questionnaire keys (count, anchored, extra, min_answers): shipped file and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey.questionnaires import QuestionnaireError, load_questionnaire

SOURCE = Path(__file__).resolve().parents[2] / "questionnaires" / "papi-d5-d6.v1.yaml"


def test_shipped_module_shape():
    q = load_questionnaire("papi-d5-d6")
    assert q.index_root == "papi" and q.index_nodes[-1].code == "papi"
    assert not q.percent and q.min_answers == 15
    dims = [q.node(c) for c in q.node("papi").children]
    assert [d.code for d in dims] == ["d5", "d6"]
    for dim in dims:
        assert dim.aggregate == "sum" and dim.scale == (1.0, 10.0) and len(dim.children) == 4
        assert all(q.node(s).scale == (0.25, 2.5) for s in dim.children)
    quality = q.node("d5_2_quality")
    assert quality.scoring == "count" and quality.items == tuple(f"d5_2_c{i}" for i in range(1, 5))
    assert q.node("d6_2_walk").anchors == (60.0, 0.0)
    fees = q.node("d4_fees")
    assert [q.node(c).item for c in fees.children] == [f"d5_{i}_fee" for i in range(1, 5)]
    assert all(q.node(c).scoring == "reversed" for c in fees.children)
    # every user-only item hangs on its usage question; texts in both languages, wording marked
    assert q.items["d5_1_sat"].when.item == "d5_1_used"
    assert q.items["d5_2_c1"].when.item == "d5_2_applied"
    assert q.items["d5_2_applied"].when.item == "d5_2_built"
    notes = [n for s in q.source["sections"] for n in (x.get("note", "") for x in s["questions"])
             if s["code"] != "respondent"]
    assert notes and all(n.startswith("(r) our wording") for n in notes)
    assert all(i.text["vi"] and i.text["en"] for i in q.items.values())
    assert q.to_dict()["index"]["min_answers"] == 15


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = SOURCE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / SOURCE.name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("{count: [d5_1_c1, d5_1_c2", "{count: [d5_1_sat, d5_1_c2", "is not a yes_no question"),
    ("{count: [d5_1_c1, d5_1_c2, d5_1_c3, d5_1_c4], code: d5_1_quality,",
     "{count: [d5_1_c1, d5_1_c2, d5_1_c3, d5_1_c4],", "a count criterion needs its own code"),
    ("scoring: anchored, anchors: [60, 0]", "scoring: anchored, anchors: [60, 60]",
     "anchors: [worst, best]"),
    ("{criterion: d6_2_walk, scoring: anchored, anchors: [60, 0]}",
     "{criterion: d6_2_walk, scoring: normalised}", "anchored scoring applies to number"),
    ("  min_answers: 15  ", "  min_answers: 0  ", "min_answers must be a positive integer"),
    ("- code: d4_fees", "- code: d5", "appears twice"),
])
def test_errors_name_line_and_path(tmp_path, old, new, message):
    with pytest.raises(QuestionnaireError) as err:
        load_questionnaire(str(_broken(tmp_path, old, new)))
    text = str(err.value)
    assert message in text and "papi-d5-d6.v1.yaml:" in text
