"""The web side of integrity: device cookie, staff-device cookie, request signals, rate-limit keys.

The public form sets a random, long-lived device cookie; only a keyed hash of it is stored
(``services/integrity.py``). A browser that logs in to the workspace gets a signed staff-device
cookie that outlives the session, so a clerk who logs out and rates the own counter is still
recognised. Rate limits key on the entry point and the device before the address, so a ward
office's shared Wi-Fi does not lock out honest citizens.
"""

from __future__ import annotations

import re
import secrets

from flask import Flask, after_this_request, current_app, request, session
from flask_limiter.util import get_remote_address
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..services.entry_points import normalise_code
from ..services.integrity import Signals, Thresholds, assess_response

DEVICE_COOKIE = "sipas_device"
STAFF_COOKIE = "sipas_staff"
YEAR = 365 * 86400
DEVICE_FORMAT = re.compile(r"[A-Za-z0-9_-]{22,43}")


def device_id() -> str | None:
    """The device cookie of this request, if it is one the app could have set."""
    value = request.cookies.get(DEVICE_COOKIE, "")
    return value if DEVICE_FORMAT.fullmatch(value) else None


def new_device_id() -> str:
    """A new random device cookie value (128 bits)."""
    return secrets.token_urlsafe(16)


def ensure_device_cookie(resp) -> None:
    """Give a browser without a (valid) device cookie a new random one."""
    if device_id() is None:
        resp.set_cookie(DEVICE_COOKIE, new_device_id(), max_age=2 * YEAR,
                        httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))


def is_staff_browser() -> bool:
    """A logged-in workspace session (Flask-Login's ``_user_id``) or a valid staff-device cookie."""
    cookies = request.cookies
    # Without a session cookie the session is empty: not opened here (nor marked as read).
    if current_app.config["SESSION_COOKIE_NAME"] in cookies and session.get("_user_id"):
        return True
    token = cookies.get(STAFF_COOKIE)
    if not token:
        return False
    try:
        _staff_serializer().loads(token, max_age=YEAR)
    except BadSignature:
        return False
    return True


def signals() -> Signals:
    """What this request tells about the sender, for the integrity flags (hashed before storing)."""
    return Signals(device_id=device_id(), ip=request.remote_addr, staff=is_staff_browser())


def thresholds() -> Thresholds:
    """The flag thresholds from the app config."""
    return Thresholds.from_config(current_app.config)


def flag_submission(response, answers: dict) -> list[str]:
    """Compute the integrity flags of a response already stored (an UPDATE; the form does not
    use this: it passes :func:`signals` to ``submit_response``, which writes them in the INSERT)."""
    return assess_response(response, answers, signals(), secret=current_app.config["SECRET_KEY"],
                           thresholds=thresholds())


def remember_staff_devices(app: Flask) -> None:
    """Set the staff-device cookie whenever someone logs in to the workspace (Flask-Login signal)."""
    from flask_login import user_logged_in
    user_logged_in.connect(_on_login, app)


def _on_login(sender, user=None, **_extra) -> None:
    """After a login response, mark the browser as a staff device for a year."""
    @after_this_request
    def mark(resp):
        resp.set_cookie(STAFF_COOKIE, _staff_serializer().dumps({"s": 1}), max_age=YEAR,
                        httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
        return resp


def _staff_serializer() -> URLSafeTimedSerializer:
    """Signs the staff-device cookie with the app secret."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="sipas-staff-device")


# Rate-limit keys and limits (Flask-Limiter calls these inside the request).

def device_key() -> str:
    """The device cookie, or the address for a browser without one."""
    found = device_id()
    return f"device:{found}" if found else f"ip:{get_remote_address()}"


def entry_key() -> str:
    """The scanned code (normalised, so ``abcd-efgh`` and ``ABCDEFGH`` share one limit)."""
    return "entry:" + normalise_code(str((request.view_args or {}).get("code", "")))[:16]


def address_key() -> str:
    """The client address (behind ProxyFix when configured)."""
    return "ip:" + (get_remote_address() or "")


def device_limit() -> str:
    """Limit per device (config ``RATELIMIT_PUBLIC_DEVICE``)."""
    return current_app.config["RATELIMIT_PUBLIC_DEVICE"]


def entry_limit() -> str:
    """Limit per entry point (config ``RATELIMIT_PUBLIC_ENTRY``)."""
    return current_app.config["RATELIMIT_PUBLIC_ENTRY"]


def address_limit() -> str:
    """Generous limit per address: mobile carriers and office Wi-Fi share one (``RATELIMIT_PUBLIC_IP``)."""
    return current_app.config["RATELIMIT_PUBLIC_IP"]
