"""The kiosk ``/k/<code>`` in headless Chromium on a 1280×800 touch tablet.

Rate with one tap, see thanks and the reset, and find nothing of the previous person (the screen's
HTML is again the untouched one, no focus, Vietnamese again, the back button only resets). With the
network cut (``context.set_offline``) ratings are queued in localStorage with their UUIDs, mashing
is refused on screen and counted, and when the network returns every rating is stored exactly once
(also when the same queue is sent again).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import KioskBlockedPress, Response

from .browser_support import CHROMIUM, SKIP_REASON, Traffic, launch, live_server
from .test_kiosk import make_kiosk

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM, reason=SKIP_REASON)]

TABLET = {"viewport": {"width": 1280, "height": 800}, "screen": {"width": 1280, "height": 800},
          "has_touch": True, "locale": "vi-VN", "timezone_id": "Asia/Ho_Chi_Minh"}
ASK = "document.getElementById('kiosk-ask').outerHTML"
CODE = "document.getElementById('kiosk').dataset.code"
QUEUE = f"JSON.parse(localStorage.getItem('sipas-kiosk-queue:' + {CODE}) || '[]')"
BLOCKED = f"JSON.parse(localStorage.getItem('sipas-kiosk-blocked:' + {CODE}) || '[]').length"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def questionnaire() -> str:
    """The kiosk's questionnaire (a test parametrizes it to change it)."""
    return "counter-rating"


@pytest.fixture
def kiosk(app, browser, questionnaire):
    """A kiosk (interval 2 s, thanks 1 s) served on 127.0.0.1: (page, context, url, ids)."""
    app.config.update(KIOSK_MIN_INTERVAL=2, KIOSK_RESET_SECONDS=1)
    with app.app_context():
        made = make_kiosk(questionnaire)
    with live_server(app) as base:
        context = browser.new_context(**TABLET)
        context.set_default_timeout(10_000)
        traffic = Traffic()
        traffic.attach(context)
        page = context.new_page()
        yield page, context, f"{base}/k/{made['code']}", made
        context.close()
        assert not traffic.foreign, traffic.foreign


def rows(app) -> list[Response]:
    with app.app_context():
        return list(db.session.scalars(select(Response).order_by(Response.submitted_at)))


def wait_for(page, check, timeout: float = 10.0):
    """Poll ``check`` until it returns something truthy. ``page.wait_for_function`` would evaluate
    a string, which the page's CSP forbids; the pause is the page's own, so playwright keeps
    serving the context's request routing meanwhile (a ``time.sleep`` would hold every request)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        page.wait_for_timeout(100)
    raise AssertionError("timed out")


def tap(page, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()


def fresh(page) -> None:
    """The ask screen is back and unlocked (the interval has passed)."""
    page.locator("#kiosk-ask").wait_for(state="visible")
    wait_for(page, lambda: page.evaluate("!document.getElementById('kiosk').classList.contains('locked')"))


def test_rate_thanks_reset_and_nothing_of_the_previous_person_remains(app, kiosk):
    page, _context, url, _made = kiosk
    page.goto(url)
    untouched = page.evaluate(ASK)
    page.get_by_role("link", name="English").click()  # switched on the tablet, no page load
    assert page.evaluate("document.documentElement.lang") == "en" and page.url == url
    tap(page, "Satisfied")
    thanks = page.locator("#kiosk-thanks")
    thanks.wait_for(state="visible")
    assert "Thank you for your rating" in thanks.inner_text()
    assert page.locator("#kiosk-ask").is_hidden()
    [row] = wait_for(page, lambda: rows(app))
    assert row.channel == "kiosk" and row.language == "en"
    with app.app_context():
        assert [a.rating for a in db.session.get(Response, row.id).answers] == [2]
    # After a second the screen is fresh: Vietnamese, unlocked after the interval, the same HTML.
    thanks.wait_for(state="hidden")
    assert page.evaluate("document.documentElement.lang") == "vi"
    fresh(page)
    assert page.evaluate(ASK).replace(' class="locked"', "") == untouched
    assert page.evaluate("document.activeElement === document.body")
    assert page.evaluate("window.getSelection().toString()") == ""
    assert page.evaluate(QUEUE) == []
    body = page.inner_text("body")
    assert "Thank you" not in body and "Satisfied" not in body and "Hài lòng" in body
    # The back button does not bring the last person back: the same fresh screen, same page.
    page.go_back()
    assert page.url == url and page.locator("#kiosk-thanks").is_hidden()
    assert page.evaluate(ASK) == untouched
    assert len(rows(app)) == 1
    # A reload from the history is a new page from the server, never a cached one.
    response = page.reload()
    assert response.headers["cache-control"] == "no-store" and page.evaluate(ASK) == untouched


def test_offline_ratings_are_queued_then_stored_exactly_once(app, kiosk):
    page, context, url, made = kiosk
    app.config["KIOSK_MIN_INTERVAL"] = 4  # 3 s locked after the thanks: room for mashing
    page.goto(url)
    context.set_offline(True)
    tap(page, "Rất hài lòng")
    page.locator("#kiosk-thanks").wait_for(state="visible")
    # Mashing: taps on the thanks screen and on the locked buttons are refused and counted.
    for _ in range(3):
        page.locator("#kiosk-thanks").click()
    page.locator("#kiosk-ask").wait_for(state="visible")
    assert page.evaluate("document.getElementById('kiosk').classList.contains('locked')")
    # A person presses a locked button (force: playwright would wait for aria-disabled to clear).
    page.get_by_role("button", name="Không hài lòng", exact=True).click(force=True)
    assert "Vui lòng đợi" in page.locator("#kiosk-wait").inner_text()
    blocked = page.evaluate(BLOCKED)
    assert blocked >= 4 and len(page.evaluate(QUEUE)) == 1
    fresh(page)
    tap(page, "Không hài lòng")
    page.locator("#kiosk-thanks").wait_for(state="visible")
    queued = page.evaluate(QUEUE)
    assert [q["answers"] for q in queued] == [{"rating": ["3"]}, {"rating": ["1"]}]
    assert len({q["uuid"] for q in queued}) == 2
    net = page.locator("#kiosk-net")
    net.wait_for(state="visible")  # already shown for the first rating: wait for the count
    wait_for(page, lambda: "2 đánh giá" in net.inner_text())
    page.wait_for_timeout(500)
    assert rows(app) == []  # nothing reached the server
    context.set_offline(False)
    stored = wait_for(page, lambda: (lambda r: r if len(r) == 2 else None)(rows(app)))
    assert sorted(r.submission_uuid for r in stored) == sorted(q["uuid"] for q in queued)
    assert all(r.channel == "kiosk" for r in stored)
    wait_for(page, lambda: page.evaluate(f"{QUEUE}.length === 0"))
    with app.app_context():
        counted = db.session.scalar(select(func.sum(KioskBlockedPress.blocked))
                                    .filter_by(entry_point_id=made["entry"]))
    assert counted == blocked and page.evaluate(BLOCKED) == 0
    net.wait_for(state="hidden")
    # The same queue sent again (a lost answer, a second tab): stored once all the same.
    page.evaluate(f"localStorage.setItem('sipas-kiosk-queue:' + {CODE}, JSON.stringify({_js(queued)}))")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_for(page, lambda: page.evaluate(f"{QUEUE}.length === 0"))
    assert len(rows(app)) == 2


def _js(value) -> str:
    """A Python value as a JavaScript literal."""
    import json
    return json.dumps(value)


def test_the_one_tap_screen_passes_axe(kiosk):
    from .test_browser import _serious
    page, _context, url, _made = kiosk
    page.goto(url)
    assert _serious(page) == []
    tap(page, "Hài lòng")
    page.locator("#kiosk-thanks").wait_for(state="visible")
    assert _serious(page) == []


@pytest.mark.parametrize("questionnaire", ["sipas-counter"])
def test_full_questionnaire_is_sent_and_the_next_person_gets_an_empty_form(app, kiosk):
    page, _context, url, _made = kiosk
    page.goto(url)
    untouched = page.evaluate(ASK)
    for item, value in (("c1_1", "5"), ("c3_1", "4"), ("gave_feedback", "0"), ("overall", "4")):
        page.locator(f'#item-{item} label:has(input[value="{value}"])').click()
    page.locator('textarea[name="comment"]').fill("Cán bộ hướng dẫn tận tình")
    page.get_by_role("button", name="Gửi đánh giá").click()
    page.locator("#kiosk-thanks").wait_for(state="visible")
    [row] = wait_for(page, lambda: rows(app))
    with app.app_context():
        answers = {a.item_code: a.rating or a.number or a.text
                   for a in db.session.get(Response, row.id).answers}
    assert row.channel == "kiosk" and answers["comment"] == "Cán bộ hướng dẫn tận tình"
    assert answers["c1_1"] == 5 and answers["overall"] == 4
    page.locator("#kiosk-ask").wait_for(state="visible")
    assert page.evaluate("document.querySelectorAll('#kiosk-form input:checked').length") == 0
    assert page.locator('textarea[name="comment"]').input_value() == ""
    assert "Cán bộ hướng dẫn" not in page.content()
    fresh(page)
    assert page.evaluate(ASK).replace(' class="locked"', "") == untouched
    page.go_back()
    assert page.url == url and "Cán bộ hướng dẫn" not in page.content()
    assert len(rows(app)) == 1


def test_a_reload_without_network_still_shows_the_kiosk_and_queues(app, kiosk):
    """The service worker (/k/sw.js) answers a reload from its copy when the network is down."""
    page, context, url, _made = kiosk
    page.goto(url)
    wait_for(page, lambda: page.evaluate("!!navigator.serviceWorker.controller"))
    wait_for(page, lambda: page.evaluate("caches.match(location.pathname).then(hit => !!hit)"))
    context.set_offline(True)
    page.reload()
    tap(page, "Hài lòng")
    page.locator("#kiosk-thanks").wait_for(state="visible")
    assert len(page.evaluate(QUEUE)) == 1 and rows(app) == []
    context.set_offline(False)
    [row] = wait_for(page, lambda: rows(app))
    assert row.channel == "kiosk"
    wait_for(page, lambda: page.evaluate(f"{QUEUE}.length === 0"))
