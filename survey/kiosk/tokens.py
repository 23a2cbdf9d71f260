"""The kiosk token: a signed (code, issue time) pair that a queued rating carries for hours.

The public form signs one submission UUID per page; a kiosk makes many ratings per page and may
be offline when they are made, so the tablet draws each rating's UUID itself and stamps it with
the kiosk token it holds at that moment. The token proves the rating came from a page this server
issued for this kiosk code, and bounds how far back a rating can be dated (not before the token
was signed, never more than ``KIOSK_TOKEN_MAX_AGE`` ago, default 7 days). The page fetches a
fresh token every 30 minutes while online.
"""

from __future__ import annotations

import time

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..services.kiosk import N_, KioskInputError

SALT = "sipas-kiosk"


def _serializer() -> URLSafeTimedSerializer:
    """Serializer keyed by the app secret, distinct from the public form's."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def issue(code: str) -> str:
    """A new kiosk token for ``code``."""
    return _serializer().dumps({"c": code, "t": int(time.time())})


def reader(code: str):
    """A function token → issue time (seconds) for ``code``; raises KioskInputError when invalid."""
    max_age = int(current_app.config["KIOSK_TOKEN_MAX_AGE"])

    def read(token: object) -> int:
        if not isinstance(token, str) or len(token) > 500:
            raise KioskInputError(N_("Thiếu mã phiên kiosk."))
        try:
            payload = _serializer().loads(token, max_age=max_age)
        except SignatureExpired:
            raise KioskInputError(N_("Phiên kiosk đã hết hạn.")) from None
        except BadSignature:
            raise KioskInputError(N_("Mã phiên kiosk không hợp lệ.")) from None
        if not isinstance(payload, dict) or payload.get("c") != code or not isinstance(payload.get("t"), int):
            raise KioskInputError(N_("Mã phiên kiosk không hợp lệ."))
        return payload["t"]

    return read
