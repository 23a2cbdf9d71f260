"""``local://``: the default in-process rate-limit storage (``survey/ratelimit_storage.py``)."""

from __future__ import annotations

import threading

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from survey import create_app
from survey.config import from_environment
from survey.extensions import limiter
from survey.ratelimit_storage import LocalStorage


class Clock:
    """A stand-in for ``time.time`` in the storage's module."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("survey.ratelimit_storage.time.time", clock)
    return clock


def test_local_is_the_default_and_what_the_limiter_counts_in(tmp_path, monkeypatch):
    monkeypatch.delenv("SIPAS_RATELIMIT_STORAGE_URI", raising=False)
    config = from_environment(str(tmp_path))
    assert config["RATELIMIT_STORAGE_URI"] == "local://"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/y.db",
                      "SECRET_KEY": "k" * 32, "RATELIMIT_ENABLED": True,
                      "RATELIMIT_STORAGE_URI": "local://"})
    with app.app_context():
        assert isinstance(limiter.storage, LocalStorage)


def test_fixed_windows_count_expire_and_start_again(clock):
    storage = storage_from_string("local://")
    strategy = FixedWindowRateLimiter(storage)
    limit = parse("3/minute")
    assert [strategy.hit(limit, "device", "a") for _ in range(4)] == [True, True, True, False]
    assert strategy.hit(limit, "device", "b")  # another key has its own window
    assert storage.get(limit.key_for("device", "a")) == 4
    assert storage.get_expiry(limit.key_for("device", "a")) == clock.now + 60
    clock.now += 59.9
    assert not strategy.hit(limit, "device", "a")  # the same window: still refused
    clock.now += 0.2
    assert storage.get(limit.key_for("device", "a")) == 0  # the window ended
    assert strategy.hit(limit, "device", "a")  # a new window starts with this hit
    assert storage.get(limit.key_for("device", "a")) == 1
    storage.clear(limit.key_for("device", "a"))
    assert storage.get(limit.key_for("device", "a")) == 0
    storage.incr("c", 60)
    assert storage.check() and storage.reset() == 1  # b's ended window went in the sweep: only c


def test_ended_windows_are_dropped_by_the_sweep_and_live_ones_kept(clock):
    storage = LocalStorage()
    for i in range(1000):
        storage.incr(f"old-{i}", 60)
    storage.incr("hour", 3600)
    clock.now += LocalStorage.SWEEP_SECONDS + 1  # the minute windows have ended
    storage.incr("new", 60)  # the first count after the sweep time walks the keys
    assert set(storage._windows) == {"hour", "new"}
    assert storage.get("hour") == 1


def test_threads_counting_the_same_key_lose_no_count():
    storage = LocalStorage()
    per_thread = 2000

    def count():
        for _ in range(per_thread):
            storage.incr("shared", 60)

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.get("shared") == 8 * per_thread


def test_a_moving_window_is_refused_with_local():
    with pytest.raises(NotImplementedError):
        MovingWindowRateLimiter(LocalStorage())


def test_on_redis_one_round_trip_counts_exactly_as_the_limits_one_by_one(redis_url):
    """The form's limits on Redis in one script give the same answers, keys, counts and expiries
    as the ``limits`` library hitting them one by one (in order, stopping at the first exceeded)."""
    import redis
    from limits.storage import RedisStorage

    from survey.public import limits as form_limits

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "k" * 32,
                      "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": redis_url,
                      "RATELIMIT_PUBLIC_DEVICE": "3/minute;5/hour", "RATELIMIT_PUBLIC_ENTRY": "4/minute",
                      "RATELIMIT_PUBLIC_IP": "100/minute"})
    other = redis_url.rsplit("/", 1)[0] + "/1"  # the same server's database 1: limits' own way
    reference = FixedWindowRateLimiter(RedisStorage(other))
    sends = [("device:a", "entry:X", "ip:1")] * 4 + [("device:b", "entry:X", "ip:1")] * 2 \
        + [("device:a", "entry:Y", "ip:2")] * 2 + [("device:c", "entry:Y", "ip:2")] * 4
    ours, theirs = [], []
    with app.test_request_context():
        assert isinstance(limiter.storage, RedisStorage)
        for keys in sends:
            ours.append(form_limits.exceeded_for(*keys))
            over = False
            for item, which in form_limits._order("3/minute;5/hour", "4/minute", "100/minute"):
                if not reference.hit(item, keys[which], form_limits.SCOPE):
                    over = True
                    break
            theirs.append(over)
    assert ours == theirs
    assert ours == [False, False, False, True, False, True, True, True, False, False, False, True]
    mine, own = redis.Redis.from_url(redis_url), redis.Redis.from_url(other)
    stored = sorted(k.decode() for k in mine.keys("*"))
    assert stored == sorted(k.decode() for k in own.keys("*"))
    assert len(stored) == 10  # 3 devices × (minute, hour), 2 codes, 2 addresses
    for key in stored:
        assert mine.get(key) == own.get(key)
        assert abs(mine.ttl(key) - own.ttl(key)) <= 1 and mine.ttl(key) > 0
