"""gunicorn settings for SIPAS: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

Every value can be changed from the environment, so one file serves every app server:

- ``SIPAS_BIND`` (default ``127.0.0.1:8000``; nginx proxies to it),
- ``SIPAS_WORKERS`` (default 2 × CPUs + 1), ``SIPAS_THREADS`` (default 1: sync workers; nginx
  buffers slow phones, so a worker is only busy while the app works),
- ``SIPAS_TIMEOUT`` (default 30 s: a worker stuck longer is killed and replaced),
- ``SIPAS_ACCESS_LOG`` (default ``-`` = stdout; empty turns it off when nginx already logs),
- ``SIPAS_LOG_LEVEL`` (default ``info``), ``SIPAS_PRELOAD`` (default ``1``).

Logs go to stdout/stderr for the service manager (systemd journal, container runtime).
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("SIPAS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("SIPAS_WORKERS", str(2 * multiprocessing.cpu_count() + 1)))
threads = int(os.environ.get("SIPAS_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("SIPAS_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so slow leaks never build up; jitter keeps them from restarting together.
max_requests = int(os.environ.get("SIPAS_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
backlog = 2048

accesslog = os.environ.get("SIPAS_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("SIPAS_LOG_LEVEL", "info")
access_log_format = '%({x-forwarded-for}i)s %(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# gunicorn itself believes no X-Forwarded-* header: ProxyFix in the app (SIPAS_TRUSTED_PROXIES)
# is the one place that decides, so a deployment without a proxy cannot be told "https" by a client.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = "127.0.0.1,::1"

# Preload: the app is built once in the master (a bad configuration, such as a missing
# SIPAS_SECRET_KEY in production, stops the start once, loudly) and workers share its memory.
preload_app = os.environ.get("SIPAS_PRELOAD", "1") == "1"


def post_fork(server, worker):
    """Give each worker its own database connections.

    ``create_app`` opens no connection, but anything that did in the master before the fork
    would leave sockets shared by several processes; disposing the pools (without closing the
    parent's connections) makes every worker start with a fresh pool.
    """
    if not server.cfg.preload_app:
        return
    app = worker.app.wsgi()
    db = getattr(app, "extensions", {}).get("sqlalchemy")  # Flask-SQLAlchemy, when the app uses it
    if db is None:
        return
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
