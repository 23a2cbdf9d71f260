"""Management pages in headless Chromium at 1366×768: a review decision by clicks, axe-core, no scroll.

Runs on each database backend (the ``app`` fixture), served on 127.0.0.1.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditLog, Response
from tests.services.review_support import XSS, review_world
from tests.web.browser_support import (
    CHROMIUM,
    OFFICE,
    SKIP_REASON,
    Traffic,
    launch,
    live_server,
    log_in,
    serious_violations,
)
from tests.web.workspace_support import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM, reason=SKIP_REASON)]


@pytest.fixture
def office(app):
    """The review world served on 127.0.0.1 and an office-screen page logged in as the admin."""
    from playwright.sync_api import sync_playwright
    with app.app_context():
        world = review_world()
    with live_server(app) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(**OFFICE)
        traffic = Traffic()
        traffic.attach(context)
        page = context.new_page()
        log_in(page, base, "noivu", PASSWORD, "/admin/")
        yield page, base, world, traffic
        browser.close()


def test_admin_excludes_a_flagged_response_by_clicks(app, office):
    page, base, world, traffic = office
    page.get_by_role("navigation").get_by_role("link", name="Duyệt phiếu").click()
    # The comment is shown as text, never run: no dialog opened, the payload is visible.
    page.on("dialog", lambda dialog: pytest.fail(f"script ran: {dialog.message}"))
    assert page.get_by_text(XSS).count() == 1
    page.locator(f"a[href$='/admin/responses/{world['bad']}']").click()
    page.get_by_role("button", name="Loại khỏi phân tích").click()
    assert page.locator("#reason-error").is_visible()          # no reason: refused beside the box
    page.get_by_label("Lý do (bắt buộc)").fill("Trả lời trong 4 giây, cùng thiết bị")
    page.get_by_role("button", name="Loại khỏi phân tích").click()
    page.get_by_text("Đã ghi quyết định vào nhật ký.").wait_for()
    assert page.get_by_role("button", name="Đưa lại vào phân tích").is_visible()
    with app.app_context():
        assert db.session.get(Response, world["bad"]).excluded is True
        assert db.session.scalar(select(AuditLog.actor).filter_by(action="response.exclude")) == "noivu"
    assert not traffic.foreign


def test_management_pages_pass_axe_and_fit_an_office_screen(office):
    page, base, world, traffic = office
    campaign = f"/admin/campaigns/{world['campaign']}"
    for path in ("/admin/units", "/admin/units/new", "/admin/counters", "/admin/campaigns",
                 f"{campaign}/edit", f"{campaign}/targets",
                 "/admin/population", f"/admin/review?campaign_id={world['campaign']}",
                 f"/admin/responses/{world['bad']}", "/admin/audit"):
        page.goto(base + path)
        assert serious_violations(page) == [], path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, (path, width)
    assert not traffic.foreign
