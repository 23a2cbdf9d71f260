"""``sipas analyze`` end to end: R's numbers from the demo CSV, and every bad-input error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from survey.analyze_cmd import analyze_command

from .helpers import (
    DEMO_DATA,
    DEMO_RESULTS,
    EXTRA_DATA,
    EXTRA_RESULTS,
    FIXTURES,
    RTOL,
    RTOL_LOGIT,
    reference,
    rows,
)

QUESTIONNAIRE = str(FIXTURES / "r-demo.yaml")
REF = reference(DEMO_RESULTS)
XREF = reference(EXTRA_RESULTS)


def write_csv(path: Path, source: Path, rename: dict[str, str] | None = None,
              drop: tuple[str, ...] = ()) -> Path:
    """Copy an R data file, renaming columns (stratum -> unit) and dropping some."""
    rename = {"stratum": "unit", **(rename or {})}
    data = rows(source)
    header = [rename.get(h, h) for h in data[0] if h not in drop]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in data:
            writer.writerow([v for k, v in row.items() if k not in drop])
    return path


def population_csv(path: Path, source: Path) -> Path:
    """unit,population from the N_h column."""
    pops = {r["stratum"]: r["N_h"] for r in rows(source)}
    path.write_text("unit,population\n" + "".join(f"{u},{n}\n" for u, n in pops.items()),
                    encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str, dict | None]:
    """Invoke the command; return exit code, combined output and parsed JSON (if any)."""
    result = CliRunner().invoke(analyze_command, list(args))
    try:
        document = json.loads(result.stdout)
    except ValueError:
        document = None
    return result.exit_code, result.output, document


def find(document: dict, indicator: str, domain: dict | None = None, kind: str = "criterion"):
    """One estimate of the JSON output."""
    matches = [e for e in document["estimates"] if e["indicator"] == indicator
               and e["domain"] == (domain or {}) and e["kind"] == kind]
    assert len(matches) == 1, (indicator, domain, kind)
    return matches[0]


def pct(key: str, ref: dict = REF) -> float:
    """R value on the 0-1 scale -> percent."""
    return 100 * ref[key]


@pytest.fixture
def demo(tmp_path):
    """The R demo data with `unit` (fpc design via POP.csv) and with a `weight` column."""
    return {"fpc": write_csv(tmp_path / "demo.csv", DEMO_DATA),
            "wr": write_csv(tmp_path / "demo-w.csv", DEMO_DATA, {"w": "weight"}),
            "pop": population_csv(tmp_path / "pop.csv", DEMO_DATA)}


@pytest.mark.parametrize("dn", ["fpc", "wr"])
def test_reproduces_r_demo_results(demo, dn):
    args = [str(demo[dn]), "--questionnaire", QUESTIONNAIRE, "--by", "unit", "--by", "sex"]
    if dn == "fpc":
        args += ["--population", str(demo["pop"])]
    code, output, doc = run(*args)
    assert code == 0, output
    est = find(doc, "q1")
    assert est["estimate"] == pytest.approx(pct(f"{dn}.svymean.s1.mean"), rel=RTOL)
    assert est["se"] == pytest.approx(pct(f"{dn}.svymean.s1.se"), rel=RTOL)
    assert est["deff"] == pytest.approx(REF[f"{dn}.svymean.s1.deff"], rel=RTOL)
    assert est["ci_low"] == pytest.approx(pct(f"{dn}.svyciprop.logit.ci[1]"), rel=RTOL_LOGIT)
    assert est["ci_high"] == pytest.approx(pct(f"{dn}.svyciprop.logit.ci[2]"), rel=RTOL_LOGIT)
    assert (est["df"], est["n"], est["n_answered"]) == (39, 42, 39)
    mean = find(doc, "q1", kind="mean")
    assert mean["estimate"] == pytest.approx(REF[f"{dn}.svymean.q1.mean"], rel=RTOL)
    assert mean["se"] == pytest.approx(REF[f"{dn}.svymean.q1.se"], rel=RTOL)
    for i, code in enumerate(("q1", "q2", "q3", "e1", "e2", "overall"), 1):
        kind = "criterion" if code.startswith("q") else "group"
        est = find(doc, code, kind=kind)
        assert est["estimate"] == pytest.approx(pct(f"{dn}.index.est[{i}]"), rel=RTOL)
        assert est["se"] == pytest.approx(pct(f"{dn}.index.se[{i}]"), rel=RTOL)
    for i, unit in enumerate("ABC", 1):
        est = find(doc, "q1", {"unit": unit})
        assert est["estimate"] == pytest.approx(pct(f"{dn}.svyby.stratum.s1.mean[{i}]"), rel=RTOL)
        assert est["se"] == pytest.approx(pct(f"{dn}.svyby.stratum.s1.se[{i}]"), rel=RTOL)
        assert est["deff"] == pytest.approx(REF[f"{dn}.svyby.stratum.s1.deff[{i}]"], rel=RTOL)
        assert est["ci_low"] == pytest.approx(pct(f"{dn}.svyby.stratum.s1.logit_ci_l[{i}]"),
                                              rel=RTOL_LOGIT)
        for j, group in enumerate(("e1", "e2", "overall"), 1):
            est = find(doc, group, {"unit": unit}, "group")
            assert est["se"] == pytest.approx(pct(f"{dn}.index.stratum{unit}.se[{j}]"), rel=RTOL)
    for i, sex in enumerate("FM", 1):
        est = find(doc, "q1", {"sex": sex})
        assert est["se"] == pytest.approx(pct(f"{dn}.svyby.sex.s1.se[{i}]"), rel=RTOL)
        assert est["deff"] == pytest.approx(REF[f"{dn}.svyby.sex.s1.deff[{i}]"], rel=RTOL)


def test_beta_intervals(demo):
    code, output, doc = run(str(demo["fpc"]), "--questionnaire", QUESTIONNAIRE, "--population",
                            str(demo["pop"]), "--by", "unit", "--ci-method", "beta")
    assert code == 0, output
    assert find(doc, "q1")["ci_low"] == pytest.approx(pct("fpc.svyciprop.beta.ci[1]"), rel=RTOL)
    for i, unit in enumerate("ABC", 1):
        est = find(doc, "q1", {"unit": unit})
        assert est["ci_low"] == pytest.approx(pct(f"fpc.svyby.stratum.s1.beta_ci_l[{i}]"),
                                              rel=RTOL)
        assert est["ci_high"] == pytest.approx(pct(f"fpc.svyby.stratum.s1.beta_ci_u[{i}]"),
                                               rel=RTOL)


def test_json_structure_documents_the_index(demo):
    code, _, doc = run(str(demo["fpc"]), "--questionnaire", QUESTIONNAIRE)
    assert code == 0
    assert doc["questionnaire"]["id"] == "r-demo" and doc["questionnaire"]["index"]["root"]
    assert doc["settings"]["ci_method"] == "logit" and doc["settings"]["level"] == 0.95
    assert all(e["domain"] == {} for e in doc["estimates"])  # no --by: the overall domain
    overall = find(doc, "overall", kind="group")
    assert overall["children"] == ["e1", "e2"] and overall["aggregate"] == "mean"
    keys = {"domain", "indicator", "kind", "estimate", "se", "ci_low", "ci_high", "df", "n",
            "n_answered", "deff", "n_eff", "flag"}
    assert all(keys <= set(e) for e in doc["estimates"])


def test_raking_and_trim_match_calibrate(tmp_path):
    data = write_csv(tmp_path / "x.csv", EXTRA_DATA)
    pop = population_csv(tmp_path / "pop.csv", EXTRA_DATA)
    margins = tmp_path / "margins.csv"
    margins.write_text("variable,category,population\nsex,F,8300\nsex,M,7670\n"
                       "agegrp,18-34,4550\nagegrp,35-54,6370\nagegrp,55+,5050\n", "utf-8")
    base = [str(data), "--questionnaire", QUESTIONNAIRE, "--population", str(pop),
            "--rake", "sex,agegrp", "--margins", str(margins)]
    for variant, extra in (("cal", []), ("bnd", ["--trim", "0.5,1.25"])):
        code, output, doc = run(*base, *extra)
        assert code == 0, output
        est = find(doc, "q1")
        assert est["estimate"] == pytest.approx(pct(f"{variant}.s1.mean", XREF), rel=1e-8)
        assert est["se"] == pytest.approx(pct(f"{variant}.s1.se", XREF), rel=1e-8)
        overall = find(doc, "overall", kind="group")
        assert overall["se"] == pytest.approx(pct(f"{variant}.index.se[6]", XREF), rel=1e-8)


def test_papi_intervals_and_csv_and_xlsx_outputs(demo, tmp_path):
    out_csv, out_xlsx = tmp_path / "out.csv", tmp_path / "out.xlsx"
    base = [str(demo["fpc"]), "--questionnaire", QUESTIONNAIRE, "--by", "unit"]
    code, _, doc = run(*base, "--papi-intervals")
    est = find(doc, "q1")
    assert est["ci_high"] - est["estimate"] == pytest.approx(1.645 * est["se"], rel=1e-12)
    assert run(*base, "--format", "csv", "--output", str(out_csv))[0] == 0
    with out_csv.open(encoding="utf-8-sig", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4 * 9 and table[0]["indicator"] == "q1"
    assert float(table[0]["estimate"]) == find(doc, "q1")["estimate"]
    assert run(*base, "--format", "xlsx", "--output", str(out_xlsx))[0] == 0
    sheet = load_workbook(out_xlsx)["estimates"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:4] == ("domain", "indicator", "kind", "estimate")
    assert isinstance(values[1][3], float) and values[1][3] == find(doc, "q1")["estimate"]


# --------------------------------------------------------------------------- bad input

def bad(tmp_path: Path, *args: str, expect: tuple[str, ...]) -> str:
    """Run with --output; assert failure, the message parts, and that nothing was written."""
    out = tmp_path / "result.json"
    code, output, _ = run(*args, "--questionnaire", QUESTIONNAIRE, "--output", str(out))
    assert code != 0, output
    for part in expect:
        assert part in output, (part, output)
    assert not out.exists() and not list(tmp_path.glob(".result.json*"))
    return output


def responses(tmp_path: Path, text: str | bytes, name: str = "r.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def test_unknown_item_code(tmp_path):
    path = responses(tmp_path, "unit,Q1,q2,q3\nA,4,5,3\n")
    bad(tmp_path, path, expect=("r.csv", "line 1", "column 2", "'q1'"))


def test_missing_item_column(tmp_path):
    path = responses(tmp_path, "unit,q2,q3,sex\nA,4,5,F\n")
    bad(tmp_path, path, expect=("r.csv", "line 1", "'q1'", "missing"))


def test_value_outside_the_scale(tmp_path):
    path = responses(tmp_path, "unit,q1,q2,q3\nA,4,5,3\nA,,NA,2\n\"B\",6,1,1\n")
    bad(tmp_path, path, expect=("r.csv", "line 4", "column 2", "'6'", "1–5"))
    path = responses(tmp_path, "unit,q1,q2,q3\nA,4,good,3\n")
    bad(tmp_path, path, expect=("line 2", "column 3", "'good'"))


def test_unit_missing_from_population(tmp_path):
    path = responses(tmp_path, "unit,q1,q2,q3\nA,4,5,3\nZ,1,2,3\n")
    pop = responses(tmp_path, "unit,population\nA,100\n", "pop.csv")
    bad(tmp_path, path, "--population", pop, expect=("r.csv", "line 3", "column 1", "'Z'"))


def test_population_below_respondents(tmp_path):
    path = responses(tmp_path, "unit,q1,q2,q3\nA,4,5,3\nA,1,2,3\n")
    pop = responses(tmp_path, "unit,population\nA,1\n", "pop.csv")
    bad(tmp_path, path, "--population", pop, expect=("pop.csv", "line 2", "column 2"))


def test_not_utf8(tmp_path):
    path = responses(tmp_path, b"unit,q1,q2,q3\nA,4,5,3\n" + "Hà Nam,4,5,3\n"
                     .encode("latin-1"))
    bad(tmp_path, path, expect=("r.csv", "line 3", "column 2", "UTF-8"))


def test_empty_file(tmp_path):
    bad(tmp_path, responses(tmp_path, b""), expect=("r.csv", "line 1", "column 1", "empty"))
    bad(tmp_path, responses(tmp_path, b"\xef\xbb\xbf\n"), expect=("line 1", "empty"))


def test_header_only(tmp_path):
    bad(tmp_path, responses(tmp_path, "unit,q1,q2,q3\n"), expect=("line 2", "no data rows"))


def test_margin_category_absent_from_data(tmp_path):
    path = responses(tmp_path, "unit,q1,q2,q3,sex\nA,4,5,3,F\nA,1,2,3,F\n")
    margins = responses(tmp_path, "variable,category,population\nsex,F,50\nsex,M,50\n", "m.csv")
    bad(tmp_path, path, "--rake", "sex", "--margins", margins,
        expect=("m.csv", "line 3", "column 2", "'M'", "absent"))


def test_data_category_absent_from_margins(tmp_path):
    path = responses(tmp_path, "unit,q1,q2,q3,sex\nA,4,5,3,F\nA,1,2,3,X\n")
    margins = responses(tmp_path, "variable,category,population\nsex,F,50\n", "m.csv")
    bad(tmp_path, path, "--rake", "sex", "--margins", margins,
        expect=("r.csv", "line 3", "column 5", "'X'"))


def test_bad_weight(tmp_path):
    path = responses(tmp_path, "unit,q1,q2,q3,weight\nA,4,5,3,2\nA,1,2,3,-1\n")
    bad(tmp_path, path, expect=("r.csv", "line 3", "column 5", "'-1'"))


def test_options_that_need_each_other(tmp_path):
    path = responses(tmp_path, "unit,q1,q2,q3\nA,4,5,3\n")
    out = bad(tmp_path, path, "--rake", "sex", expect=("--margins",))
    assert "Usage" in out
