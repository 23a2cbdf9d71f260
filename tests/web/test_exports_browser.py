"""Export downloads from the page in headless Chromium: a job followed to its link, and the direct CSV.

Runs on each database backend (the ``app`` fixture), served on 127.0.0.1.
"""

from __future__ import annotations

import pytest

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
from tests.web.test_exports_web import world  # noqa: F401  (fixture)
from tests.web.workspace_support import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM, reason=SKIP_REASON)]


def test_exports_download_from_the_page(app, world, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright
    with live_server(app) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(**OFFICE)
        traffic = Traffic()
        traffic.attach(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        log_in(page, base, "noivu", PASSWORD, "/admin/")
        page.goto(f"{base}/admin/campaigns/{world['campaign']}/exports")
        assert serious_violations(page) == []
        page.get_by_label("Trọng số").select_option("unweighted")
        page.get_by_role("button", name="Tạo tệp: Báo cáo Excel (.xlsx)").click()
        link = page.locator("tr.job .job-download a")
        expect(link).to_be_visible(timeout=60_000)  # exports.js polled the job to "done"
        expect(page.locator("tr.job .job-status")).to_have_text("Xong")
        with page.expect_download() as info:
            link.click()
        report = tmp_path / info.value.suggested_filename
        info.value.save_as(report)
        assert report.name == "dot-1-bao-cao.xlsx" and report.read_bytes().startswith(b"PK")
        assert serious_violations(page) == []  # with the job list and its progress bar
        with page.expect_download() as info:
            page.get_by_role("link", name="Tải ngay dữ liệu thô CSV").click()
        raw = tmp_path / info.value.suggested_filename
        info.value.save_as(raw)
        assert raw.read_bytes().startswith(b"\xef\xbb\xbf")
        assert "Phường Một" in raw.read_bytes().decode("utf-8-sig")
        browser.close()
    assert not errors, errors  # no CSP violation, no script error
    assert not traffic.foreign
