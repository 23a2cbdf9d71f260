"""The form token: a signed submission UUID that stays valid while a citizen waits in a queue.

Session CSRF tokens expire and are lost with the session; a citizen who opens the form at the
counter and sends it hours later must not lose the answers. The page instead carries a token
signed with the app secret that binds the submission UUID, the code and the time the form was
opened. A forged POST from another site cannot obtain one without fetching the page, and a
cross-origin ``Origin`` header is refused in the view.
"""

from __future__ import annotations

import time
import uuid

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "sipas-public-form"


_SERIALIZERS: dict[str, URLSafeTimedSerializer] = {}


def _serializer() -> URLSafeTimedSerializer:
    """Serializer keyed by the app secret (built once per secret: it holds no other state)."""
    secret = current_app.config["SECRET_KEY"]
    found = _SERIALIZERS.get(secret)
    if found is None:
        if len(_SERIALIZERS) > 8:  # tests make apps with many secrets
            _SERIALIZERS.clear()
        found = _SERIALIZERS[secret] = URLSafeTimedSerializer(secret, salt=SALT)
    return found


def issue(code: str) -> tuple[str, str]:
    """A new (submission UUID, token) pair for a form page of ``code``."""
    submission = str(uuid.uuid4())
    token = _serializer().dumps({"u": submission, "c": code, "t": int(time.time())})
    return submission, token


def read(token: str, code: str) -> tuple[dict | None, bool]:
    """Decode a token: (payload or None, expired?). A payload for another code is invalid."""
    try:
        payload = _serializer().loads(token, max_age=current_app.config["FORM_TOKEN_MAX_AGE"])
        expired = False
    except SignatureExpired as exc:
        payload, expired = _serializer().load_payload(exc.payload), True
    except BadSignature:
        return None, False
    if not isinstance(payload, dict) or payload.get("c") != code or not _is_uuid(payload.get("u")):
        return None, False
    return payload, expired


def _is_uuid(value: object) -> bool:
    """Whether ``value`` is a canonical UUID string."""
    try:
        return str(uuid.UUID(str(value))) == value
    except ValueError:
        return False
