"""Chromium: the demo's Nội vụ admin opens the results page, sees the chart and the table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from survey.extensions import db


@pytest.mark.browser
@pytest.mark.skipif(not os.environ.get("SIPAS_CHROMIUM"),
                    reason="headless Chromium tests need SIPAS_CHROMIUM")
def test_browser_results_page_shows_chart_and_table_and_switches_weighting(app):
    """1366×768: chart with whiskers, unit table, weighting switch, no CSP refusals, axe clean."""
    from playwright.sync_api import sync_playwright

    from survey.services.demo import load_demo
    from tests.web.browser_support import Traffic, launch, live_server
    from tests.web.test_browser import _serious

    with app.app_context():
        load_demo(responses=400)
        db.session.commit()
        logins = {u: p for u, p, _ in json.loads((Path(app.instance_path) /
                                                  "demo-logins.json").read_text())}
    with live_server(app) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="vi-VN",
                                      timezone_id="Asia/Ho_Chi_Minh")
        traffic = Traffic()
        traffic.attach(context)
        page = context.new_page()
        refused = []
        page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/login")
        page.fill("#username", "noivu")
        page.fill("#password", logins["noivu"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        page.click("nav >> text=Kết quả")
        page.click("text=Khảo sát SIPAS Sa Đéc năm 2026")
        page.wait_for_url("**/results")
        assert page.locator("h1").inner_text().startswith("Kết quả khảo sát")
        chart = page.locator("figure.chart svg").first
        assert chart.is_visible() and chart.bounding_box()["width"] > 600
        assert chart.get_attribute("role") == "img"
        assert "Gia quyền theo thiết kế" in page.locator("#weighting-title").inner_text()
        units = page.locator("#by-unit + .table-wrap table tbody tr")
        assert units.count() == 11
        assert page.locator("table.results").first.locator("tbody tr").count() > 25
        page.locator("figure.chart").first.locator("xpath=following-sibling::details[1]") \
            .locator("summary").click()
        assert page.locator("details table tbody tr").first.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        assert not _serious(page)
        page.check("#w-unweighted")
        page.click("text=Xem kết quả")
        page.wait_for_url("**weighting=unweighted**")
        assert "Không gia quyền" in page.locator("#weighting-title").inner_text()
        assert page.locator("figure.chart svg").count() >= 3  # units, profile, priority
        assert not [m for m in refused if "Content Security Policy" in m], refused
        assert not traffic.foreign, traffic.foreign
        context.close()
        browser.close()
