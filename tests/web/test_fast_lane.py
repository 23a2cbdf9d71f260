"""The fast lane (public/fastlane.py): the form's plain GET and POST answered without Flask's
request machinery, with the same bytes, headers, counts and stored rows as the views."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from survey.extensions import db, limiter
from survey.models import Response, ScanCount

from ..factories import form_token, make_campaign, receipt

GOOD = {"c1_1": "5", "c1_2": "4", "c2_1": "3", "gave_feedback": "0", "overall": "4",
        "comment": "Cán bộ tận tình, \"nhanh\" & gọn <3"}
# What differs between two requests by design: the token, the submission UUID, the receipt,
# the minute shown, cookie values and their expiry.
_VARYING = [(re.compile(r'name="token" value="[^"]+"'), 'name="token" value="T"'),
            (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "UUID"),
            (re.compile(r"\b[2-9A-Z]{4}-[2-9A-Z]{4}\b"), "RECEIPT"),
            (re.compile(r"\d\d/\d\d/\d{4} \d\d:\d\d"), "TIME")]


def _normal(resp) -> tuple:
    """Status, headers and body with the values that differ by design masked."""
    body = resp.get_data(as_text=True)
    for pattern, stand_in in _VARYING:
        body = pattern.sub(stand_in, body)
    headers = sorted((name, re.sub(r"=[^;]*;", "=V;", value, count=1) if name == "Set-Cookie" else value)
                     for name, value in resp.headers.items())
    headers = [(n, re.sub(r"Expires=[^;]+;", "Expires=E;", v)) for n, v in headers]
    return resp.status_code, headers, body


@contextmanager
def _lanes(app, **config):
    """Two apps on the test database: the app itself (lane on where it can be) and one with the
    lane off; each call through ``app`` is told apart by whether Flask saw it."""
    from survey import create_app
    settings = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                "SECRET_KEY": app.config["SECRET_KEY"], "PUBLIC_BASE_URL": "http://127.0.0.1", **config}
    limiter.limit_manager.set_application_limits([])  # the limiter object is shared by every app
    lane, flask = create_app(settings), create_app({**settings, "PUBLIC_FAST_LANE": False})
    seen: list[str] = []
    inner = lane.wsgi_app.inner

    def flask_saw(environ, start_response):
        seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return inner(environ, start_response)

    lane.wsgi_app.inner = flask_saw
    try:
        yield lane, flask, seen
    finally:
        limiter.limit_manager.set_application_limits([])
        limiter.reset()
        for one in (lane, flask):
            with one.app_context():
                db.session.remove()
                db.engine.dispose()


def _postgres(app):
    if app.config["BACKEND"] != "postgres":
        pytest.skip("the lane runs on PostgreSQL (psycopg) only")


def test_the_lane_serves_the_plain_get_and_post_with_the_views_bytes_and_headers(app):
    _postgres(app)
    with app.app_context():
        make_campaign()
    with _lanes(app) as (lane, flask, seen):
        for base in ("http://localhost", "https://localhost"):  # HSTS on HTTPS only
            for cookie in (None, "en"):
                answers = []
                for one in (flask, lane):  # Flask first: it fills each process cache the lane reads
                    client = one.test_client()
                    if cookie:
                        client.set_cookie("lang", cookie)
                        client.set_cookie("sipas_device", "d" * 22)
                    page = client.get("/s/TESTCODE", base_url=base)
                    sent = client.post("/s/TESTCODE", base_url=base, headers={"Origin": base},
                                       data={**GOOD, "token": form_token(page.get_data(as_text=True))})
                    again = client.post("/s/TESTCODE", base_url=base, headers={"Origin": base},
                                        data={**GOOD, "token": form_token(page.get_data(as_text=True))})
                    assert receipt(sent.get_data(as_text=True)) == receipt(again.get_data(as_text=True))
                    answers.append([_normal(r) for r in (page, sent, again)])
                assert answers[0] == answers[1], (base, cookie)
        assert seen == [], seen  # every one of them answered by the lane
    with app.app_context():
        assert db.session.scalar(select(func.count(Response.id))) == 8  # 2 × 2 × (Flask, lane)
        assert db.session.scalar(select(func.sum(ScanCount.scans))) == 8
        stored = db.session.scalars(select(Response).order_by(Response.id)).all()
        assert {len(r.answers) for r in stored} == {len(GOOD)}
        assert [r.language for r in stored] == ["vi", "vi", "en", "en"] * 2
        assert all(r.device_hash and r.ip_hash and r.answer_pattern for r in stored)


def test_everything_else_goes_to_flask_before_anything_is_counted(app):
    _postgres(app)
    with app.app_context():
        make_campaign()
        make_campaign(kind="single_use", code="SLIPCODE")
    with _lanes(app) as (lane, _flask, seen):
        client = lane.test_client()
        page = client.get("/s/TESTCODE").get_data(as_text=True)
        token = form_token(page)
        cases = [
            (client.get("/s/NOSUCHCODE"), 404, "GET /s/NOSUCHCODE"),
            (client.get("/s/TESTCODE?lang=en"), 200, "GET /s/TESTCODE"),
            (client.head("/s/TESTCODE"), 200, "HEAD /s/TESTCODE"),
            (client.post("/s/TESTCODE", data={**GOOD, "c1_1": "9", "token": token}), 422, "POST /s/TESTCODE"),
            (client.post("/s/TESTCODE", data={**GOOD, "token": token + "x"}), 400, "POST /s/TESTCODE"),
            (client.post("/s/TESTCODE", data={**GOOD, "token": token},
                         headers={"Origin": "https://elsewhere.example"}), 403, "POST /s/TESTCODE"),
            (client.post("/s/TESTCODE", data="c1_1=5&comment=%EF%BF%BD&token=" + token,
                         content_type="application/x-www-form-urlencoded"), 400, "POST /s/TESTCODE"),
            (client.post("/s/TESTCODE", data={**GOOD, "token": token}, content_type="multipart/form-data"),
             200, "POST /s/TESTCODE"),
        ]
        for resp, status, flask_saw in cases:
            assert resp.status_code == status, flask_saw
            assert seen.pop(0) == flask_saw
        slip = client.get("/s/SLIPCODE").get_data(as_text=True)  # served by the lane
        assert seen == []
        sent = client.post("/s/SLIPCODE", data={**GOOD, "token": form_token(slip)})
        assert sent.status_code == 200 and receipt(sent.get_data(as_text=True)) and seen == []
        assert client.get("/s/SLIPCODE").status_code == 410 and seen == ["GET /s/SLIPCODE"]
    with app.app_context():
        # The lane's GETs and the view's GET with ?lang=en count; HEAD and unknown codes do not.
        assert db.session.scalar(select(func.sum(ScanCount.scans))) == 3
        assert db.session.scalar(select(func.count(Response.id))) == 2  # multipart + the slip


def test_a_post_over_a_limit_is_counted_once_and_answered_by_the_view(app):
    _postgres(app)
    with app.app_context():
        make_campaign()
    with _lanes(app, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                RATELIMIT_PUBLIC_IP="2/minute") as (lane, _flask, seen):
        limiter.reset()
        statuses = []
        for _ in range(4):
            client = lane.test_client()  # a new phone each time, one address
            page = client.get("/s/TESTCODE").get_data(as_text=True)
            statuses.append(client.post("/s/TESTCODE", data={**GOOD, "token": form_token(page)}).status_code)
        assert statuses == [200, 200, 429, 429]
        assert seen == ["POST /s/TESTCODE", "POST /s/TESTCODE"]  # the 429 pages come from the view
        address = [k for k in limiter.storage.storage if "/ip:" in k and "/2/1/minute" in k]
        assert len(address) == 1 and limiter.storage.storage[address[0]] == 4  # each POST once
    with app.app_context():
        assert db.session.scalar(select(func.count(Response.id))) == 2


def test_the_lane_stays_out_of_the_way_where_it_cannot_run(app):
    """SQLite, app-wide rate limits or PUBLIC_FAST_LANE off: Flask answers every request."""
    with app.app_context():
        make_campaign()
    configs = [{"PUBLIC_FAST_LANE": False}, {"RATELIMIT_APPLICATION": "100/minute", "RATELIMIT_ENABLED": True,
                                             "RATELIMIT_STORAGE_URI": "memory://"}]
    if app.config["BACKEND"] == "sqlite":
        configs.append({})
    for config in configs:
        with _lanes(app, **config) as (lane, _flask, seen):
            client = lane.test_client()
            page = client.get("/s/TESTCODE")
            sent = client.post("/s/TESTCODE", data={**GOOD, "token": form_token(page.get_data(as_text=True))})
            assert page.status_code == sent.status_code == 200, config
            assert seen == ["GET /s/TESTCODE", "POST /s/TESTCODE"], config


@pytest.mark.parametrize("body", [
    "c1_1=5&c1_2=na&token=abc.def", "comment=C%C3%A1n+b%E1%BB%99+t%E1%BA%ADn+t%C3%ACnh", "a=1+%2B+2",
    "reasons=r1&reasons=r3&reasons=r1", "=x&a=", "x%3Dy=z%26w", "c1_1=5&c1_1=4",
])
def test_the_lane_reads_a_body_as_the_standard_library_does(body):
    """Its own quick reading of the urlencoded body gives what ``parse_qsl`` (strict) gives."""
    from urllib.parse import parse_qsl

    from survey.public.fastlane import _form_fields

    expected: dict[str, list[str]] = {}
    for name, value in parse_qsl(body, keep_blank_values=True, strict_parsing=True, errors="strict"):
        expected.setdefault(name, []).append(value)
    assert _form_fields(body.encode(), 500) == expected


@pytest.mark.parametrize("body", [
    b"a=%FF", b"a=%00", b"a%00=1", b"a=\xc3\xa1", b"a=1&&b=2", b"a=1;b=2", b"a", b"a=b=c", b"a=%EF%BF%BD",
])
def test_a_body_the_lane_does_not_read_goes_to_flask(body):
    """Invalid UTF-8, NUL, raw non-ASCII bytes, odd separators: the views and their hooks decide."""
    from survey.public.fastlane import _form_fields, _Pass

    with pytest.raises(_Pass):
        _form_fields(body, 500)
