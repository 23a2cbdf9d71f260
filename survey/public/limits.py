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

On a plain Redis (``redis://``, the fixed-window strategy) the whole check is one round trip: a
Lua script does, key after key in that order, what the ``limits`` library's own script does for
one (INCRBY, EXPIRE on the first count) and stops at the first count over its limit, so the keys,
counts and expiries are exactly those of hitting the limits one by one (four round trips).
"""

from __future__ import annotations

import logging

from flask import current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

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
        order = _order(device.device_limit(), device.entry_limit(), device.address_limit())
        if type(strategy) is FixedWindowRateLimiter and type(strategy.storage) is RedisStorage:
            over = _hit_on_redis(strategy.storage, [(item.key_for(*prefix, keys[which], SCOPE), item)
                                                    for item, which in order])
            if over is not None:
                item, which = order[over]
                log.info("ratelimit %s (%s) exceeded at endpoint: %s", item, keys[which], SCOPE)
                return True
            return False
        for item, which in order:
            key = keys[which]
            if not strategy.hit(item, *prefix, key, SCOPE):
                log.info("ratelimit %s (%s) exceeded at endpoint: %s", item, key, SCOPE)
                return True
    except Exception:
        if not config.get("RATELIMIT_SWALLOW_ERRORS", False):
            raise
        log.exception("Failed to rate limit. Swallowing error")
    return False


# KEYS: the limits' keys in hit order; ARGV: expiry and limit of each. The 1-based position of
# the first key over its limit, or 0. Per key the same commands as limits' incr_expire.lua.
_HIT_ALL = """
for i, key in ipairs(KEYS) do
  local current = redis.call("incrby", key, 1)
  if current == 1 then
    redis.call("expire", key, ARGV[2 * i - 1])
  end
  if current > tonumber(ARGV[2 * i]) then
    return i
  end
end
return 0
"""
_SCRIPTS: dict[int, tuple[RedisStorage, object]] = {}


def _hit_on_redis(storage: RedisStorage, hits: list[tuple[str, RateLimitItem]]) -> int | None:
    """Count every limit in one round trip; the index of the first one exceeded, or None."""
    found = _SCRIPTS.get(id(storage))
    if found is None or found[0] is not storage:
        found = _SCRIPTS[id(storage)] = (storage, storage.get_connection().register_script(_HIT_ALL))
    arguments = []
    for _key, item in hits:
        arguments += [item.get_expiry(), item.amount]
    over = int(found[1]([storage.prefixed_key(key) for key, _item in hits], arguments))
    return over - 1 if over else None
