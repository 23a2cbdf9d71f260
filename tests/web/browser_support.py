"""Helpers for the headless-Chromium tests: a live server, the browser, page weight, stored data.

The browser is Debian's chromium (``SIPAS_CHROMIUM``); playwright never downloads one. Every
request a page makes to a host other than 127.0.0.1 is aborted and recorded, so the tests never
touch the network and can assert that the public form talks to no one else.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import func, select
from werkzeug.serving import WSGIRequestHandler, make_server

from survey.extensions import db
from survey.models import Response

CHROMIUM = os.environ.get("SIPAS_CHROMIUM")
SKIP_REASON = ("headless Chromium tests need SIPAS_CHROMIUM (e.g. /usr/bin/chromium from "
               "`apt-get install chromium`; scripts/test sets it)")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOST = "127.0.0.1"

# A small phone in Vietnamese: the citizen's device.
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "screen": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "vi-VN",
    "timezone_id": "Asia/Ho_Chi_Minh",
}

# An office screen in Vietnamese: Nội vụ's and the clerks' computers (downloads allowed).
OFFICE = {"viewport": {"width": 1366, "height": 768}, "locale": "vi-VN",
          "timezone_id": "Asia/Ho_Chi_Minh", "accept_downloads": True}

PAGE_WEIGHT_LIMIT = 60 * 1024  # HTML + CSS + JS of the form page, uncompressed (issue 2)
WEIGHED_TYPES = {"document": "html", "stylesheet": "css", "script": "js"}


def launch(playwright):
    """Debian's headless chromium with the network extras switched off."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)


def log_in(page, base: str, username: str, password: str, landing: str) -> None:
    """Log in through the real login form and wait for ``landing`` (a URL glob under ``base``)."""
    page.goto(f"{base}/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{base}{landing}")


def serious_violations(page) -> list[tuple]:
    """axe-core violations of impact serious or critical on ``page`` (axe is bundled: no network).

    Each is (rule id, impact, up to three node selectors); an empty list is a clean page.
    """
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page)
    assert results.response["passes"], "axe checked nothing"
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


class _QuietHandler(WSGIRequestHandler):
    """No access log lines in the test output (errors are still reported)."""

    def log_request(self, code="-", size="-") -> None:
        pass


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port in a background thread; yield its base URL."""
    server = make_server(HOST, 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="sipas-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Traffic:
    """Every request a browser context made, and the ones refused for going off the host."""

    requests: list = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    posts: list = field(default_factory=list)

    def attach(self, context) -> None:
        """Record requests and abort any that leave 127.0.0.1."""
        context.on("request", self._seen)
        context.route(lambda url: urlsplit(url).hostname != HOST, self._refuse)

    def _seen(self, request) -> None:
        self.requests.append(request)
        if request.method == "POST":
            self.posts.append(request)

    def _refuse(self, route) -> None:
        self.foreign.append(route.request.url)
        route.abort("blockedbyclient")


def page_weight(responses) -> dict[str, int]:
    """Uncompressed bytes of HTML, CSS and JS among ``responses`` (decoded bodies)."""
    weight = {"html": 0, "css": 0, "js": 0}
    for response in responses:
        kind = WEIGHED_TYPES.get(response.request.resource_type)
        if kind:
            weight[kind] += len(response.body())
    return weight


def count_responses(app) -> int:
    """How many responses the database holds."""
    with app.app_context():
        return db.session.scalar(select(func.count(Response.id)))


def stored_responses(app) -> list[dict]:
    """Every stored response as ``{"uuid", "receipt", "answers": {item: value}}``."""
    with app.app_context():
        rows = db.session.scalars(select(Response).order_by(Response.id)).all()
        return [{"uuid": str(r.submission_uuid), "receipt": r.receipt,
                 "answers": {a.item_code: _value(a) for a in r.answers}} for r in rows]


def _value(answer):
    """The one value an answer row holds, in the form's terms."""
    if answer.not_applicable:
        return "na"
    for value in (answer.rating, answer.number, answer.choice, answer.choices, answer.text):
        if value is not None:
            return value
    return None


def receipt_text(stored: dict) -> str:
    """A stored receipt as the thank-you page prints it (``ABCD-EFGH``)."""
    return f"{stored['receipt'][:4]}-{stored['receipt'][4:]}"
