"""Running behind a reverse proxy, several app servers side by side: ProxyFix and ``/healthz``.

Nothing here keeps state in the process: sessions are signed cookies, the citizen's draft lives
in the browser, rate-limit counters in the storage named by ``SIPAS_RATELIMIT_STORAGE_URI``
(Redis in production), so any app server can answer any request.
"""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from .extensions import db, limiter

bp = Blueprint("health", __name__)


def init_app(app: Flask) -> None:
    """Trust ``X-Forwarded-*`` from the configured number of proxies; register ``/healthz``."""
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies < 0:
        raise ValueError("SIPAS_TRUSTED_PROXIES must be 0 or more")
    if proxies:
        # Only as many hops as there are proxies we run: a client cannot forge its address
        # by sending its own X-Forwarded-For, because only the last N entries are believed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.register_blueprint(bp)
    limiter.exempt(bp)
    if app.config.get("SIPAS_ENV") == "production" and \
            str(app.config.get("RATELIMIT_STORAGE_URI", "")).startswith(("memory:", "local:")):
        app.logger.warning("SIPAS_RATELIMIT_STORAGE_URI is in-process: each worker counts its own "
                           "rate limits; use redis://… when running several workers or servers")


@bp.get("/healthz")
def healthz():
    """200 when the database answers and holds a migrated schema, else 503 (for the load balancer)."""
    try:
        revision = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        db.session.rollback()
        error = type(getattr(exc, "orig", None) or exc).__name__
        body, status = {"status": "unavailable", "database": error}, 503
    else:
        body, status = {"status": "ok", "database": "ok", "revision": revision}, 200
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp
