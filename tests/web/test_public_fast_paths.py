"""The cheaper per-request paths keep every rule: form tokens, limits, sessions, headers, refusals."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from survey import create_app
from survey.extensions import db, limiter
from survey.models import Response, Unit
from survey.public import tokens

from ..factories import form_token, make_campaign, receipt
from .workspace_support import login, make_user, token_of

UUID = "0b0a6f8e-3d3c-4c55-9a43-2f7e8a1b9c01"


@pytest.fixture()
def token_app():
    """An app (no database needed) with a known secret and token lifetime."""
    return create_app({"TESTING": True, "SECRET_KEY": "s" * 40, "FORM_TOKEN_MAX_AGE": 3600,
                       "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def _reference(secret: str = "s" * 40) -> URLSafeTimedSerializer:
    """itsdangerous's serializer, as the form tokens were made before the fast path."""
    return URLSafeTimedSerializer(secret, salt=tokens.SALT)


def test_form_tokens_are_the_itsdangerous_tokens_both_ways(token_app, monkeypatch):
    now = int(time.time())
    monkeypatch.setattr(time, "time", lambda: now + 0.5)
    with token_app.test_request_context():
        submission, token = tokens.issue("TESTCODE")
        payload = {"u": submission, "c": "TESTCODE", "t": now}
        assert token == _reference().dumps(payload)  # byte for byte
        assert _reference().loads(token, max_age=10) == payload
        assert tokens.read(_reference().dumps(payload), "TESTCODE") == (payload, False)
        # A compressed payload (itsdangerous shrinks repetitive ones) is read the slow way.
        padded = {**payload, "x": "a" * 300}
        assert _reference().dumps(padded).startswith(".")
        assert tokens.read(_reference().dumps(padded), "TESTCODE") == (padded, False)


def test_form_tokens_refuse_what_itsdangerous_refuses(token_app, monkeypatch):
    now = int(time.time())
    with token_app.test_request_context():
        good = _reference().dumps({"u": UUID, "c": "TESTCODE", "t": now})
        value, signature = good.rsplit(".", 1)
        flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
        bad = [value + "." + flipped, good + "x", good[:-1], "", "a.b.c", "....", "ô.ô.ô",
               URLSafeTimedSerializer("o" * 40, salt=tokens.SALT).dumps({"u": UUID, "c": "TESTCODE"}),
               _reference().dumps({"u": UUID.upper(), "c": "TESTCODE"}),
               _reference().dumps({"u": "{" + UUID + "}", "c": "TESTCODE"}),
               _reference().dumps({"u": 5, "c": "TESTCODE"}), _reference().dumps(["TESTCODE"])]
        for token in bad:
            assert tokens.read(token, "TESTCODE") == (None, False), token
        assert tokens.read(good, "OTHERCODE") == (None, False)  # another code's form
        assert tokens.read(good, "TESTCODE") == ({"u": UUID, "c": "TESTCODE", "t": now}, False)
        for moment in (now + 3601, now - 1):  # too old, or signed "in the future"
            monkeypatch.setattr(time, "time", lambda moment=moment: moment)
            assert tokens.read(good, "TESTCODE") == ({"u": UUID, "c": "TESTCODE", "t": now}, True)


@contextmanager
def _limited_app(app, **limits):
    """A second app on ``app``'s database with rate limiting on (memory storage) and ``limits``
    in its config; the shared limiter is reset and the app's engine closed afterwards."""
    limited = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                          "SECRET_KEY": app.config["SECRET_KEY"], "RATELIMIT_ENABLED": True,
                          "RATELIMIT_STORAGE_URI": "memory://", **limits})
    try:
        limiter.reset()
        yield limited
    finally:
        limiter.limit_manager.set_application_limits([])  # the limiter object is shared by every app
        limiter.reset()
        with limited.app_context():
            db.session.remove()
            db.engine.dispose()


def test_app_wide_limits_still_apply_to_the_public_form(app):
    with app.app_context():
        make_campaign()
    with _limited_app(app, RATELIMIT_APPLICATION="3 per minute") as limited:
        client = limited.test_client()
        assert [client.get("/s/TESTCODE").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert client.get("/s/NOSUCHCODE").status_code == 429


def test_without_app_wide_limits_the_form_keeps_its_own_post_limits(app):
    with app.app_context():
        make_campaign()
    with _limited_app(app, RATELIMIT_PUBLIC_DEVICE="2/minute") as limited:
        client = limited.test_client()
        pages = [client.get("/s/TESTCODE") for _ in range(6)]  # GETs are not counted
        assert {page.status_code for page in pages} == {200}
        sent = [client.post("/s/TESTCODE", data={"c1_1": "5",
                                                 "token": form_token(page.get_data(as_text=True))})
                for page in pages[:3]]
        assert [r.status_code for r in sent] == [200, 200, 429]  # the same phone (device cookie)
        with limited.app_context():
            assert db.session.scalar(select(func.count(Response.id))) == 2


def test_sessions_follow_the_secret_key_and_its_fallbacks(app):
    """The session serializer is built once per key: a new key refuses old cookies, unless the
    old key is listed in ``SECRET_KEY_FALLBACKS``; forged cookies are refused."""
    sessions = app.session_interface

    def opened(cookie: str) -> dict:
        with app.test_request_context(headers={"Cookie": f"session={cookie}"}) as ctx:
            return dict(sessions.open_session(app, ctx.request))

    old = app.config["SECRET_KEY"]
    with app.app_context():
        cookie = sessions.get_signing_serializer(app).dumps({"_user_id": "1:x"})
    try:
        assert opened(cookie) == {"_user_id": "1:x"}
        assert opened(cookie[:-2] + "xx") == {}
        app.config["SECRET_KEY"] = "a-new-secret-" + "n" * 30
        assert opened(cookie) == {}
        app.config["SECRET_KEY_FALLBACKS"] = [old]
        assert opened(cookie) == {"_user_id": "1:x"}
    finally:
        app.config["SECRET_KEY"] = old
        app.config["SECRET_KEY_FALLBACKS"] = []


def test_a_session_cookie_is_set_only_when_there_is_a_session(app, client):
    with app.app_context():
        make_user("noivu.k", "admin", _unit())
        db.session.commit()
    assert not client.get("/s/NOSUCHCODE").headers.getlist("Set-Cookie")  # no session, no cookie
    assert login(client, "noivu.k").status_code == 302 and client.get_cookie("session")
    assert client.get("/admin/").status_code == 200
    token = token_of(client.get("/admin/").get_data(as_text=True))
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/admin/").status_code == 302


def _unit() -> Unit:
    """A unit for a workspace account."""
    unit = Unit(code="K1", name="Sở K", level="province")
    db.session.add(unit)
    db.session.flush()
    return unit


def test_security_headers_a_view_set_itself_are_kept_once():
    from survey import _register_security_headers
    plain = Flask(__name__)

    @plain.get("/own")
    def own():
        return "x", 200, {"Content-Security-Policy": "default-src 'none'", "x-frame-options": "SAMEORIGIN"}

    _register_security_headers(plain)
    client = plain.test_client()
    resp = client.get("/own")
    assert resp.headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert resp.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in resp.headers
    secure = client.get("/own", base_url="https://localhost")
    assert secure.headers.getlist("Strict-Transport-Security") == ["max-age=31536000"]


@pytest.mark.parametrize("body", [b"c1_1=5&comm\xffent=x", b"c1_1=5&comment=\xc3\x28", b"c1_1=5&comment=%00",
                                  b"c1%00_1=5", b"c1_1=5&comment=%EF%BF%BD"])
def test_broken_or_nul_form_names_and_values_are_refused(app, client, body):
    with app.app_context():
        make_campaign()
    token = form_token(client.get("/s/TESTCODE").get_data(as_text=True)).encode()
    resp = client.post("/s/TESTCODE", data=body + b"&token=" + token,
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 400 and not receipt(resp.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(func.count(Response.id))) == 0
