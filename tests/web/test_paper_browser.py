"""The paper entry screen in headless Chromium: a clerk types a whole form by keyboard only.

Serial, Enter, then each code and Enter (a wrong code is flagged as typed and Enter stays put),
Enter on the last question saves; the confirmation comes back on the serial box, ready for the
next form. Runs on each database backend.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import PaperForm, Response
from survey.services.paper_codes import questions
from survey.services.questionnaires import questionnaire_of
from tests.services.paper_support import TYPED, paper_world, printed_serials
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


def test_a_clerk_types_a_form_by_keyboard_and_sees_the_confirmation(app):
    from playwright.sync_api import sync_playwright
    with app.app_context():
        w = paper_world()
        (serial,) = printed_serials(w, 1)
        order = [q.code for q in questions(questionnaire_of(w["version"]))]
    with live_server(app) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(**OFFICE)
        traffic = Traffic()
        traffic.attach(context)
        page = context.new_page()
        log_in(page, base, "can.bo.a", PASSWORD, "/staff/**")
        page.goto(f"{base}/staff/paper/entry")

        # A mistyped check digit is caught before anything is sent.
        wrong = serial[:8] + str((int(serial[8]) + 1) % 10)
        page.keyboard.type(wrong)
        assert "sai chữ số kiểm tra" in page.locator("#serial-error").inner_text()
        page.keyboard.press("Enter")
        assert "/staff/paper/entry?" not in page.url
        page.locator("#serial").fill("")
        page.keyboard.type(f"{serial[:3]} {serial[3:6]} {serial[6:]}")
        page.keyboard.press("Enter")
        page.wait_for_url("**/staff/paper/entry?serial=*")
        page.wait_for_function("document.activeElement && document.activeElement.id === 'q-field'")
        assert serious_violations(page) == [], "entry page"

        for code in order:
            focused = page.evaluate("document.activeElement.name")
            if focused != f"q-{code}":
                # The feedback block (Câu 21–24) is skipped after "0 Không"; text fields too.
                assert page.locator(f"#q-{code}").is_disabled(), (code, focused)
                continue
            if code == "c1_1":  # a code outside 1–5: flagged at once, Enter does not move on
                page.keyboard.type("7")
                assert "Mã «7» không hợp lệ" in page.locator("#err-c1_1").inner_text()
                page.keyboard.press("Enter")
                assert page.evaluate("document.activeElement.name") == "q-c1_1"
                page.keyboard.press("Backspace")
            page.keyboard.type(TYPED.get(code, ""))
            if code == "c1_1":
                assert page.locator("#echo-c1_1").inner_text() == "Hài lòng"
            page.keyboard.press("Enter")

        page.get_by_text(f"Đã lưu phiếu số {serial}").wait_for()
        page.wait_for_function("document.activeElement && document.activeElement.id === 'serial'")
        page.goto(f"{base}/staff/paper/")
        assert serious_violations(page) == [], "paper index"
        browser.close()
    assert not traffic.foreign
    with app.app_context():
        response = db.session.scalar(select(Response))
        assert response.channel == "paper"
        stored = {a.item_code: a for a in response.answers}
        assert stored["c1_1"].rating == 4 and stored["c1_3"].not_applicable
        assert stored["improve"].choices == ["e2", "e3"] and stored["comment"].text == TYPED["comment"]
        assert db.session.scalar(select(PaperForm.status)) == "entered"
