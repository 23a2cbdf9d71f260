"""Hardening: CSRF on every staff/admin POST, security headers on every page type, cookies,
rate limits with the limiter switched on, the production secret, backups that restore."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import abort
from sqlalchemy import func, select

from survey import create_app
from survey.config import ConfigError, from_environment
from survey.extensions import db
from survey.models import EntryPoint, Response, Unit
from survey.services.backup import table_counts

from ..factories import form_token, make_campaign, receipt
from .workspace_support import login, make_user

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
# Routes whose POST is protected otherwise: the public form (signed form token) and the API (keys).
CSRF_EXEMPT_PREFIXES = ("/s/", "/api/")


def _fill(rule) -> str:
    """A URL for ``rule`` with every parameter filled (1 for numbers, TESTCODE for strings)."""
    values = {name: 1 if type(conv).__name__ in ("IntegerConverter", "FloatConverter") else "TESTCODE"
              for name, conv in rule._converters.items()}
    return rule.rule if not values else _build(rule, values)


def _build(rule, values) -> str:
    """Build a path from a rule without a request context."""
    _, path = rule.build(values)
    return path


def _admin(app, client):
    """Log in as a Nội vụ admin; return the unit."""
    with app.app_context():
        entry = db.session.scalar(select(EntryPoint).filter_by(code="TESTCODE")) or make_campaign()
        unit = db.session.get(EntryPoint, entry.id).unit
        make_user("noivu", "admin", unit)
        db.session.commit()
    assert login(client, "noivu").status_code == 302
    return unit


def test_every_staff_and_admin_post_route_needs_the_csrf_token(app, client):
    """No POST outside /s/ and /api/ acts without the CSRF token: 400 from CSRFProtect, or, for
    the uploads that check it in their own form after the larger body limit, a 4xx page."""
    import io

    from survey.extensions import csrf
    _admin(app, client)
    with app.app_context():
        before = table_counts(db.engine)
    checked, by_form = [], []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith(CSRF_EXEMPT_PREFIXES):
            continue
        view = app.view_functions[rule.endpoint]
        own_check = f"{view.__module__}.{view.__name__}" in csrf._exempt_views
        url = _fill(rule)
        for who, c in (("admin", client), ("anonymous", app.test_client())):
            data = {"name": "x", "username": "noivu", "reason": "thử tấn công CSRF",
                    "file": (io.BytesIO(b"code,name\nX1,Xa\n"), "units.csv")}
            resp = c.post(url, data=data, content_type="multipart/form-data")
            if own_check and who == "admin":
                assert 400 <= resp.status_code < 500, (who, rule.rule, resp.status_code)
            else:
                assert resp.status_code in (400, 302) if own_check else resp.status_code == 400, (
                    who, rule.rule, resp.status_code)
        (by_form if own_check else checked).append(rule.rule)
    with app.app_context():
        after = table_counts(db.engine)
    assert after == before  # nothing anywhere was changed by a POST without the token
    assert "/logout" in checked and "/login" in checked
    print(f"\nCSRF refused (400) on {len(checked)} POST routes; checked by the upload form itself "
          f"on {len(by_form)}: {', '.join(sorted(by_form))}")
    assert client.get("/admin/").status_code == 200  # the refused logout logged nobody out


def _check_headers(resp, what: str) -> None:
    """The headers every response carries, and no inline script in HTML."""
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, what
    script = re.search(r"script-src ([^;]+)", csp) or re.search(r"default-src ([^;]+)", csp)
    assert script and not {"'unsafe-inline'", "'unsafe-eval'"} & set(script.group(1).split()), what
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", what
    assert resp.headers.get("X-Frame-Options") == "DENY", what
    if resp.mimetype == "text/html":
        html = resp.get_data(as_text=True)
        assert not INLINE_SCRIPT.search(html), (what, INLINE_SCRIPT.search(html).group(0))
        assert not EVENT_HANDLER.search(html), (what, EVENT_HANDLER.search(html).group(0))


def test_security_headers_on_every_page_type(app, client):
    seen = {}
    with app.app_context():
        make_campaign()
        revoked = make_campaign(code="REVOKED1")
        db.session.get(EntryPoint, revoked.id).revoked_at = datetime(2020, 1, 1, tzinfo=UTC)
        db.session.commit()
    form = client.get("/s/TESTCODE")
    seen["public form"] = form
    token = form_token(form.get_data(as_text=True))
    seen["invalid answers (422)"] = client.post("/s/TESTCODE", data={"token": token, "c1_1": "9"})
    seen["receipt"] = client.post("/s/TESTCODE", data={"token": token, "c1_1": "5"})
    assert receipt(seen["receipt"].get_data(as_text=True))
    seen["unknown code (404)"] = client.get("/s/NOSUCHCODE")
    seen["revoked code (410)"] = client.get("/s/REVOKED1")
    seen["too large (413)"] = client.post("/s/TESTCODE", data={"c9": "x" * 400_000})
    seen["bad encoding (400)"] = client.post(
        "/s/TESTCODE", data=b"--b\r\nContent-Disposition: form-data; name=\"c1_1\"\r\n\r\n\xff\r\n--b--\r\n",
        content_type="multipart/form-data; boundary=b")
    seen["no such page (404)"] = client.get("/no/such/page")
    seen["static CSS"] = client.get("/static/public/form.css")
    seen["static JS"] = client.get("/static/public/form.js")
    seen["condition CSS"] = client.get("/q/1/when.css")
    seen["login"] = client.get("/login")
    seen["health JSON"] = client.get("/healthz")
    _admin(app, client)
    for rule in app.url_map.iter_rules():  # every workspace and API page reachable without ids
        if "GET" in rule.methods and not rule._converters and rule.rule.startswith(
                ("/admin", "/staff", "/api", "/account", "/c")):
            seen[f"GET {rule.rule}"] = client.get(rule.rule)
    assert seen["GET /admin/"].status_code == 200
    for what, resp in seen.items():
        _check_headers(resp, what)
    statuses = {what: r.status_code for what, r in seen.items()}
    assert {200, 400, 404, 410, 413, 422} <= set(statuses.values()), statuses
    print("\nheaders checked on:", statuses)


def test_security_headers_on_429_and_500_pages(monkeypatch, tmp_path):
    monkeypatch.setenv("SIPAS_INSTANCE_PATH", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "k",
                      "RATELIMIT_ENABLED": False})

    @app.get("/boom")
    def boom():
        raise RuntimeError("deliberate")

    @app.get("/busy")
    def busy():
        abort(429)

    client = app.test_client()
    for path, code in (("/boom", 500), ("/busy", 429)):
        resp = client.get(path)
        assert resp.status_code == code and "Vui lòng" in resp.get_data(as_text=True)
        _check_headers(resp, path)


def test_session_and_device_cookies_are_httponly_lax_and_secure_behind_tls(app, client, monkeypatch,
                                                                          tmp_path):
    _admin(app, client)
    session = client.get_cookie("session")
    assert session.http_only and session.same_site == "Lax" and not session.secure
    device = app.test_client()
    device.get("/s/TESTCODE")
    assert device.get_cookie("sipas_device").http_only
    monkeypatch.setenv("SIPAS_COOKIE_SECURE", "1")
    config = from_environment(str(tmp_path))
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    monkeypatch.setenv("SIPAS_ENV", "production")
    monkeypatch.setenv("SIPAS_SECRET_KEY", "long-random-production-secret")
    monkeypatch.delenv("SIPAS_COOKIE_SECURE")
    assert from_environment(str(tmp_path))["SESSION_COOKIE_SECURE"] is True
    secure_app = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                             "RATELIMIT_ENABLED": False})
    secure_client = secure_app.test_client()
    secure_client.get("/s/TESTCODE", base_url="https://127.0.0.1")
    cookie = secure_client.get_cookie("sipas_device", domain="127.0.0.1")
    assert cookie is not None and cookie.secure
    resp = secure_client.get("/login", base_url="https://127.0.0.1")
    assert resp.headers.get("Strict-Transport-Security", "").startswith("max-age=")


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("SIPAS_ENV", "production")
    monkeypatch.delenv("SIPAS_SECRET_KEY", raising=False)
    monkeypatch.setenv("SIPAS_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="SIPAS_SECRET_KEY"):
        create_app()
    assert not (tmp_path / "secret_key").exists()  # no key was invented either


def test_invalid_utf8_is_refused_and_nothing_is_stored(app, client):
    with app.app_context():
        make_campaign()
    token = form_token(client.get("/s/TESTCODE").get_data(as_text=True))
    body = (f"--b\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n{token}\r\n"
            "--b\r\nContent-Disposition: form-data; name=\"c1_1\"\r\n\r\n5\r\n"
            "--b\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\n").encode()
    body += b"\xc3\x28\r\n--b--\r\n"  # not UTF-8
    resp = client.post("/s/TESTCODE", data=body, content_type="multipart/form-data; boundary=b")
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count(Response.id))) == 0


# Rate limits, with the limiter on.

@pytest.fixture(params=["local://", "memory://"])
def limited(app, request):
    """The same database, with rate limits on and small enough to hit in a test; counted in
    the default in-process storage (``local://``) and in the ``limits`` library's own."""
    limited = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"], "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": request.param, "RATELIMIT_PUBLIC_DEVICE": "3/minute",
        "RATELIMIT_PUBLIC_ENTRY": "8/minute", "RATELIMIT_PUBLIC_IP": "1000/minute",
        "LOGIN_RATE_LIMIT": "5/minute",
    })
    with limited.app_context():
        make_campaign()
        make_campaign(code="OTHERCODE")
    yield limited
    with limited.app_context():
        db.session.remove()
        db.engine.dispose()


def _post(client, code="TESTCODE", **answers):
    page = client.get(f"/s/{code}")
    token = form_token(page.get_data(as_text=True))
    return client.post(f"/s/{code}", data={"token": token, "c1_1": "4", **answers})


def test_one_device_is_limited_and_gets_its_answers_back(limited):
    phone = limited.test_client()
    assert [_post(phone).status_code for _ in range(3)] == [200, 200, 200]
    refused = _post(phone, c1_2="2")
    assert refused.status_code == 429
    html = refused.get_data(as_text=True)
    assert "vui lòng đợi một phút" in html
    assert re.search(r'name="c1_2" value="2"[^>]*checked', html)  # the answers are kept
    assert 'name="token"' in html
    with limited.app_context():
        assert db.session.scalar(select(func.count(Response.id))) == 3


def test_shared_wifi_does_not_lock_out_other_devices_but_one_code_is_limited(limited):
    sent = [_post(limited.test_client(), code="OTHERCODE").status_code for _ in range(10)]
    assert sent == [200] * 8 + [429] * 2  # ten phones on one address: the code's limit, not the address
    assert _post(limited.test_client()).status_code == 200  # another counter's code still works


def test_login_brute_force_is_throttled(limited):
    with limited.app_context():
        unit = db.session.scalar(select(Unit))
        make_user("noivu", "admin", unit)
        db.session.commit()
    attacker = limited.test_client()
    codes = [login(attacker, "noivu", password=f"guess-{i}").status_code for i in range(12)]
    assert codes[0] == 401 and 429 in codes, codes
    first_refusal = codes.index(429)
    assert first_refusal <= 6 and set(codes[first_refusal:]) == {429}, codes
    # Even the right password from the attacker's address is refused while throttled.
    assert login(attacker, "noivu").status_code == 429
    print(f"\nlogin brute force: {codes.count(401)} tries answered, then 429 from try {first_refusal + 1}")


# Backups.

def test_backup_and_restore_bring_back_the_same_rows(app, runner, tmp_path):
    with app.app_context():
        entry_id = make_campaign().id
    client = app.test_client()
    for i in range(3):
        _post(client, c1_2=str(1 + i))
    with app.app_context():
        before = table_counts(db.engine)
    target = tmp_path / "sipas.backup"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert target.stat().st_size > 0 and "responses 3" in result.output
    for i in range(2):  # answers after the backup are lost by the restore
        _post(client, c1_2=str(4 + i))
    with app.app_context():
        assert table_counts(db.engine)["responses"] == 5
        db.session.remove()
        db.engine.dispose()
    assert runner.invoke(args=["restore", str(target)], input="n\n").exit_code != 0  # asks first
    result = runner.invoke(args=["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert table_counts(db.engine) == before and before["responses"] == 3
        assert db.session.get(EntryPoint, entry_id).code == "TESTCODE"
    again = runner.invoke(args=["backup", str(target)])
    assert again.exit_code != 0 and "exists" in again.output
