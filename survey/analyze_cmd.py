"""``sipas analyze``: weighted SIPAS indices with confidence intervals from a CSV of responses.

The contract is ``../shared/spec/statistics.md`` §6.  Every input problem is reported with the
file, line and column, and nothing is written; the numbers come from :mod:`analysis`.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from analysis import (
    CI_METHODS,
    Breakdown,
    IndexTree,
    Margin,
    RakingError,
    analyse,
    criterion_values,
    design_weights,
    equal_weights,
    given_weights,
    mean_of_units,
    rake,
)

BOM = b"\xef\xbb\xbf"
MISSING = {"", "na"}
COLUMNS = ("domain", "indicator", "kind", "estimate", "se", "ci_low", "ci_high", "df", "n",
           "n_answered", "deff", "n_eff", "flag", "children", "aggregate")


class InputError(click.ClickException):
    """Bad input: the message names the file, line and column."""

    def __init__(self, path: Path, line: int, column: int | None, message: str,
                 name: str | None = None):
        where = f"{path}, line {line}"
        if column is not None:
            where += f", column {column}" + (f" ({name})" if name else "")
        super().__init__(f"{where}: {message}")


@dataclass
class Table:
    """A parsed CSV file: header, data rows (padded) and the line number of each row."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def index(self, name: str, hint: str = "") -> int:
        """Position of a column, or an error naming the header line."""
        if name in self.header:
            return self.header.index(name)
        folded = [h.lower().replace(".", "_").replace("-", "_") for h in self.header]
        close = difflib.get_close_matches(name.lower(), folded, n=1, cutoff=0.75)
        if close:
            k = folded.index(close[0])
            what = "item code" if hint.startswith(" (item") else "column"
            raise InputError(self.path, 1, k + 1, f"unknown {what} {self.header[k]!r}; "
                             f"expected {name!r}{hint}", self.header[k])
        raise InputError(self.path, 1, None, f"required column {name!r} is missing{hint}")

    def cells(self, name: str, hint: str = "") -> tuple[int, list[str]]:
        """(1-based column number, stripped values) of a column."""
        k = self.index(name, hint)
        return k + 1, [row[k].strip() for row in self.rows]


def read_table(path: Path, required: tuple[str, ...] = ()) -> Table:
    """Read a UTF-8 CSV (BOM allowed) with a header row; reject anything else."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from exc
    raw = raw[len(BOM):] if raw.startswith(BOM) else raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start:exc.start].decode("utf-8", "replace")) + 1
        raise InputError(path, raw.count(b"\n", 0, exc.start) + 1, column,
                         f"not UTF-8 (byte 0x{raw[exc.start]:02X}); save the file as "
                         "CSV UTF-8") from exc
    if not text.strip():
        raise InputError(path, 1, 1, "empty file; expected a header row")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
        rows, lines = [], []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise InputError(path, reader.line_num, len(header) + 1,
                                 f"{len(row)} fields but the header has {len(header)}")
            rows.append(row + [""] * (len(header) - len(row)))
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise InputError(path, reader.line_num, None, f"not a valid CSV: {exc}") from exc
    for k, name in enumerate(header):
        if not name or header.index(name) != k:
            raise InputError(path, 1, k + 1, "empty or repeated column name", name)
    table = Table(path, header, rows, lines)
    for name in required:
        table.index(name)
    if not rows:
        raise InputError(path, 2, 1, "no data rows after the header")
    return table


def _number(table: Table, line: int, column: int, name: str, text: str) -> float:
    """A positive finite number, or an error at its cell."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError(table.path, line, column, f"{text!r} is not a positive number", name)
    return value


def _answers(table: Table, tree: IndexTree, items: dict) -> np.ndarray:
    """Answers of every criterion: NaN for empty/NA, else checked against the item's scale.

    A PAPI count criterion reads several yes/no columns; a number item is checked against its
    ``min``–``max`` (see :func:`analysis.criterion_values`).
    """
    users = {}
    for crit in tree.criteria:
        for code in crit.sources:
            users.setdefault(code, crit.code)
    parsed = {code: _item_column(table, items[code], crit) for code, crit in users.items()}
    return criterion_values(tree, parsed)


def _item_column(table: Table, item, criterion: str) -> np.ndarray:
    """One item's column as floats, each value an integer within the item's range."""
    if item.type == "yes_no":
        low, high = 0, 1
    elif item.type == "number":
        low, high = item.minimum, item.maximum
    else:
        low, high = 1, item.points
    col, cells = table.cells(item.code, f" (item of criterion {criterion})")
    out = np.empty(len(cells))
    for i, text in enumerate(cells):
        if text.lower() in MISSING:
            out[i] = math.nan
            continue
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (value == int(value) if math.isfinite(value) else False) or \
                not low <= value <= high:
            raise InputError(table.path, table.lines[i], col,
                             f"value {text!r} is outside the scale "
                             f"{low}–{high} of {item.type} item {item.code}", item.code)
        out[i] = value
    return out


def _population(path: Path, table: Table, units: list[str]) -> dict[str, float]:
    """POP.csv as unit -> N_h; every unit of the responses must be there with N_h >= n_h."""
    pop = read_table(path, ("unit", "population"))
    ucol, codes = pop.cells("unit")
    ncol, counts = pop.cells("population")
    out: dict[str, float] = {}
    where: dict[str, int] = {}
    for line, code, text in zip(pop.lines, codes, counts, strict=True):
        if code in out:
            raise InputError(path, line, ucol, f"unit {code!r} appears twice", "unit")
        out[code] = _number(pop, line, ncol, "population", text)
        where[code] = line
    ucol_r = table.index("unit") + 1
    seen: dict[str, int] = {}
    for line, code in zip(table.lines, units, strict=True):
        if code not in out:
            raise InputError(table.path, line, ucol_r, f"unit {code!r} has no row in {path}",
                             "unit")
        seen[code] = seen.get(code, 0) + 1
    for code, n in seen.items():
        if out[code] < n:
            raise InputError(path, where[code], ncol, f"population {out[code]:g} of unit "
                             f"{code!r} is below its {n} respondents", "population")
    return out


def _margins(path: Path, table: Table, variables: list[str]) -> list[Margin]:
    """MARGINS.csv rows of the raked variables, checked against the categories in the data."""
    spec = read_table(path, ("variable", "category", "population"))
    _, names = spec.cells("variable")
    ccol, cats = spec.cells("category")
    pcol, pops = spec.cells("population")
    margins = []
    for var in variables:
        col, data = table.cells(var, " (a --rake variable)")
        totals: dict[str, float] = {}
        for line, name, cat, text in zip(spec.lines, names, cats, pops, strict=True):
            if name == var:
                if cat in totals:
                    raise InputError(path, line, ccol, f"{var}={cat!r} appears twice", "category")
                totals[cat] = _number(spec, line, pcol, "population", text)
                if cat not in data:
                    raise InputError(path, line, ccol, f"category {cat!r} of {var} is absent "
                                     f"from {table.path}", "category")
        if not totals:
            raise InputError(path, 1, None, f"no rows for the --rake variable {var!r}")
        for line, cat in zip(table.lines, data, strict=True):
            if cat not in totals:
                raise InputError(table.path, line, col, f"{var} {cat!r} has no population in "
                                 f"{path}" if cat else f"{var} is empty (needed for raking)", var)
        margins.append(Margin(var, np.array(data, dtype=object), totals))
    return margins


def _pair(text: str | None, option: str) -> tuple[float, float] | None:
    """``LO,HI`` -> (LO, HI)."""
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter("expected LO,HI such as 0.3,3", param_hint=option) from None
    if not 0 <= lo < 1 < hi:
        raise click.BadParameter("need 0 <= LO < 1 < HI", param_hint=option)
    return lo, hi


def _render(fmt: str, document: dict) -> bytes:
    """The output file's bytes (built in memory, so a failure writes nothing)."""
    if fmt == "json":
        return (json.dumps(document, ensure_ascii=False, indent=1, allow_nan=False)
                + "\n").encode("utf-8")
    rows = []
    for est in document["estimates"]:
        domain = ";".join(f"{k}={v}" for k, v in est["domain"].items())
        children = ";".join(est.get("children", []))
        rows.append([domain, est["indicator"], est["kind"], *(est[c] for c in COLUMNS[3:13]),
                     children, est.get("aggregate")])
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows([[_safe(c) if isinstance(c, str) else ("" if c is None else repr(c))
                           for c in row] for row in rows])
        return BOM + buffer.getvalue().encode("utf-8")
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("estimates")
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([_safe(c) if isinstance(c, str) else c for c in row])
    settings = book.create_sheet("settings")
    for key, value in document["settings"].items():
        settings.append([key, _safe(value if isinstance(value, str) else json.dumps(value))])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _safe(text: str) -> str:
    """Guard text cells against spreadsheet formula injection (numbers are left alone)."""
    from .services.integrity import neutralise_cell  # the one guard every export uses
    return neutralise_cell(text)


def _write(output: Path, data: bytes) -> None:
    """Write atomically: a temporary file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=output.parent or ".", prefix=f".{output.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the report is an ordinary file
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command("analyze")
@click.argument("responses", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--questionnaire", "questionnaire_ref", required=True, metavar="ID_OR_PATH",
              help="Questionnaire id (sipas-counter, sipas-counter@1) or YAML file.")
@click.option("--population", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV unit,population (transactions N_h): design weights N_h/n_h and fpc.")
@click.option("--rake", "rake_vars", metavar="VAR1,VAR2",
              help="Rake the weights to population margins of these columns.")
@click.option("--margins", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV variable,category,population with the margins for --rake.")
@click.option("--trim", metavar="LO,HI",
              help="Bounds on raking factors w/w0 (bounded raking; margins still met).")
@click.option("--by", "by", multiple=True, metavar="COLUMN[,COLUMN]",
              help="Domains: one per category (comma-separated columns are crossed). Repeatable.")
@click.option("--ci-method", type=click.Choice(CI_METHODS), default="logit", show_default=True,
              help="Interval for shares and 0-1 indices (mean scores: Wald with t(df)).")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True, help="Confidence level.")
@click.option("--papi-intervals", is_flag=True,
              help="Report estimate ± 1.645·SE, what PAPI labels a 95% CI (really 90%).")
@click.option("--overall", type=click.Choice(["pooled", "unit-mean"]), default="pooled",
              show_default=True,
              help="Overall domain: pooled with the survey weights, or the mean of the units' own "
                   "indices (Bộ Nội vụ's way of forming a province's value).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "xlsx"]), default="json",
              show_default=True, help="Output format.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (default: standard output; required for xlsx).")
def analyze_command(responses: Path, questionnaire_ref: str, population: Path | None,
                    rake_vars: str | None, margins: Path | None, trim: str | None,
                    by: tuple[str, ...], ci_method: str, level: float, papi_intervals: bool,
                    overall: str, fmt: str, output: Path | None) -> None:
    """Weighted indices with confidence intervals from RESPONSES (CSV, one row per response)."""
    from survey.questionnaires import QuestionnaireError, load_questionnaire

    if bool(rake_vars) != bool(margins):
        raise click.UsageError("--rake and --margins go together")
    if trim and not rake_vars:
        raise click.UsageError("--trim needs --rake")
    if fmt == "xlsx" and output is None:
        raise click.UsageError("--format xlsx needs --output FILE")
    bounds = _pair(trim, "--trim")
    try:
        questionnaire = load_questionnaire(questionnaire_ref)
    except QuestionnaireError as exc:
        raise click.ClickException(str(exc)) from exc
    if not questionnaire.index_root:
        raise click.ClickException(f"questionnaire {questionnaire.key} has no index tree")
    tree = IndexTree.from_questionnaire(questionnaire)
    table = read_table(responses, ("unit",))
    ucol, units = table.cells("unit")
    for line, code in zip(table.lines, units, strict=True):
        if not code:
            raise InputError(responses, line, ucol, "unit is empty", "unit")
    values = _answers(table, tree, questionnaire.items)
    if population is not None:
        design = design_weights(units, _population(population, table, units))
    elif "weight" in table.header and not rake_vars:
        wcol, cells = table.cells("weight")
        design = given_weights(units, [_number(table, line, wcol, "weight", text)
                                       for line, text in zip(table.lines, cells, strict=True)])
    else:
        design = equal_weights(units)
    if rake_vars:
        variables = [v.strip() for v in rake_vars.split(",") if v.strip()]
        try:
            design = rake(design, _margins(margins, table, variables), bounds=bounds)
        except RakingError as exc:
            raise click.ClickException(f"{margins}: {exc}") from exc
    breakdowns = []
    for spec in by:
        names = tuple(v.strip() for v in spec.split(",") if v.strip())
        if names == ("unit",):
            breakdowns.append(Breakdown.units())
        else:
            breakdowns.append(Breakdown(names, tuple(np.array(table.cells(v)[1], dtype=object)
                                                     for v in names)))
    if overall == "unit-mean" and not any(b.by_stratum for b in breakdowns):
        breakdowns.append(Breakdown.units())
    report = analyse(design, tree, values, breakdowns=breakdowns, ci_method=ci_method,
                     level=level, papi_intervals=papi_intervals)
    estimates = list(report.estimates)
    if overall == "unit-mean":
        averaged = mean_of_units(report, tree, ci_method=ci_method, level=level,
                                 papi_intervals=papi_intervals)
        estimates = list(averaged) + [e for e in estimates if e.domain]
        if not any(names == ("unit",) for names in (tuple(v.strip() for v in spec.split(","))
                                                   for spec in by)):
            estimates = [e for e in estimates if tuple(k for k, _ in e.domain) != ("unit",)]
        report.settings["higher_level"] = ("mean of the units' own indices (each unit counts "
                                           "once; suppressed units left out); SE from the "
                                           "independent units' variances")
    info = questionnaire.to_dict()
    document = {
        "questionnaire": {k: info[k] for k in ("id", "version", "content_hash", "title",
                                                "percent", "index")},
        "settings": {"responses": str(responses), "respondents": design.n,
                     "units": design.n_strata, "population": str(population or "") or None,
                     "rake": rake_vars, "margins": str(margins or "") or None, "trim": bounds,
                     "by": list(by), **report.settings},
        "estimates": [est.to_dict() for est in estimates],
    }
    data = _render(fmt, document)
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        _write(output, data)
        click.echo(f"wrote {len(estimates)} estimates to {output}", err=True)
