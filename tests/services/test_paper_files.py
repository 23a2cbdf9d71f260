"""Paper forms under concurrency and from files: one response per serial; XLSX; same numbers as analyze."""

from __future__ import annotations

import csv
import io
import json
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from survey.analyze_cmd import analyze_command
from survey.extensions import db
from survey.models import PaperEntry, PaperForm, Response
from survey.questionnaires import load_questionnaire
from survey.services.paper import Actor, PaperError, create_batch, find_form
from survey.services.paper_entry import enter_form
from survey.services.paper_import import import_paper
from survey.services.results import campaign_report
from tests.services.paper_support import TYPED, paper_world


def _race(app, count: int, work) -> list:
    """``work(i)`` in ``count`` threads, each in its own app context, released together."""
    results, barrier = [], threading.Barrier(count)

    def worker(i):
        with app.app_context():
            barrier.wait()
            try:
                results.append(work(i))
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - the loser's refusal is the point
                db.session.rollback()
                results.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("double", [False, True])
def test_clerks_pressing_enter_together_store_one_response(app, double):
    with app.app_context():
        w = paper_world()
        batch = create_batch(campaign=w["campaign"], unit=w["ward"], counter=None, count=1,
                             double_entry=double, actor=w["manager"])
        db.session.commit()
        serial = db.session.scalar(select(PaperForm.serial).filter_by(batch_id=batch.id))
        actors = [w["a"], w["b"], w["manager"], Actor("cli")]

    def work(i):
        return enter_form(find_form(serial), TYPED, actor=actors[i]).kind

    results = _race(app, 4, work)
    with app.app_context():
        responses = db.session.scalar(select(func.count()).select_from(Response))
        entries = db.session.scalars(select(PaperEntry.round)).all()
        if not double:
            assert responses == 1 and results.count("stored") == 1
        else:  # one first entry wins; at most one second entry, by another clerk
            assert results.count("held") == 1 and sorted(entries)[:1] == [1]
            assert responses == results.count("matched") <= 1 and len(entries) <= 2
        # Every other clerk gets a clear refusal (not a crash).
        assert all(isinstance(r, str | PaperError) for r in results) and len(results) == 4, results


def test_an_xlsx_file_with_numbers_as_numbers_is_imported(app):
    from openpyxl import Workbook
    with app.app_context():
        w = paper_world()
        batch = create_batch(campaign=w["campaign"], unit=w["ward"], counter=None, count=2,
                             double_entry=False, actor=w["a"])
        db.session.commit()
        serials = db.session.scalars(select(PaperForm.serial).filter_by(batch_id=batch.id)).all()
        book = Workbook()
        sheet = book.active
        sheet.append(["Báo cáo phiếu giấy"])  # a title row above the headers
        sheet.append(["Mã đơn vị", "Số phiếu", "c1_1", "c1_2", "overall", "improve", "comment"])
        sheet.append(["P1", int(serials[0]), 5, 0, 4, 13, "Rất tốt"])
        sheet.append(["P1", int(serials[1]), 4.0, None, 2, None, None])
        buffer = io.BytesIO()
        book.save(buffer)
        summary = import_paper(buffer.getvalue(), "phieu.xlsx", campaign=w["campaign"], user=None,
                               actor=w["a"])
        db.session.commit()
        assert summary.rows == 2
        first = db.session.get(Response, db.session.scalar(
            select(PaperForm.response_id).filter_by(serial=serials[0])))
        stored = {a.item_code: a for a in first.answers}
        assert stored["c1_1"].rating == 5 and stored["c1_2"].not_applicable
        assert stored["improve"].choices == ["e1", "e3"] and stored["comment"].text == "Rất tốt"


def test_an_analyze_file_imported_gives_the_numbers_sipas_analyze_gives(app, tmp_path):
    """The same CSV: ``sipas analyze`` on the file, and campaign_report on its imported forms."""
    q = load_questionnaire("sipas-counter")
    criteria = [n.item for n in q.criteria()]
    rng = np.random.default_rng(9)
    path = tmp_path / "responses.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["unit", "serial", "sex", "gave_feedback", *criteria])
        for i in range(60):
            feedback = int(rng.random() < 0.4)
            cells = []
            for item in criteria:
                draw = rng.random()
                skipped = draw < 0.08 or (item.startswith("c5_") and not feedback)
                cells.append("NA" if skipped else int(rng.choice([1, 2, 3, 4, 5], p=[.05, .1, .15, .4, .3])))
            writer.writerow(["P1" if i % 3 else "P2", f"GIAY-{i:03d}", rng.choice(["male", "female"]),
                             feedback, *cells])
    result = CliRunner().invoke(analyze_command, [str(path), "--questionnaire", "sipas-counter",
                                                  "--by", "unit"])
    assert result.exit_code == 0, result.output
    expected = {(tuple(sorted(e["domain"].items())), e["indicator"], e["kind"]): e
                for e in json.loads(result.stdout)["estimates"]}
    with app.app_context():
        w = paper_world()
        import_paper(path.read_bytes(), path.name, campaign=w["campaign"], user=None, actor=w["a"],
                     allow_new_serials=True)
        db.session.commit()
        assert set(db.session.scalars(select(Response.channel))) == {"paper"}
        report = campaign_report(w["campaign"].id, by=("unit",))
    assert report.settings["n_included"] == 60
    for estimate in report.estimates:
        mine = estimate.to_dict()
        theirs = expected[(tuple(sorted(mine["domain"].items())), mine["indicator"], mine["kind"])]
        for key in ("estimate", "se", "n", "n_answered"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-10, abs=1e-12), (mine["indicator"], key)
