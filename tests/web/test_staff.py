"""``/staff`` (counter staff print posters and slips, see counts) and ``/admin/api-keys``."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import ApiKey, AuditLog, CampaignUnit, Counter, EntryPoint, Unit
from tests.factories import form_token, make_campaign
from tests.services.test_printing import require
from tests.web.browser_support import CHROMIUM, PHONE, SKIP_REASON, launch, live_server, serious_violations
from tests.web.workspace_support import PASSWORD, login, make_unit, make_user, token_of

pypdf = require("pypdf")
GOOD = {"c1_1": "5", "c1_2": "4", "c2_1": "3", "gave_feedback": "0", "overall": "4",
        "comment": "Bí mật của người dân"}


@pytest.fixture
def world(app):
    """Own unit T1 (campaign, counter Q1, static code TESTCODE, staff and admin users) and
    another unit with its own counter."""
    with app.app_context():
        entry = make_campaign()
        db.session.add(CampaignUnit(campaign_id=entry.campaign_id, unit_id=entry.unit_id))
        unit = db.session.get(Unit, entry.unit_id)
        make_user("canbo", "counter_staff", unit)
        make_user("noivu", "admin", unit)
        other = make_unit("T2", "Xã Bên Cạnh")
        foreign = Counter(unit_id=other.id, code="QX", name="Quầy khác")
        db.session.add(foreign)
        db.session.commit()
        return {"counter": entry.counter_id, "entry": entry.id, "other_counter": foreign.id,
                "other_unit": other.id, "unit": unit.id}


def _csrf(client, url: str) -> str:
    return token_of(client.get(url).get_data(as_text=True))


def test_staff_sees_counts_of_own_counters_never_answers(app, client, world):
    """Two scans and one response show as counts; the comment text never appears."""
    page = client.get("/s/TESTCODE")
    client.get("/s/TESTCODE")
    client.post("/s/TESTCODE", data={**GOOD, "token": form_token(page.text)})
    login(client, "canbo")
    index = client.get("/staff/")
    assert index.status_code == 200 and "Quầy 1" in index.text and "Quầy khác" not in index.text
    row = re.search(r"Quầy 1</a></th>(.*?)</tr>", index.text, re.S).group(1)
    assert re.findall(r'class="num">([^<]+)<', row) == ["2", "1", "50 %"]
    detail = client.get(f"/staff/counters/{world['counter']}")
    assert detail.status_code == 200 and "http://127.0.0.1/s/TESTCODE" in detail.text
    for body in (index.text, detail.text):
        assert "Bí mật" not in body
    assert client.get(f"/staff/counters/{world['other_counter']}").status_code == 404


def test_poster_download_is_a_pdf_and_is_audited(app, client, world):
    """The poster PDF names the unit in Vietnamese; the audit log has who and which code."""
    login(client, "canbo")
    resp = client.get(f"/staff/counters/{world['counter']}/poster.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert "attachment" in resp.headers["Content-Disposition"]
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(resp.data)).pages)
    assert "Phường Thử Nghiệm" in text and "TEST-CODE" in text
    with app.app_context():
        log = db.session.scalar(select(AuditLog).filter_by(action="qr.print"))
        assert log.actor == "canbo" and log.details["codes"] == ["TESTCODE"]
        assert log.details["kind"] == "poster"
    assert client.get(f"/staff/counters/{world['other_counter']}/poster.pdf").status_code == 404


def test_minting_a_batch_downloads_slips_and_records_the_batch(app, client, world):
    """POST count=5 kind=receipt → 5 new single-use codes, a 5-page 80 mm PDF, two audit entries."""
    login(client, "canbo")
    url = f"/staff/counters/{world['counter']}"
    resp = client.post(f"{url}/slips", data={"count": "5", "kind": "receipt",
                                             "csrf_token": _csrf(client, url)})
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert len(pypdf.PdfReader(io.BytesIO(resp.data)).pages) == 5
    with app.app_context():
        codes = db.session.scalars(select(EntryPoint.code).filter_by(kind="single_use")).all()
        actions = db.session.scalars(select(AuditLog.action).where(AuditLog.user_id.isnot(None))
                                     .order_by(AuditLog.id)).all()
        printed = db.session.scalar(select(AuditLog).filter_by(action="qr.print"))
    assert len(codes) == 5 and actions == ["qr.batch", "qr.print"]
    assert sorted(printed.details["codes"]) == sorted(codes)
    assert "Đã in 5 mã, đã dùng 0, còn 5." in client.get(url).text


@pytest.mark.parametrize("form", [{"count": "0"}, {"count": "1001"}, {"count": "abc"},
                                  {"count": "5", "kind": "poster"}])
def test_bad_batch_request_changes_nothing(app, client, world, form):
    """Out-of-range or non-numeric counts and unknown kinds: a message, no codes, no audit."""
    login(client, "canbo")
    url = f"/staff/counters/{world['counter']}"
    resp = client.post(f"{url}/slips", data={"kind": "slips", **form, "csrf_token": _csrf(client, url)},
                       follow_redirects=True)
    assert resp.status_code == 200 and "Số phiếu phải từ 1 đến 1000" in resp.text
    with app.app_context():
        assert db.session.scalar(select(func.count(EntryPoint.id))) == 1
        assert db.session.scalar(select(func.count(AuditLog.id)).where(
            AuditLog.action.like("qr.%"))) == 0


def test_rotating_a_static_code_revokes_the_old_one(app, client, world):
    """Đổi mã: the old code answers 410, the new one opens the form."""
    login(client, "canbo")
    url = f"/staff/counters/{world['counter']}"
    resp = client.post(f"/staff/entry-points/{world['entry']}/rotate",
                       data={"csrf_token": _csrf(client, url)}, follow_redirects=True)
    assert resp.status_code == 200
    new_code = re.search(r"thành ([0-9A-Z]{8})", resp.text).group(1)
    assert client.get("/s/TESTCODE").status_code == 410
    assert client.get(f"/s/{new_code}").status_code == 200


def test_admin_creates_a_key_shown_once_and_revokes_it(app, client, world):
    """The raw key appears on the creation page only; it works on the API until revoked."""
    login(client, "noivu")
    page = client.post("/admin/api-keys/", data={"unit_id": str(world["unit"]), "name": "iGate",
                                                 "csrf_token": _csrf(client, "/admin/api-keys/")})
    assert page.status_code == 201
    raw = re.search(r'id="new-key">([^<]+)<', page.text).group(1)
    assert raw not in client.get("/admin/api-keys/").text
    with app.app_context():
        key = db.session.scalar(select(ApiKey))
        assert key.key_hash != raw and raw not in key.key_hash and key.unit_id == world["unit"]
    api = client.post("/api/v1/tokens", json={"dossier_code": "HS-1"},
                      headers={"Authorization": f"Bearer {raw}"})
    assert api.status_code == 201
    client.post(f"/admin/api-keys/{key.id}/revoke",
                data={"csrf_token": _csrf(client, "/admin/api-keys/")})
    assert client.post("/api/v1/tokens", json={"dossier_code": "HS-1"},
                       headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_admin_cannot_create_a_key_outside_scope_and_staff_cannot_open_the_page(app, client, world):
    """A unit outside the admin's subtree is refused (422, nothing stored); staff get 403."""
    login(client, "noivu")
    resp = client.post("/admin/api-keys/", data={"unit_id": str(world["other_unit"]), "name": "x",
                                                 "csrf_token": _csrf(client, "/admin/api-keys/")})
    assert resp.status_code == 422 and "phạm vi" in resp.text
    with app.app_context():
        assert db.session.scalar(select(func.count(ApiKey.id))) == 0
    client.post("/logout", data={"csrf_token": _csrf(client, "/admin/api-keys/")})
    login(client, "canbo")
    assert client.get("/admin/api-keys/").status_code == 403


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM, reason=SKIP_REASON)
def test_typed_code_on_a_phone_and_staff_pages_in_chromium(app, world):
    """A citizen types the printed code on a phone and lands on the form; /c and the staff and
    API-key pages have no serious axe-core violations."""
    from playwright.sync_api import sync_playwright
    with app.app_context():
        db.session.get(EntryPoint, world["entry"]).code = "ABCDEFGH"
        db.session.commit()
    with live_server(app) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            phone = browser.new_context(**PHONE).new_page()
            phone.goto(f"{base}/c")
            assert serious_violations(phone) == []
            phone.fill("#code", "abcd efgh")
            phone.get_by_role("button", name="Mở phiếu khảo sát").click()
            phone.wait_for_url(f"{base}/s/ABCDEFGH")
            phone.goto(f"{base}/c?code=zzzz-zzzz")
            assert "Không tìm thấy mã này" in phone.content() and serious_violations(phone) == []
            for username, paths in (("canbo", ["/staff/", f"/staff/counters/{world['counter']}"]),
                                    ("noivu", ["/admin/api-keys/"])):
                office = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
                office.goto(f"{base}/login")
                office.fill("input[name=username]", username)
                office.fill("input[name=password]", PASSWORD)
                office.locator("form button[type=submit]").last.click()
                office.wait_for_load_state()
                for path in paths:
                    office.goto(f"{base}{path}")
                    assert office.url == f"{base}{path}", "not logged in"
                    assert serious_violations(office) == [], path
        finally:
            browser.close()
