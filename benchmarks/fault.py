"""Fault benchmark: SIGKILL the app server while citizens send forms; nothing acknowledged is lost.

Starts the app under gunicorn on 127.0.0.1 with a temporary SQLite database (or the PostgreSQL
database given by ``--postgres`` / ``SIPAS_TEST_POSTGRES_URL`` with ``--postgres-env``; its
``public`` schema is dropped and rebuilt), seeds a campaign, and starts client processes. Each
client, for each form: GETs the page (retrying) for its signed token and submission UUID, then
POSTs the answers with that token until it gets a receipt page. Meanwhile the gunicorn master
and all its workers are killed with SIGKILL at fixed fractions of the expected answers and
restarted. At the end the receipts the clients hold are compared with the database.

    .venv/bin/python benchmarks/fault.py                       # SQLite, 8 clients x 40 forms, 4 kills
    .venv/bin/python benchmarks/fault.py --postgres "$SIPAS_TEST_POSTGRES_URL"

Rate limits are switched off for the run (every client shares 127.0.0.1 and one QR code; the
limits have their own tests). Exit status 1 when an acknowledged answer is lost, a duplicate is
stored or fewer than 3 kills happened during the run.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = "FAULTBNC"
TOKEN = re.compile(r'name="token" value="([^"]+)"')
SUBMISSION = re.compile(r'name="submission" value="([^"]+)"')
RECEIPT = re.compile(r'class="receipt">([^<]+)<')


def main() -> int:
    """Parse options, run the benchmark, print the figures."""
    args = _options()
    work = Path(tempfile.mkdtemp(prefix="sipas-fault-"))
    env = _environment(args, work)
    _prepare_database(args, env)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(env, port, args.workers, work)
    started = time.monotonic()
    acked = mp.Value("i", 0)
    results = mp.Queue()
    clients = [mp.Process(target=_client, args=(base, i, args.forms, acked, results, args.seed))
               for i in range(args.clients)]
    for proc in clients:
        proc.start()
    total = args.clients * args.forms
    marks = [round(total * (k + 1) / (args.kills + 1)) for k in range(args.kills)]
    kills, killed_at = 0, []
    deadline = started + args.timeout
    try:
        while any(p.is_alive() for p in clients) and time.monotonic() < deadline:
            if kills < len(marks) and acked.value >= marks[kills]:
                _kill(server)
                kills += 1
                killed_at.append(acked.value)
                time.sleep(random.uniform(0.2, 0.8))  # clients meet a dead port for a moment
                server = _start(env, port, args.workers, work)
            time.sleep(0.02)
        collected = [results.get(timeout=30) for _ in clients]
    finally:
        for proc in clients:
            if proc.is_alive():
                proc.kill()
        _kill(server)
    elapsed = time.monotonic() - started
    return _report(args, env, collected, kills, killed_at, elapsed, total)


def _options() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="client processes (default 8)")
    parser.add_argument("--forms", type=int, default=40, help="forms per client (default 40)")
    parser.add_argument("--kills", type=int, default=4, help="SIGKILLs during the run (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    parser.add_argument("--seed", type=int, default=7, help="random seed for the clients' answers")
    parser.add_argument("--postgres", metavar="URL", help="use this PostgreSQL database (wiped)")
    parser.add_argument("--postgres-env", action="store_true",
                        help="use SIPAS_TEST_POSTGRES_URL as --postgres")
    args = parser.parse_args()
    if args.postgres_env:
        args.postgres = os.environ.get("SIPAS_TEST_POSTGRES_URL") or parser.error(
            "SIPAS_TEST_POSTGRES_URL is not set")
    if args.kills < 3:
        parser.error("--kills must be at least 3")
    return args


def _environment(args, work: Path) -> dict:
    """The app's environment: temp instance, database, a fixed secret, no rate limits."""
    env = dict(os.environ)
    env.update({
        "SIPAS_INSTANCE_PATH": str(work),
        "SIPAS_DATABASE_URL": args.postgres or f"sqlite:///{work / 'fault.db'}",
        "SIPAS_SECRET_KEY": secrets.token_urlsafe(32),
        "SIPAS_RATELIMIT_ENABLED": "0",
        "PYTHONPATH": str(ROOT),
    })
    return env


def _prepare_database(args, env: dict) -> None:
    """Wipe PostgreSQL when used, migrate, and seed one campaign with a static QR code."""
    if args.postgres:
        from sqlalchemy import create_engine, text
        engine = create_engine(args.postgres)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    seed = f"""
from datetime import date
from flask_migrate import upgrade
from survey import create_app
from survey.extensions import db
from survey.models import Campaign, Counter, EntryPoint, Unit
from survey.questionnaires import load_questionnaire
from survey.services.questionnaires import publish_questionnaire
app = create_app()
with app.app_context():
    upgrade()
    version, _ = publish_questionnaire(load_questionnaire("sipas-counter"))
    unit = Unit(code="F1", name="Phường Thử Lỗi", level="ward")
    db.session.add(unit); db.session.flush()
    counter = Counter(unit_id=unit.id, code="Q1", name="Quầy 1")
    campaign = Campaign(code="fault", name="Đợt thử lỗi", starts_on=date(2020, 1, 1),
                        ends_on=date(2099, 12, 31), questionnaire_version_id=version.id)
    db.session.add_all([counter, campaign]); db.session.flush()
    db.session.add(EntryPoint(code="{CODE}", kind="static", campaign_id=campaign.id,
                              unit_id=unit.id, counter_id=counter.id))
    db.session.commit()
"""
    subprocess.run([sys.executable, "-c", seed], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(env: dict, port: int, workers: int, work: Path) -> subprocess.Popen:
    """gunicorn in its own process group (so one killpg reaches master and workers); wait until up."""
    conf = work / "gunicorn-empty.conf.py"
    conf.write_text("# the benchmark passes every setting on the command line\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(conf), "-w", str(workers),
         "-b", f"127.0.0.1:{port}", "--timeout", "30", "wsgi:app"],
        env=env, cwd=ROOT, start_new_session=True,
        stdout=open(work / "gunicorn.log", "ab"), stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/s/{CODE}", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except (OSError, urllib.error.URLError):
            time.sleep(0.05)
    raise SystemExit("gunicorn did not come up; see " + str(work / "gunicorn.log"))


def _kill(server: subprocess.Popen) -> None:
    """SIGKILL the gunicorn master and every worker at once."""
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait()


def _client(base: str, number: int, forms: int, acked, results, seed: int) -> None:
    """One citizen's phone after another: GET the form, POST it until a receipt comes back."""
    rng = random.Random(seed * 1000 + number)
    held, stats = {}, {"requests": 0, "retries": 0, "errors": 0, "server_errors": 0, "resent": 0}
    url = f"{base}/s/{CODE}"
    for _ in range(forms):
        page = _until_ok(lambda: _http(url), stats)
        token, submission = TOKEN.search(page).group(1), SUBMISSION.search(page).group(1)
        data = {"token": token, **{f"c{e}_{i}": str(rng.randint(1, 5))
                                   for e in range(1, 5) for i in range(1, 4)},
                "overall": str(rng.randint(1, 5)), "gave_feedback": "0"}
        body = urllib.parse.urlencode(data).encode()
        before = stats["requests"]
        receipt_page = _until_ok(lambda body=body: _http(url, body), stats, need=RECEIPT)
        stats["resent"] += stats["requests"] - before > 1  # the same UUID sent again
        held[submission] = RECEIPT.search(receipt_page).group(1)
        with acked.get_lock():
            acked.value += 1
    results.put({"held": held, "stats": stats})


def _http(url: str, body: bytes | None = None) -> tuple[int, str]:
    """One request; (status, text)."""
    req = urllib.request.Request(url, data=body, headers={"Accept-Language": "vi"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _until_ok(call, stats: dict, need=None) -> str:
    """Repeat ``call`` through refused connections, resets, cut-off bodies and 5xx until a 200."""
    for attempt in range(10_000):
        stats["requests"] += 1
        stats["retries"] += attempt > 0
        try:
            status, text = call()
        except (OSError, urllib.error.URLError, http.client.HTTPException):
            # refused, reset, or cut off mid-body by a kill: not acknowledged, so send it again
            stats["errors"] += 1
            time.sleep(0.05 + 0.05 * min(attempt, 10))
            continue
        if status >= 500:
            stats["server_errors"] += 1
            time.sleep(0.05)
            continue
        if status == 200 and (need is None or need.search(text)):
            return text
        raise SystemExit(f"unexpected answer {status}: {text[:300]}")
    raise SystemExit("gave up")


def _report(args, env, collected, kills, killed_at, elapsed, total) -> int:
    """Compare the receipts the clients hold with the database and print the figures."""
    from sqlalchemy import create_engine, text
    held = {}
    stats = {"requests": 0, "retries": 0, "errors": 0, "server_errors": 0, "resent": 0}
    for result in collected:
        held.update(result["held"])
        for key in stats:
            stats[key] += result["stats"][key]
    engine = create_engine(env["SIPAS_DATABASE_URL"])
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT submission_uuid, receipt FROM responses")).all()
    engine.dispose()
    # SQLite keeps UUIDs as 32 hex digits; the receipt page shows XXXX-XXXX.
    stored = {str(uuid.UUID(str(u))): r for u, r in rows}
    held = {str(uuid.UUID(u)): r.replace("-", "").strip() for u, r in held.items()}
    lost = [u for u, r in held.items() if stored.get(u) != r]
    duplicates = len(rows) - len(stored)
    unacknowledged = len(set(stored) - set(held))
    backend = "postgresql" if args.postgres else "sqlite"
    print(f"fault benchmark ({backend}, gunicorn {args.workers} workers, {args.clients} clients x "
          f"{args.forms} forms, {elapsed:.1f} s)")
    print(f"  kills (SIGKILL master+workers): {kills}, after {killed_at} acknowledged")
    print(f"  requests {stats['requests']}, retried {stats['retries']}, connection errors "
          f"{stats['errors']}, 5xx {stats['server_errors']}; forms whose POST was resent with the same "
          f"UUID {stats['resent']}")
    print(f"  acknowledged {len(held)} of {total}, stored {len(rows)}, lost {len(lost)}, "
          f"duplicates {duplicates}, stored without a receipt {unacknowledged}")
    ok = not lost and duplicates == 0 and kills >= 3 and len(held) == total == len(rows)
    print("  RESULT:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
