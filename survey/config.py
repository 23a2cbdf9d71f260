"""Configuration: safe defaults, overridden by ``SIPAS_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class ConfigError(RuntimeError):
    """The app cannot start with this configuration."""


def from_environment(instance_path: str) -> dict:
    """Build the config mapping from the environment (read at app creation, not import)."""
    env = os.environ
    production = env.get("SIPAS_ENV", "development") == "production"
    database = env.get("SIPAS_DATABASE_URL") or f"sqlite:///{Path(instance_path) / 'sipas.db'}"
    secret = env.get("SIPAS_SECRET_KEY")
    if not secret:
        if production:
            raise ConfigError(
                "SIPAS_SECRET_KEY is not set: refusing to start in production without a secret key"
            )
        secret = _instance_secret(Path(instance_path))
    return {
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # local:// counts in this process (ratelimit_storage.py); redis://… for several workers.
        "RATELIMIT_STORAGE_URI": env.get("SIPAS_RATELIMIT_STORAGE_URI", "local://"),
        # Redis down must not cost a citizen's answer: limits lapse, requests go through.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "SIPAS_ENV": env.get("SIPAS_ENV", "development"),
        # Reverse proxies in front of the app whose X-Forwarded-* headers are believed (0 = none).
        "TRUSTED_PROXIES": int(env.get("SIPAS_TRUSTED_PROXIES", "0")),
        "PUBLIC_BASE_URL": env.get("SIPAS_PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        # /api/v1 (issue 4): requests per API key; key of the dossier-code HMAC (default: the
        # secret key; set it separately to rotate SECRET_KEY without new codes for old dossiers);
        # days a dossier's single-use code stays valid.
        "API_RATE_LIMIT": env.get("SIPAS_API_RATE_LIMIT", "120/minute"),
        "DOSSIER_HASH_KEY": env.get("SIPAS_DOSSIER_HASH_KEY") or None,
        "DOSSIER_TOKEN_DAYS": int(env.get("SIPAS_DOSSIER_TOKEN_DAYS", "30")),
        # Codes typed at /c per address (each lookup tries the confusable readings of the text).
        "RATELIMIT_TYPED_CODE": env.get("SIPAS_RATELIMIT_TYPED_CODE", "20/minute;200/day"),
        # A citizen may open the form in the queue and send it hours later.
        "FORM_TOKEN_MAX_AGE": int(env.get("SIPAS_FORM_TOKEN_MAX_AGE", str(7 * 24 * 3600))),
        "MAX_CONTENT_LENGTH": int(env.get("SIPAS_MAX_CONTENT_LENGTH", str(256 * 1024))),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure cookies behind TLS: on in production unless SIPAS_COOKIE_SECURE=0 says otherwise.
        "SESSION_COOKIE_SECURE": _flag(env.get("SIPAS_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _flag(env.get("SIPAS_COOKIE_SECURE"), production),
        **_integrity(env),
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "vi",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Ho_Chi_Minh",
        "DISPLAY_TIMEZONE": "Asia/Ho_Chi_Minh",
        # Workspace logins last this long after the last request (survey/auth).
        "SESSION_HOURS": float(env.get("SIPAS_SESSION_HOURS", "12")),
    }


def _flag(value: str | None, default: bool) -> bool:
    """An on/off environment variable (1/0, true/false, yes/no); unset gives ``default``."""
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _pair(env, name: str, default: tuple[int, int]) -> tuple[int, int]:
    """``"N/M"`` (more than N within M minutes) from the environment variable ``name``."""
    value = env.get(name)
    if not value:
        return default
    try:
        n, m = (int(part) for part in value.split("/"))
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected N/M, e.g. 3/60 (more than 3 in 60 minutes)"
                          ) from None
    return n, m


def _integrity(env) -> dict:
    """Rate limits, anti-gaming thresholds and hash retention (issue 7)."""
    return {
        "RATELIMIT_ENABLED": _flag(env.get("SIPAS_RATELIMIT_ENABLED"), True),
        # Per device and per entry point first; per address only as a generous backstop.
        "RATELIMIT_PUBLIC_DEVICE": env.get("SIPAS_RATELIMIT_PUBLIC_DEVICE", "10/minute;40/hour"),
        "RATELIMIT_PUBLIC_ENTRY": env.get("SIPAS_RATELIMIT_PUBLIC_ENTRY", "120/minute"),
        "RATELIMIT_PUBLIC_IP": env.get("SIPAS_RATELIMIT_PUBLIC_IP", "300/minute"),
        "INTEGRITY_BURST_DEVICE": _pair(env, "SIPAS_FLAG_BURST_DEVICE", (3, 60)),
        "INTEGRITY_BURST_ENTRY": _pair(env, "SIPAS_FLAG_BURST_ENTRY", (20, 10)),
        "INTEGRITY_REPEATED_PATTERN": _pair(env, "SIPAS_FLAG_REPEATED_PATTERN", (3, 30)),
        "INTEGRITY_MIN_FORM_SECONDS": int(env.get("SIPAS_FLAG_MIN_FORM_SECONDS", "8")),
        "INTEGRITY_SECONDS_PER_ANSWER": float(env.get("SIPAS_FLAG_SECONDS_PER_ANSWER", "1.0")),
        # Device and address hashes are cleared after this many days (sipas maintenance purge).
        "NETWORK_HASH_RETENTION_DAYS": int(env.get("SIPAS_NETWORK_HASH_RETENTION_DAYS", "90")),
    }


def _instance_secret(instance: Path) -> str:
    """A random per-installation key kept in the instance folder (development only)."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
