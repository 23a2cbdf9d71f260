"""``local://``: rate-limit counters in this process's memory, without a sweeping thread.

The ``limits`` library's ``memory://`` storage restarts a timer thread every ~10 ms while it is
in use, and that thread walks every key it holds (~0.1 ms per 1,000 keys). The public form makes
new keys all the time (a device's hour window lives an hour), so on a busy server the sweep
takes a sizeable share of a worker's CPU. This storage keeps the same fixed windows (the
limiter's default strategy) and expires them lazily instead: a key past its window starts a new
one when it is next counted, and once every ``SWEEP_SECONDS`` the request that counts walks the
keys and drops the expired ones, so memory stays bounded by the keys of the last hour.

Like ``memory://`` it counts per process: one server with one worker, development and tests.
Several workers or app servers must share ``redis://…`` (README, "Production"). Only fixed
windows: a moving-window strategy with ``local://`` is refused by the limiter when it starts.
Registered with ``limits`` by defining the class (importing this module), as its own storages are.
"""

from __future__ import annotations

import threading
import time

from limits.storage import Storage


class LocalStorage(Storage):
    """Fixed-window counters: key → [count, end of its window] (epoch seconds)."""

    STORAGE_SCHEME = ["local"]
    SWEEP_SECONDS = 60.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._windows: dict[str, list] = {}
        self._lock = threading.Lock()
        self._next_sweep = time.time() + self.SWEEP_SECONDS

    @property
    def base_exceptions(self) -> type[Exception]:
        """Nothing here talks to a server; no error of its own to wrap."""
        return RuntimeError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to ``key``'s window (a new one of ``expiry`` seconds if it has none)."""
        now = time.time()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            window = self._windows.get(key)
            if window is None or window[1] <= now:
                window = self._windows[key] = [0, now + expiry]
            window[0] += amount
            return window[0]

    def get(self, key: str) -> int:
        """The count in ``key``'s current window (0 when it has none)."""
        window = self._windows.get(key)
        return window[0] if window is not None and window[1] > time.time() else 0

    def get_expiry(self, key: str) -> float:
        """When ``key``'s window ends (now when it has none)."""
        window = self._windows.get(key)
        now = time.time()
        return window[1] if window is not None and window[1] > now else now

    def check(self) -> bool:
        """Always reachable."""
        return True

    def reset(self) -> int:
        """Forget every window; return how many there were."""
        with self._lock:
            count = len(self._windows)
            self._windows.clear()
            return count

    def clear(self, key: str) -> None:
        """Forget ``key``'s window."""
        with self._lock:
            self._windows.pop(key, None)

    def _sweep(self, now: float) -> None:
        """Drop the windows that have ended (the lock is held)."""
        for key in [key for key, window in self._windows.items() if window[1] <= now]:
            del self._windows[key]
        self._next_sweep = now + self.SWEEP_SECONDS
