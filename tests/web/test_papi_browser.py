"""The PAPI form in headless Chromium without JavaScript: "if used" blocks appear only after Có."""

from __future__ import annotations

import pytest

from ..factories import make_campaign
from .browser_support import CHROMIUM, PHONE, SKIP_REASON, launch, live_server, stored_responses

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM, reason=SKIP_REASON)]


def _option(page, item: str, value: str):
    return page.locator(f'#item-{item} label:has(input[value="{value}"])')


def test_if_used_blocks_follow_the_usage_answers_without_javascript(app):
    from playwright.sync_api import sync_playwright

    with app.app_context():
        code = make_campaign("papi-d5-d6", code="PAPIFORM").code
    with live_server(app) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(**PHONE, java_script_enabled=False)
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.goto(f"{base}/s/{code}")
        quality = page.locator("#item-d5_1_c1")
        assert quality.is_hidden()
        _option(page, "d5_1_used", "0").click()
        assert quality.is_hidden()
        _option(page, "d5_1_used", "1").click()
        assert quality.is_visible() and page.locator("#item-d5_1_sat").is_visible()
        # chained: the permit questions wait for "built", the permit's quality for "applied"
        assert page.locator("#item-d5_2_applied").is_hidden()
        _option(page, "d5_2_built", "1").click()
        assert page.locator("#item-d5_2_applied").is_visible()
        assert page.locator("#item-d5_2_sat").is_hidden()
        _option(page, "d5_2_applied", "1").click()
        assert page.locator("#item-d5_2_sat").is_visible()
        _option(page, "d5_1_c1", "1").click()
        _option(page, "d5_1_sat", "5").click()
        _option(page, "d6_2_pupil", "1").click()
        page.locator('input[name="d6_2_walk"]').fill("20")
        page.locator('button[type="submit"]').last.click()
        page.locator(".receipt").wait_for()
        context.close()
        browser.close()
    stored = stored_responses(app)
    assert len(stored) == 1
    assert stored[0]["answers"] == {"d5_1_used": 1, "d5_1_c1": 1, "d5_1_sat": 5, "d5_2_built": 1,
                                    "d5_2_applied": 1, "d6_2_pupil": 1, "d6_2_walk": 20}
