"""The form token: a signed submission UUID that stays valid while a citizen waits in a queue.

Session CSRF tokens expire and are lost with the session; a citizen who opens the form at the
counter and sends it hours later must not lose the answers. The page instead carries a token
signed with the app secret that binds the submission UUID, the code and the time the form was
opened. A forged POST from another site cannot obtain one without fetching the page, and a
cross-origin ``Origin`` header is refused in the view.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode, bytes_to_int, int_to_bytes

SALT = "sipas-public-form"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # str(uuid.UUID)


class _Keyed:
    """Signing with one secret: itsdangerous's serializer, and its derived HMAC key ready to copy.

    A token is itsdangerous's ``URLSafeTimedSerializer`` format (base64 JSON ``.`` base64
    timestamp ``.`` base64 HMAC-SHA1 under the key it derives from the secret and ``SALT``).
    Issuing and reading a fresh, well-formed token are done here with that same key (~5 µs
    instead of ~25 µs each: no key derivation, no trial compression, no serializer checks);
    anything else (a bad or expired signature, a compressed payload) goes through itsdangerous.
    """

    def __init__(self, secret: str):
        self.serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.mac = hmac.new(self.serializer.make_signer().derive_key(), digestmod=hashlib.sha1)

    def sign(self, payload: dict, now: int) -> str:
        """A token for ``payload`` signed at ``now`` (uncompressed: these payloads do not shrink)."""
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        value = base64_encode(data) + b"." + base64_encode(int_to_bytes(now))
        mac = self.mac.copy()
        mac.update(value)
        return (value + b"." + base64_encode(mac.digest())).decode("ascii")

    def fresh(self, token: str, max_age: int) -> object | None:
        """The payload of a correctly signed, uncompressed token at most ``max_age`` seconds old;
        None for anything else (itsdangerous then decides what it is)."""
        try:
            value, signature = token.encode().rsplit(b".", 1)
            body, stamp = value.rsplit(b".", 1)
            mac = self.mac.copy()
            mac.update(value)
            if body[:1] == b"." or not hmac.compare_digest(base64_encode(mac.digest()), signature):
                return None
            if not 0 <= int(time.time()) - bytes_to_int(base64_decode(stamp)) <= max_age:
                return None
            return json.loads(base64_decode(body))
        except Exception:  # malformed in any way: the slow path gives the precise answer
            return None


_KEYED: dict[str, _Keyed] = {}


def _keyed() -> _Keyed:
    """Signing state for the app secret (built once per secret: it holds no other state)."""
    secret = current_app.config["SECRET_KEY"]
    found = _KEYED.get(secret)
    if found is None:
        if len(_KEYED) > 8:  # tests make apps with many secrets
            _KEYED.clear()
        found = _KEYED[secret] = _Keyed(secret)
    return found


def issue(code: str) -> tuple[str, str]:
    """A new (submission UUID, token) pair for a form page of ``code``."""
    submission = str(uuid.uuid4())
    now = int(time.time())
    return submission, _keyed().sign({"u": submission, "c": code, "t": now}, now)


def read(token: str, code: str) -> tuple[dict | None, bool]:
    """Decode a token: (payload or None, expired?). A payload for another code is invalid."""
    keyed, max_age = _keyed(), current_app.config["FORM_TOKEN_MAX_AGE"]
    payload, expired = keyed.fresh(token, max_age), False
    if payload is None:
        try:
            payload = keyed.serializer.loads(token, max_age=max_age)
        except SignatureExpired as exc:
            payload, expired = keyed.serializer.load_payload(exc.payload), True
        except BadSignature:
            return None, False
    if not isinstance(payload, dict) or payload.get("c") != code or not _is_uuid(payload.get("u")):
        return None, False
    return payload, expired


def _is_uuid(value: object) -> bool:
    """Whether ``value`` is a canonical UUID string (as ``str(uuid.UUID(...))`` writes it)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None
