"""Flask's signed-cookie sessions, minus two per-request costs of the default interface.

Flask builds a new signing serializer for every request (~10 µs: itsdangerous checks the JSON
serializer by serialising ``{}`` each time) and reads seven cookie settings before it finds
that an empty, unchanged session needs no cookie. This interface builds the serializer once
per secret key (and fallbacks; a changed key builds a new one) and returns at once for an
empty, unchanged session, still adding ``Vary: Cookie`` when the session was read. Cookies,
signatures, lifetimes and the refusal of forged or expired cookies are Flask's own.
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class CookieSessions(SecureCookieSessionInterface):
    """``SecureCookieSessionInterface`` with its signing serializer kept per secret key."""

    def __init__(self) -> None:
        self._built: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer for the current key and fallbacks, built once per key."""
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = self._built
        if built is None or built[0] != keys:
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]

    def save_session(self, app: Flask, session: SessionMixin, response) -> None:
        """An empty session nobody changed sets no cookie (as in Flask), without reading settings."""
        if not session and not session.modified:
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)
