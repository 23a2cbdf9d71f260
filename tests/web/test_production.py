"""Production set-up: /healthz, ProxyFix by setting, gunicorn config, limits shared through Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from alembic.script import ScriptDirectory
from flask import request

from survey import ROOT, create_app

from ..factories import form_token, make_campaign, receipt
from .conftest import _free_port

GUNICORN = Path(sys.executable).with_name("gunicorn")
CONF = ROOT / "deploy" / "gunicorn.conf.py"


def _head() -> str:
    """The newest migration revision."""
    return ScriptDirectory(str(ROOT / "survey" / "migrations")).get_current_head()


def test_healthz_is_ok_when_the_database_answers(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok", "revision": _head()}
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://sipas@127.0.0.1:9/nowhere?connect_timeout=2",  # nothing listens there
    "sqlite:///{tmp}/never-migrated.db",  # reachable but without a schema
])
def test_healthz_is_503_when_the_database_is_unusable(tmp_path, url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": url.format(tmp=tmp_path), "SECRET_KEY": "x",
                      "TESTING": True})
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["status"] == "unavailable"


def _probe_app(tmp_path, proxies: int):
    """An app with a route that shows what it believes about the client."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.db", "SECRET_KEY": "x",
                      "TESTING": True, "TRUSTED_PROXIES": proxies})

    @app.get("/_probe")
    def probe():
        return {"addr": request.remote_addr, "scheme": request.scheme, "host": request.host}

    return app.test_client()


FORWARDED = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "khaosat.example.gov.vn"}


def test_forwarded_headers_are_ignored_by_default(tmp_path):
    seen = _probe_app(tmp_path, 0).get("/_probe", headers=FORWARDED).get_json()
    assert seen == {"addr": "127.0.0.1", "scheme": "http", "host": "localhost"}


def test_forwarded_headers_are_honoured_from_the_configured_proxies_only(tmp_path):
    one = _probe_app(tmp_path, 1).get("/_probe", headers=FORWARDED).get_json()
    # One trusted proxy: the last address it appended; the client's own first entry is not believed.
    assert one == {"addr": "203.0.113.9", "scheme": "https", "host": "khaosat.example.gov.vn"}
    two = _probe_app(tmp_path, 2).get("/_probe", headers=FORWARDED).get_json()
    assert two["addr"] == "198.51.100.7"


def test_trusted_proxies_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SIPAS_TRUSTED_PROXIES", "1")
    monkeypatch.setenv("SIPAS_INSTANCE_PATH", str(tmp_path))
    assert create_app().config["TRUSTED_PROXIES"] == 1


def test_gunicorn_config_reads_the_environment(monkeypatch):
    monkeypatch.setenv("SIPAS_WORKERS", "3")
    monkeypatch.setenv("SIPAS_BIND", "127.0.0.1:9001")
    monkeypatch.setenv("SIPAS_ACCESS_LOG", "")
    settings: dict = {}
    exec(compile(CONF.read_text(), str(CONF), "exec"), settings)
    assert (settings["workers"], settings["bind"], settings["accesslog"]) == (3, "127.0.0.1:9001", None)
    assert settings["errorlog"] == "-" and settings["preload_app"] is True and settings["timeout"] == 30
    assert settings["secure_scheme_headers"] == {}  # only the app's ProxyFix reads X-Forwarded-Proto


# --- several app servers, one database, one Redis ------------------------------------------

def _wait_until_up(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    """Poll ``url`` until it answers; fail with the server's output if it dies or stays silent."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def _status(url: str) -> int:
    """The HTTP status of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_two_app_servers_share_nothing_but_the_database_redis_and_the_secret(app, redis_url, tmp_path):
    """Two gunicorn servers (deploy/gunicorn.conf.py, 2 workers each) share one database and Redis.

    A form opened on one server is sent to the other; a rate limit counted by one holds in the other.
    """
    with app.app_context():
        code = make_campaign().code
    (tmp_path / "limited_wsgi.py").write_text(
        "from survey import create_app\n"
        "app = create_app({'RATELIMIT_APPLICATION': '5 per minute'})\n")
    env = {**os.environ, "SIPAS_ENV": "production", "SIPAS_SECRET_KEY": "shared-secret-for-this-test",
           "SIPAS_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "SIPAS_RATELIMIT_STORAGE_URI": redis_url, "SIPAS_INSTANCE_PATH": str(tmp_path),
           "SIPAS_WORKERS": "2", "SIPAS_ACCESS_LOG": ""}
    servers = []
    try:
        for _ in range(2):
            port = _free_port()
            proc = subprocess.Popen(
                [str(GUNICORN), "-c", str(CONF), "--pythonpath", f"{tmp_path},{ROOT}", "limited_wsgi:app"],
                env={**env, "SIPAS_BIND": f"127.0.0.1:{port}"}, cwd=ROOT,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            servers.append((proc, f"http://127.0.0.1:{port}"))
        for proc, base in servers:
            _wait_until_up(f"{base}/healthz", proc)  # exempt from limits, and the database answers
        (_, first), (_, second) = servers
        with urllib.request.urlopen(f"{first}/s/{code}", timeout=10) as page:
            token = form_token(page.read().decode())
        answers = urlencode({"c1_1": "5", "c2_1": "4", "overall": "4", "token": token}).encode()
        with urllib.request.urlopen(f"{second}/s/{code}", data=answers, timeout=10) as sent:
            assert sent.status == 200 and receipt(sent.read().decode())
        assert [_status(f"{first}/s/NOSUCHCODE") for _ in range(3)] == [404, 404, 404]
        assert _status(f"{second}/s/NOSUCHCODE") == 429  # the other server saw all five requests
        assert _status(f"{second}/healthz") == 200
    finally:
        for proc, _ in servers:
            proc.terminate()
        for proc, _ in servers:
            proc.wait(15)


# --- nginx (deploy/nginx.conf) in front of gunicorn ---------------------------------------------

PROBE = """
from flask import request
from survey import create_app

app = create_app()


@app.get("/_probe")
def probe():
    return {"addr": request.remote_addr, "scheme": request.scheme, "host": request.host}
"""


LETSENCRYPT = "/etc/letsencrypt/live/khaosat.example.gov.vn"


def _nginx_site(tmp_path: Path, http: int, https: int, upstream: int) -> Path:
    """deploy/nginx.conf with this machine's ports, a self-signed certificate and this checkout."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=khaosat.example.gov.vn", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in [("listen 80;", f"listen 127.0.0.1:{http};"),
                     ("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;"),
                     (f"{LETSENCRYPT}/fullchain.pem", str(tmp_path / "cert.pem")),
                     (f"{LETSENCRYPT}/privkey.pem", str(tmp_path / "key.pem")),
                     ("/srv/sipas/survey/static/", f"{ROOT}/survey/static/"),
                     ("server 127.0.0.1:8000", f"server 127.0.0.1:{upstream}")]:
        assert old in site, old
        site = site.replace(old, new)
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    (tmp_path / "sipas.conf").write_text(site)
    main = tmp_path / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        + "http {\n  include /etc/nginx/mime.types;\n  access_log off;\n"
        + "".join(f"  {kind}_temp_path {tmp_path}/{kind};\n"
                  for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {tmp_path}/sipas.conf;\n}}\n")
    return main


def _fetch(url: str, headers: dict | None = None):
    """(status, headers, body) of a GET over TLS to our self-signed nginx, without following redirects."""
    import ssl

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_nginx_example_serves_static_files_and_passes_the_real_client_on(app, tmp_path):
    """deploy/nginx.conf as shipped (ports, certificate and paths swapped) in front of gunicorn."""
    if app.config["BACKEND"] != "sqlite":
        pytest.skip("the proxy in front is the same for both databases")
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but nginx is missing (apt-get install nginx)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    (tmp_path / "probe_wsgi.py").write_text(PROBE)
    upstream, http, https = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "SIPAS_SECRET_KEY": "x" * 32, "SIPAS_INSTANCE_PATH": str(tmp_path),
           "SIPAS_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SIPAS_TRUSTED_PROXIES": "1",
           "SIPAS_WORKERS": "1", "SIPAS_ACCESS_LOG": "", "SIPAS_BIND": f"127.0.0.1:{upstream}"}
    gunicorn = subprocess.Popen(
        [str(GUNICORN), "-c", str(CONF), "--pythonpath", str(tmp_path), "probe_wsgi:app"], env=env,
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    conf = _nginx_site(tmp_path, http, https, upstream)
    checked = subprocess.run([nginx, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proxy = subprocess.Popen([nginx, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"https://127.0.0.1:{https}"
    try:
        _wait_until_up(f"http://127.0.0.1:{upstream}/healthz", gunicorn)
        for _ in range(50):
            if (tmp_path / "nginx.pid").exists():
                break
            time.sleep(0.1)
        status, _, body = _fetch(f"{base}/healthz")
        assert status == 200 and b'"status":"ok"' in body.replace(b" ", b"")
        # A client's own X-Forwarded-For is replaced, not believed; the scheme is https.
        status, _, body = _fetch(f"{base}/_probe", {"X-Forwarded-For": "203.0.113.66"})
        assert (status, body.replace(b" ", b"").strip()) == (
            200, b'{"addr":"127.0.0.1","host":"127.0.0.1:%d","scheme":"https"}' % https)
        # Static files come from disk, compressed and cacheable; pages are compressed too.
        status, headers, _ = _fetch(f"{base}/static/public/form.css", {"Accept-Encoding": "gzip"})
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        assert "public" in headers["Cache-Control"] and "max-age=86400" in headers["Cache-Control"]
        status, headers, _ = _fetch(f"{base}/s/NOSUCHCODE", {"Accept-Encoding": "gzip"})
        assert status == 404 and headers["Content-Encoding"] == "gzip"
        status, headers, _ = _fetch(f"http://127.0.0.1:{http}/s/ABC")
        assert status == 301 and headers["Location"].startswith("https://")
    finally:
        proxy.terminate()
        gunicorn.terminate()
        proxy.wait(10)
        gunicorn.wait(15)


def test_load_benchmark_phones_send_complete_valid_forms():
    """benchmarks/load.py measures real submissions: every body it sends passes the form's checks."""
    from urllib.parse import parse_qs

    from benchmarks.load import _cookies, answer_bodies
    from survey.questionnaires import load_questionnaire
    from survey.services.answers import clean_answers

    q = load_questionnaire("sipas-counter")
    for body in answer_bodies(50):
        answers, errors = clean_answers(q, parse_qs(body))
        assert errors == {} and len([c for c in answers if c.startswith("c")]) >= 18
    head = b"HTTP/1.1 200 OK\r\nSet-Cookie: lang=vi; Path=/\r\nset-cookie: d=abc.def; HttpOnly"
    assert _cookies(head) == "lang=vi; d=abc.def"


def test_load_benchmark_floor_stores_each_submission_in_both_shapes(app, client, tmp_path, monkeypatch):
    """benchmarks/_floor_app.py (``load.py --floors``) really stores what it is sent, answers
    included, as rows or as one wide row, in its own schema (SIPAS's tables untouched)."""
    import re

    from sqlalchemy import create_engine, func, select, text

    from benchmarks._floor_app import create_app as create_floor
    from benchmarks.load import answer_bodies
    from survey.extensions import db
    from survey.models import Response

    from ..factories import make_campaign
    if app.config["BACKEND"] != "postgres":
        pytest.skip("the floor is measured on PostgreSQL")
    with app.app_context():
        make_campaign()
    page = client.get("/s/TESTCODE").get_data(as_text=True)
    stand_in = tmp_path / "page.html"
    stand_in.write_text(re.sub(r'name="token" value="[^"]+"', 'name="token" value="\ue000token\ue000"', page,
                               count=1), encoding="utf-8")
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    monkeypatch.setenv("SIPAS_DATABASE_URL", url)
    monkeypatch.setenv("SIPAS_FLOOR_PAGE", str(stand_in))
    engine = create_engine(url)
    try:
        for shape, answers_where in (("rows", "(SELECT count(*) FROM floor.answers)"),
                                     ("wide", "(SELECT sum(cardinality(item_code)) "
                                              "FROM floor.response_answers)")):
            monkeypatch.setenv("SIPAS_FLOOR_SHAPE", shape)
            floor = create_floor().test_client()
            body = answer_bodies(1)[0]
            for _ in range(2):
                form = floor.get("/s/TESTCODE").get_data(as_text=True)
                assert len(form) > 20_000  # SIPAS's own page
                token = re.search(r'name="token" value="([^"]+)"', form).group(1)
                sent = floor.post("/s/TESTCODE", data=body + "&token=" + token,
                                  content_type="application/x-www-form-urlencoded")
                assert sent.status_code == 200 and b'class="receipt"' in sent.data
            assert floor.get("/s/NOSUCHCODE").status_code == 404
            with engine.connect() as conn:
                stored = conn.execute(text("SELECT count(*) FROM floor.responses")).scalar()
                answers = conn.execute(text(f"SELECT {answers_where}")).scalar()
            assert stored >= 2 and answers >= 2 * 20, (shape, stored, answers)
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA floor CASCADE"))
        with app.app_context():
            assert db.session.scalar(select(func.count(Response.id))) == 0
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS floor CASCADE"))
        engine.dispose()
