"""Progress dashboard: counts per unit and counter, rates, days in Asia/Ho_Chi_Minh, scoping, SVG."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from survey.admin.charts import daily_bars, nice_ceiling
from survey.extensions import db
from survey.models import (
    Campaign,
    CampaignUnit,
    Counter,
    EntryPoint,
    PopulationCount,
    ScanCount,
)
from survey.questionnaires import load_questionnaire
from survey.services.progress import campaign_progress
from survey.services.questionnaires import publish_questionnaire
from tests.web.workspace_support import login, make_response, make_unit, make_user

NOW = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)


@pytest.fixture
def campaign(app):
    """Two wards in one campaign: ward 1 has two counters, scans, a flagged and an excluded response."""
    with app.app_context():
        version, _ = publish_questionnaire(load_questionnaire("counter-rating"))
        city = make_unit("C", "Thành phố Thử", "city")
        w1 = make_unit("W1", "Phường Một", parent=city)
        w2 = make_unit("W2", "Phường Hai", parent=city)
        q1, q2 = Counter(unit_id=w1.id, code="Q1", name="Quầy hộ tịch"), Counter(
            unit_id=w1.id, code="Q2", name="Quầy đất đai")
        q3 = Counter(unit_id=w2.id, code="Q1", name="Quầy Hai")
        db.session.add_all([q1, q2, q3])
        c = Campaign(code="c26", name="Đợt 2026", questionnaire_version_id=version.id,
                     starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 31))
        db.session.add(c)
        db.session.flush()
        db.session.add_all([CampaignUnit(campaign_id=c.id, unit_id=w1.id, target_n=10),
                            CampaignUnit(campaign_id=c.id, unit_id=w2.id, target_n=4)])
        for unit, month, n in ((w1, 2, 999), (w1, 3, 200), (w2, 3, 100), (w2, 4, 999)):
            db.session.add(PopulationCount(unit_id=unit.id, month=date(2026, month, 1), transactions=n))
        e1 = EntryPoint(code="CODEW1Q1", campaign_id=c.id, unit_id=w1.id, counter_id=q1.id)
        e3 = EntryPoint(code="CODEW2Q1", campaign_id=c.id, unit_id=w2.id, counter_id=q3.id)
        db.session.add_all([e1, e3])
        db.session.flush()
        db.session.add_all([ScanCount(entry_point_id=e1.id, day=date(2026, 3, 2), shard=0, scans=5),
                            ScanCount(entry_point_id=e1.id, day=date(2026, 3, 2), shard=3, scans=3),
                            ScanCount(entry_point_id=e3.id, day=date(2026, 3, 2), shard=0, scans=7)])
        # 1 March 17:30 UTC is 2 March 00:30 in Việt Nam: counted on the 2nd.
        make_response(c.id, w1.id, counter_id=q1.id, entry_point_id=e1.id,
                      submitted_at=datetime(2026, 3, 1, 17, 30, tzinfo=UTC))
        make_response(c.id, w1.id, counter_id=q1.id, entry_point_id=e1.id,
                      submitted_at=datetime(2026, 3, 1, 16, 59, tzinfo=UTC), flags=["too_fast"])
        make_response(c.id, w1.id, counter_id=q1.id, entry_point_id=e1.id,
                      submitted_at=datetime(2026, 3, 2, 3, 0, tzinfo=UTC), excluded=True)
        make_response(c.id, w1.id, counter_id=None, submitted_at=datetime(2026, 3, 5, 2, 0, tzinfo=UTC))
        make_response(c.id, w2.id, counter_id=q3.id, entry_point_id=e3.id,
                      submitted_at=datetime(2026, 3, 6, 9, 15, tzinfo=UTC))
        make_user("noivu", "admin", city)
        make_user("truong.w1", "unit_manager", w1)
        make_user("quay.w1", "counter_staff", w1)
        db.session.commit()
        return {"id": c.id, "w1": w1.id, "w2": w2.id, "q1": q1.id, "q2": q2.id, "q3": q3.id}


def _user(username):
    from sqlalchemy import select

    from survey.models import User
    return db.session.scalar(select(User).filter_by(username=username))


def test_progress_counts_rates_and_local_days(app, campaign):
    with app.test_request_context():
        p = campaign_progress(db.session.get(Campaign, campaign["id"]), _user("noivu"), now=NOW)
        w1, w2 = p.units
        assert (w1.code, w2.code) == ("W1", "W2")
        assert (w1.tally.submissions, w1.tally.included, w1.tally.excluded, w1.tally.flagged) == (4, 3, 1, 1)
        assert w1.target == 10 and w1.target_share == pytest.approx(0.3)
        # Transactions of the campaign's month only (March), not February or April.
        assert w1.transactions == 200 and w1.response_rate == pytest.approx(3 / 200)
        assert w1.tally.scans == 8 and w1.tally.via_code == 3
        assert w1.tally.completion == pytest.approx(3 / 8)
        counters = {c.name: c.tally for c in w1.counters}
        assert counters["Quầy hộ tịch"].submissions == 3 and counters["Quầy đất đai"].submissions == 0
        assert counters[""].submissions == 1  # a paper response without a counter
        assert w1.tally.last_at == datetime(2026, 3, 5, 2, 0, tzinfo=UTC)
        assert p.total.tally.included == 4 and p.total.target == 14 and p.total.transactions == 300
        days = dict(p.days)
        assert days[date(2026, 3, 1)] == 1 and days[date(2026, 3, 2)] == 1  # excluded not counted
        assert days[date(2026, 3, 5)] == 1 and days[date(2026, 3, 6)] == 1
        assert p.days[0][0] == date(2026, 3, 1) and p.days[-1][0] == date(2026, 3, 10)  # until today


def test_manager_sees_only_own_subtree(app, campaign):
    with app.test_request_context():
        p = campaign_progress(db.session.get(Campaign, campaign["id"]), _user("truong.w1"), now=NOW)
        assert [u.code for u in p.units] == ["W1"]
        assert p.total.tally.submissions == 4 and p.total.tally.scans == 8
        assert sum(n for _, n in p.days) == 3


def test_dashboard_page_as_admin_and_manager(client, app, campaign):
    login(client, "noivu")
    page = client.get(f"/admin/campaigns/{campaign['id']}/progress")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Phường Một" in html and "Phường Hai" in html and "Quầy đất đai" in html
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and 'role="img"' in html
    assert "<caption>Số phiếu hợp lệ mỗi ngày (giờ Việt Nam)</caption>" in html
    assert "<script" not in html and "style=" not in html  # the CSP allows neither
    assert re.search(r"<th scope=\"row\">02/03/2026</th><td class=\"num\">1</td>", html)
    assert "30,0 %" in html  # ward 1: 3 of 10
    client.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                                          html).group(1)})
    login(client, "truong.w1")
    html = client.get(f"/admin/campaigns/{campaign['id']}/progress").get_data(as_text=True)
    assert "Phường Một" in html and "Phường Hai" not in html and "Quầy Hai" not in html


def test_dashboard_refuses_counter_staff_and_anonymous(client, campaign):
    url = f"/admin/campaigns/{campaign['id']}/progress"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.location
    login(client, "quay.w1")
    assert client.get(url).status_code == 403


def test_dashboard_of_a_campaign_outside_the_subtree_is_404(client, app, campaign):
    with app.app_context():
        w3 = make_unit("W3", "Phường Ba")
        make_user("truong.w3", "unit_manager", w3)
        db.session.commit()
    login(client, "truong.w3")
    response = client.get(f"/admin/campaigns/{campaign['id']}/progress")
    assert response.status_code == 404 and "Phường Một" not in response.get_data(as_text=True)
    assert "Đợt 2026" not in client.get("/admin/").get_data(as_text=True)


def test_english_page_formats_numbers_the_english_way(client, campaign):
    login(client, "noivu")
    html = client.get(f"/admin/campaigns/{campaign['id']}/progress?lang=en").get_data(as_text=True)
    assert "30.0%" in html and '<html lang="en">' in html


def test_svg_chart_axis_and_escaping():
    assert nice_ceiling(0) == (1, 1) and nice_ceiling(7) == (8, 2) and nice_ceiling(123) == (150, 50)
    days = [(date(2026, 1, 1), 0), (date(2026, 1, 2), 3)]
    svg = daily_bars(days, title="<b>&", description="x")
    assert "&lt;b&gt;&amp;" in svg and svg.count("<rect") == 1 and "02/01/2026: 3" in svg
    long = [(date(2026, 1, 1).fromordinal(date(2026, 1, 1).toordinal() + i), i % 5) for i in range(120)]
    labels = re.findall(r">(\d\d/\d\d)</text>", daily_bars(long, title="t", description="d"))
    assert labels == ["01/01", "01/02", "01/03", "01/04"]


@pytest.mark.browser
@pytest.mark.skipif(not __import__("os").environ.get("SIPAS_CHROMIUM"),
                    reason="headless Chromium tests need SIPAS_CHROMIUM")
def test_browser_admin_logs_in_and_sees_the_demo_dashboard(app):
    """Chromium at 1366×768: the demo's admin logs in and reads the progress of the demo campaign."""
    import json
    from pathlib import Path

    from playwright.sync_api import sync_playwright
    from sqlalchemy import func, select

    from survey.models import Response
    from survey.services.demo import load_demo
    from tests.web.browser_support import Traffic, launch, live_server
    from tests.web.test_browser import _serious

    with app.app_context():
        load_demo(responses=200)
        db.session.commit()
        included = db.session.scalar(select(func.count(Response.id)).where(Response.excluded.is_(False)))
        logins = {u: p for u, p, _ in json.loads((Path(app.instance_path) / "demo-logins.json").read_text())}
    with live_server(app) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN",
                                      timezone_id="Asia/Ho_Chi_Minh")
        traffic = Traffic()
        traffic.attach(context)
        page = context.new_page()
        page.goto(f"{base}/admin/")
        assert "/login" in page.url
        assert not _serious(page)
        page.fill("#username", "noivu")
        page.fill("#password", logins["noivu"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        page.click("text=Khảo sát SIPAS Sa Đéc năm 2026")
        page.wait_for_url("**/progress")
        assert page.locator("h1").inner_text().startswith("Tiến độ: Khảo sát SIPAS Sa Đéc năm 2026")
        chart = page.locator("figure.chart svg")
        assert chart.is_visible() and chart.bounding_box()["width"] > 900
        assert chart.locator("rect").count() > 50  # one bar per day with responses
        rows = page.locator("table.progress tbody tr.unit")
        assert rows.count() == 11
        total = page.locator("table.progress tfoot tr td").first.inner_text()
        assert total.replace(".", "") == str(included)
        page.click("text=Bảng số liệu theo ngày")
        assert page.locator("details table tbody tr").first.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366  # fits the office screen
        assert not _serious(page)
        for path in ("/admin/users", "/account/password", "/admin/"):  # the other account pages
            page.goto(f"{base}{path}")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1366
            assert not _serious(page)
        assert not traffic.foreign, traffic.foreign
        context.close()
        browser.close()


def test_dashboard_narrows_to_one_unit_of_the_subtree(client, app, campaign):
    login(client, "noivu")
    url = f"/admin/campaigns/{campaign['id']}/progress"
    html = client.get(f"{url}?unit_id={campaign['w2']}").get_data(as_text=True)
    assert "Quầy Hai" in html and "Quầy hộ tịch" not in html
    assert f'<option value="{campaign["w2"]}" selected>Phường Hai</option>' in html
    client.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                                          html).group(1)})
    login(client, "truong.w1")
    assert client.get(f"{url}?unit_id={campaign['w2']}").status_code == 404  # not in the subtree
    assert client.get(f"{url}?unit_id=abc").status_code == 404
