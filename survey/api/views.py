"""API views: thin wrappers around ``services.dossier_tokens``; every error is JSON.

Authentication: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Limits are counted per
key (its visible prefix), so one busy one-stop system cannot starve another.
"""

from __future__ import annotations

import io
import json

import qrcode
import qrcode.image.svg
from flask import Blueprint, Response, current_app, g, request
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from ..extensions import db, limiter
from ..services import api_keys
from ..services.dossier_tokens import (
    TokenRequestError,
    issue_token,
    parse_token_request,
    token_for_key,
    token_json,
)
from .openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _presented_key() -> str | None:
    """The key sent with the request, from ``Authorization: Bearer`` or ``X-API-Key``."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-API-Key", "").strip() or None


def _limit_key() -> str:
    """Rate-limit bucket: the key's visible prefix, else the client address."""
    prefix = api_keys.prefix_of(_presented_key())
    return f"api-key:{prefix}" if prefix else f"api-ip:{get_remote_address()}"


def _api_limit() -> str:
    """Requests per key (config ``API_RATE_LIMIT``)."""
    return current_app.config.get("API_RATE_LIMIT", "120/minute")


def _json(body: dict, status: int = 200) -> Response:
    """A JSON response with Vietnamese left readable (UTF-8, not \\u escapes)."""
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/json")


def _error(status: int, error: str, message: str, fields: dict | None = None) -> Response:
    """A JSON error body ``{error, message, fields?}``."""
    body = {"error": error, "message": message}
    if fields:
        body["fields"] = fields
    resp = _json(body, status)
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="sipas"'
    return resp


@bp.before_request
def require_key():
    """Every endpoint but the OpenAPI document needs an active key."""
    if request.endpoint == "api.openapi":
        return None
    key = api_keys.authenticate(_presented_key())
    if key is None:
        return _error(401, "unauthorized", "Thiếu khoá API hoặc khoá không hợp lệ/đã bị thu hồi.")
    g.api_key = key
    return None


ERROR_NAMES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed",
               413: "too_large", 429: "rate_limited", 500: "server_error"}


def http_error(exc: HTTPException):
    """Errors of this blueprint (404, 413, 429 …) as JSON, not the citizen's HTML pages."""
    return _error(exc.code or 500, ERROR_NAMES.get(exc.code, "error"), exc.description or exc.name)


# Per status code: the app's own per-code HTML handlers would otherwise win over a class handler.
for _status in ERROR_NAMES:
    bp.register_error_handler(_status, http_error)


@bp.post("/tokens")
@limiter.limit(_api_limit, key_func=_limit_key)
def create_token():
    """Issue (or find again) the single-use code of a dossier."""
    try:
        token_request = parse_token_request(request.get_json(silent=True))
        entry, created = issue_token(
            g.api_key, token_request,
            hash_key=current_app.config.get("DOSSIER_HASH_KEY") or current_app.config["SECRET_KEY"],
            valid_days=int(current_app.config.get("DOSSIER_TOKEN_DAYS", 30)))
    except TokenRequestError as exc:
        db.session.rollback()
        return _error(exc.status, exc.error, exc.message, exc.fields)
    db.session.commit()
    return _json(token_json(entry, current_app.config["PUBLIC_BASE_URL"]), 201 if created else 200)


@bp.get("/tokens/<code>")
@limiter.limit(_api_limit, key_func=_limit_key)
def show_token(code: str):
    """A code's URL, expiry and state (open, used, revoked, expired)."""
    entry = token_for_key(g.api_key, code)
    db.session.commit()  # last_used_at
    if entry is None:
        return _error(404, "not_found", "Không có mã này trong đơn vị của khoá API.")
    return _json(token_json(entry, current_app.config["PUBLIC_BASE_URL"]))


@bp.get("/tokens/<code>.png")
@limiter.limit(_api_limit, key_func=_limit_key)
def token_png(code: str):
    """The code's QR as a PNG (10 px per module, 4-module quiet zone)."""
    return _qr_image(code, "png")


@bp.get("/tokens/<code>.svg")
@limiter.limit(_api_limit, key_func=_limit_key)
def token_svg(code: str):
    """The code's QR as SVG (for printing at any size)."""
    return _qr_image(code, "svg")


def _qr_image(code: str, fmt: str):
    """Render the QR image of one of the key's codes."""
    entry = token_for_key(g.api_key, code)
    db.session.commit()
    if entry is None:
        return _error(404, "not_found", "Không có mã này trong đơn vị của khoá API.")
    url = token_json(entry, current_app.config["PUBLIC_BASE_URL"])["url"]
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    out = io.BytesIO()
    if fmt == "png":
        qr.make_image().save(out)
        mimetype = "image/png"
    else:
        qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(out)
        mimetype = "image/svg+xml"
    resp = Response(out.getvalue(), mimetype=mimetype)
    resp.headers["Cache-Control"] = "private, max-age=86400"
    return resp


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API."""
    return _json(openapi_document())
