"""The public form's rate limits, checked in one pass over the limiter's own storage.

A POST of the form is limited per device, per scanned code and per address
(``RATELIMIT_PUBLIC_DEVICE``, ``RATELIMIT_PUBLIC_ENTRY``, ``RATELIMIT_PUBLIC_IP``). The counters
live in the storage Flask-Limiter was configured with (``SIPAS_RATELIMIT_STORAGE_URI``: Redis
in production, so every app server and worker counts together), under the same keys and with
the same strategy as Flask-Limiter's decorators would use. Going straight to that storage
costs a few microseconds per limit instead of the decorators' ~1 ms per POST (their per-request
resolution of endpoints, scopes and limit strings), with the same rules: limits are hit in
order of their window (minute before hour), the first one exceeded stops the check, a storage
error lets the request through (``RATELIMIT_SWALLOW_ERRORS``) and is logged.
"""

from __future__ import annotations

import logging

from flask import current_app, request
from limits import RateLimitItem, parse_many

from ..extensions import limiter
from . import device

log = logging.getLogger(__name__)
SCOPE = "public.submit"  # Flask-Limiter's scope for a limit on this endpoint
# Set by the fast lane (public/fastlane.py) on a POST it already counted: whether it was over.
COUNTED = "sipas.limits_exceeded"
_PARSED: dict[str, list[RateLimitItem]] = {}


def _items(spec: str) -> list[RateLimitItem]:
    """``"10/minute;40/hour"`` parsed once per process."""
    items = _PARSED.get(spec)
    if items is None:
        items = _PARSED[spec] = parse_many(spec)
    return items


def _order(*specs: str) -> list[tuple[RateLimitItem, int]]:
    """The limits of the device, code and address specs as (limit, which key), in the order
    they are hit: by window, minute before hour (stable: device, code, address within one)."""
    order = _ORDERS.get(specs)
    if order is None:
        order = [(item, which) for which, spec in enumerate(specs) for item in _items(spec)]
        order.sort(key=lambda check: check[0].GRANULARITY.seconds)
        _ORDERS[specs] = order
    return order


_ORDERS: dict[tuple[str, ...], list[tuple[RateLimitItem, int]]] = {}


def exceeded() -> bool:
    """Count this POST against the device, code and address limits; True when one is exceeded.

    A POST the fast lane already counted is not counted again: its answer is taken.
    """
    counted = request.environ.get(COUNTED)
    if counted is not None:
        return counted
    return exceeded_for(device.device_key(), device.entry_key(), device.address_key())


def exceeded_for(device_key: str, entry_key: str, address_key: str) -> bool:
    """Count one POST under these keys (``device.device_key()`` …); True when a limit is exceeded."""
    config = current_app.config
    if not (limiter.enabled and config.get("RATELIMIT_ENABLED", True)):
        return False
    keys = (device_key, entry_key, address_key)
    prefix = [config["RATELIMIT_KEY_PREFIX"]] if config.get("RATELIMIT_KEY_PREFIX") else []
    try:
        strategy = limiter.limiter
        for item, which in _order(device.device_limit(), device.entry_limit(), device.address_limit()):
            key = keys[which]
            if not strategy.hit(item, *prefix, key, SCOPE):
                log.info("ratelimit %s (%s) exceeded at endpoint: %s", item, key, SCOPE)
                return True
    except Exception:
        if not config.get("RATELIMIT_SWALLOW_ERRORS", False):
            raise
        log.exception("Failed to rate limit. Swallowing error")
    return False
