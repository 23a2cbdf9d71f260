"""The citizen's form in headless Chromium on a 360×740 phone, in Vietnamese.

Real clicks on labels, with and without JavaScript; no horizontal scroll; page weight and no
foreign hosts; axe-core on the form and thank-you pages; the JavaScript retry and double taps
stored once; full keyboard use. Each test serves its own (parametrized) ``app`` on 127.0.0.1.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import parse_qs, urlsplit

import pytest

from ..factories import make_campaign
from .browser_support import (
    CHROMIUM,
    PAGE_WEIGHT_LIMIT,
    PHONE,
    SKIP_REASON,
    Traffic,
    count_responses,
    launch,
    live_server,
    page_weight,
    receipt_text,
    stored_responses,
)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM, reason=SKIP_REASON)]

SEND = "Gửi đánh giá"
COMMENT = "Cán bộ nhiệt tình, hướng dẫn rõ ràng"
# What the citizen clicks: item -> option value (for the improve checkboxes, several values).
CLICKS = {"field": "ho_tich", "c1_1": "5", "c1_2": "4", "c2_4": "na", "c3_1": "5", "c3_6": "3",
          "c4_2": "2", "overall": "4", "improve": ["e2", "e3"]}


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (each test gets its own context and server)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def site(app):
    """The parametrized app with a campaign, served on 127.0.0.1; yields the form URL."""
    with app.app_context():
        code = make_campaign().code
    with live_server(app) as base:
        yield f"{base}/s/{code}"


@pytest.fixture
def phone(browser):
    """Open a 360×740 Vietnamese phone context: ``phone(js=True)`` -> (page, traffic)."""
    contexts = []

    def open_page(js: bool = True):
        context = browser.new_context(**PHONE, java_script_enabled=js)
        context.set_default_timeout(10_000)
        contexts.append(context)
        traffic = Traffic()
        traffic.attach(context)
        return context.new_page(), traffic

    yield open_page
    for context in contexts:
        context.close()


def label(page, item: str, value: str):
    """The label (tap target) of one option of one question."""
    return page.locator(f'#item-{item} label:has(input[value="{value}"])')


def click_answers(page, clicks: dict) -> None:
    """Tap the labels of the given answers."""
    for item, values in clicks.items():
        for value in values if isinstance(values, list) else [values]:
            label(page, item, value).click()


def horizontal_overflow(page) -> int:
    """Pixels the page scrolls sideways at the current viewport (0 when it fits)."""
    return page.evaluate("document.scrollingElement.scrollWidth") - 360


def submission_of(page) -> str:
    """The submission UUID the form page was issued with."""
    return page.locator('input[name="submission"]').input_value()


@pytest.mark.parametrize("js", [False, True], ids=["no-js", "js"])
def test_fill_in_and_send_by_tapping_labels(app, site, phone, js):
    page, traffic = phone(js=js)
    page.goto(site)
    assert page.locator("html").get_attribute("lang") == "vi"
    uuid = submission_of(page)
    e5 = page.locator("#sec-e5")
    assert e5.is_hidden(), "element 5 must stay hidden until 'Có' (CSS :has(), no JS needed)"
    click_answers(page, CLICKS)
    assert e5.is_hidden()
    label(page, "gave_feedback", "0").click()          # Không: still hidden
    assert e5.is_hidden()
    page.locator("#item-gave_feedback label", has_text="Có").click()
    assert e5.is_visible()
    label(page, "c5_1", "3").click()
    page.locator('#item-comment textarea').fill(COMMENT)
    for item, value in CLICKS.items():
        for v in value if isinstance(value, list) else [value]:
            assert page.locator(f'input[name="{item}"][value="{v}"]').is_checked(), (item, v)

    page.get_by_role("button", name=SEND).click()
    receipt = page.locator(".receipt")
    receipt.wait_for()
    assert page.get_by_role("heading", name="Cảm ơn Ông/Bà đã đánh giá!").is_visible()

    stored = stored_responses(app)
    assert len(stored) == 1
    assert stored[0]["uuid"] == uuid
    assert receipt.inner_text().strip() == receipt_text(stored[0])
    assert stored[0]["answers"] == {
        "field": "ho_tich", "c1_1": 5, "c1_2": 4, "c2_4": "na", "c3_1": 5, "c3_6": 3,
        "c4_2": 2, "overall": 4, "improve": ["e2", "e3"], "gave_feedback": 1, "c5_1": 3,
        "comment": unicodedata.normalize("NFC", COMMENT),
    }
    assert len(traffic.posts) == 1 and not traffic.foreign


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_no_horizontal_scroll_at_360px(app, site, phone, lang):
    page, _ = phone(js=False)
    page.goto(f"{site}?lang={lang}")
    assert horizontal_overflow(page) <= 0, "form page scrolls sideways"
    # With every conditional block open (the longest form).
    click_answers(page, {"gave_feedback": "1", "ethnicity": "other", "c5_1": "na"})
    assert page.locator("#sec-e5").is_visible()
    assert horizontal_overflow(page) <= 0, "form page scrolls sideways with all blocks open"
    page.get_by_role("button").last.click()
    page.locator(".receipt").wait_for()
    assert horizontal_overflow(page) <= 0, "thank-you page scrolls sideways"
    assert count_responses(app) == 1


def test_form_page_weight_and_hosts(site, phone):
    page, traffic = phone(js=True)
    responses = []
    page.on("response", lambda response: responses.append(response))
    page.goto(site, wait_until="networkidle")
    weight = page_weight(responses)
    total = sum(weight.values())
    print(f"\nform page weight: {total} bytes (html {weight['html']}, css {weight['css']}, "
          f"js {weight['js']}; {len(traffic.requests)} requests)")
    hosts = {urlsplit(r.url).hostname for r in traffic.requests}
    assert not traffic.foreign, f"requests to other hosts: {traffic.foreign}"
    assert hosts == {"127.0.0.1"}, hosts
    assert weight["html"] and weight["css"] and weight["js"], weight
    assert total <= PAGE_WEIGHT_LIMIT, f"form page is {total} bytes > {PAGE_WEIGHT_LIMIT}"


def _serious(page) -> list[dict]:
    """axe-core violations of impact serious or critical (axe is bundled: no network)."""
    from axe_playwright_python.base import AXE_FILE_PATH
    from axe_playwright_python.sync_playwright import Axe
    assert AXE_FILE_PATH.is_file()
    results = Axe().run(page)
    found = results.response["violations"]
    print(f"\naxe {results.response['testEngine']['version']} on {page.url}: "
          f"{len(found)} violations {[(v['id'], v['impact']) for v in found]}")
    assert results.response["passes"], "axe checked nothing"
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    if bad:
        print(results.generate_report())
    return bad


def test_axe_on_form_and_thank_you_pages(app, site, phone):
    page, traffic = phone(js=True)
    page.goto(site)
    assert _serious(page) == []
    # Every conditional block open, so axe sees them too.
    click_answers(page, {"gave_feedback": "1", "ethnicity": "other", "c1_1": "4"})
    assert _serious(page) == []
    page.get_by_role("button", name=SEND).click()
    page.locator(".receipt").wait_for()
    assert _serious(page) == []
    assert count_responses(app) == 1 and not traffic.foreign


@pytest.mark.parametrize("lost", ["request", "response"])
def test_failed_send_is_retried_with_the_same_uuid(app, site, phone, lost):
    """The first POST fails (never arrives, or arrives but its answer is lost): JS retries."""
    page, traffic = phone(js=True)
    failures = []

    def fail_first_post(route):
        if route.request.method != "POST" or failures:
            route.continue_()
            return
        if lost == "response":
            route.fetch()          # the server stores it; the phone never hears back
        failures.append(route.request.url)
        route.abort("connectionreset")

    page.route("**/s/*", fail_first_post)
    page.clock.install()                   # so the retry back-off need not be waited out
    page.goto(site)
    uuid = submission_of(page)
    click_answers(page, {"c1_1": "5", "overall": "5"})
    with page.expect_event("requestfailed"):
        page.get_by_role("button", name=SEND).click()
    assert count_responses(app) == (1 if lost == "response" else 0)
    page.clock.run_for(30_000)             # form.js waits 2 s before sending again
    receipt = page.locator(".receipt")
    receipt.wait_for()

    assert failures and len(traffic.posts) >= 2
    sent = {_field(p, "submission") for p in traffic.posts}
    assert sent == {uuid}, "the retry must carry the same submission UUID"
    stored = stored_responses(app)
    assert len(stored) == 1 and stored[0]["uuid"] == uuid
    assert receipt.inner_text().strip() == receipt_text(stored[0])
    assert stored[0]["answers"] == {"c1_1": 5, "overall": 5}


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_double_tap_on_send_stores_once(app, site, phone, js):
    page, traffic = phone(js=js)
    page.goto(site)
    click_answers(page, {"c3_1": "4"})
    page.get_by_role("button", name=SEND).dblclick()
    page.locator(".receipt").wait_for()
    page.wait_for_load_state()
    stored = stored_responses(app)
    assert len(stored) == 1
    assert page.locator(".receipt").inner_text().strip() == receipt_text(stored[0])
    print(f"\ndouble tap ({'js' if js else 'no js'}): {len(traffic.posts)} POST(s), 1 stored")
    if js:
        assert len(traffic.posts) == 1, "the send button must be disabled after the first tap"


def test_keyboard_only(app, site, phone):
    page, _ = phone(js=False)
    page.goto(site)
    page.keyboard.press("Tab")                           # the language link
    assert page.evaluate("document.activeElement.hreflang") == "en"
    page.keyboard.press("Tab")                           # first radio of the first question
    focused = page.evaluate("[document.activeElement.name, document.activeElement.value]")
    assert focused == ["field", "ho_tich"]
    outline = page.evaluate(
        "getComputedStyle(document.activeElement.closest('label')).outlineStyle")
    assert outline != "none", "the focused option must show a focus ring"
    page.keyboard.press("Space")
    assert page.locator('input[name="field"][value="ho_tich"]').is_checked()
    page.keyboard.press("ArrowDown")
    assert page.locator('input[name="field"][value="dat_dai"]').is_checked()
    assert not page.locator('input[name="field"][value="ho_tich"]').is_checked()
    page.keyboard.press("Tab")                           # next question: c1_1, first option
    assert page.evaluate("document.activeElement.name") == "c1_1"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.locator('input[name="c1_1"][value="3"]').is_checked()
    for _ in range(100):                                 # on to the send button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "submit":
            break
    else:
        pytest.fail("the send button is not reachable with Tab")
    page.keyboard.press("Enter")
    page.locator(".receipt").wait_for()
    stored = stored_responses(app)
    assert len(stored) == 1 and stored[0]["answers"] == {"field": "dat_dai", "c1_1": 3}


def _field(request, name: str) -> str | None:
    """A form field of a POST request (urlencoded or multipart)."""
    body = request.post_data or ""
    if "multipart/form-data" in (request.headers.get("content-type") or ""):
        marker = f'name="{name}"\r\n\r\n'
        start = body.find(marker)
        return body[start + len(marker):body.index("\r\n", start + len(marker))] if start >= 0 \
            else None
    return parse_qs(body).get(name, [None])[0]


def test_draft_survives_closing_the_tab_and_is_sent_once(app, site, phone):
    """A citizen closes the tab in the queue and comes back: answers and UUID are restored."""
    from survey.extensions import db
    from survey.models import EntryPoint, ProcedureField
    with app.app_context():  # the QR names a field, so the page arrives with one radio checked
        field = ProcedureField(code="ho_tich", name="Hộ tịch")
        db.session.add(field)
        db.session.flush()
        db.session.scalar(db.select(EntryPoint)).field_id = field.id
        db.session.commit()
    page, _ = phone(js=True)
    page.goto(site)
    first_submission = submission_of(page)
    click_answers(page, {"c1_1": "5", "c3_1": "4"})
    page.locator('textarea[name="comment"]').fill(COMMENT)
    page.goto("about:blank")
    page.goto(site)  # a fresh page would carry a new UUID; the draft brings the old one back
    assert page.locator('#item-c1_1 input[value="5"]').is_checked()
    assert page.locator('#item-c3_1 input[value="4"]').is_checked()
    assert page.locator('textarea[name="comment"]').input_value() == COMMENT
    assert submission_of(page) == first_submission
    page.get_by_role("button", name=SEND).click()
    page.locator(".receipt").wait_for()
    assert count_responses(app) == 1
    # After a successful send the draft is gone: the next visit starts empty.
    page.goto(site)
    assert not page.locator('#item-c1_1 input[value="5"]').is_checked()
    assert submission_of(page) != first_submission
