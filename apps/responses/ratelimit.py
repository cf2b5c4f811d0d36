"""Fixed-window rate limits for the public respondent pages, counted in the shared cache.

Per address the limit is generous (an office or a shop's guest Wi-Fi shares one address);
per link a cap protects the database from one leaked link being hammered.

This is the respondent hot path, so each web process counts in its own memory and settles
with the shared counter (Redis in production) in batches: a counter is settled on its
`batch_size(limit)`-th count since the last settle, or on its first count after
SETTLE_SECONDS, and all counters due in a request settle in one round trip (on Redis a small
script: INCRBY each counter, EXPIRE it when the count created it). Between settles a process
judges a request by the shared total it last saw plus its own counts since.

What that guarantees, per window and counter, with P web processes counting it:

- nobody is refused before the real count passes the limit (what a process knows is never
  more than the real count), so an office behind one address gets its full allowance;
- at most 2 x P x (batch_size(limit) - 1) requests are let through beyond the limit (before
  the shared count passes the limit, the other processes hold fewer than that many unsettled
  counts between them; after it, each process lets through fewer than a batch before its next
  settle tells it). Small limits settle on every count and are exact. For the defaults (600 per
  address, 6000 per link, batches of 9 and 16) and the image's 3 workers, at most 48 and 90.

A process that exits (a recycled worker) takes its unsettled counts (fewer than a batch per
counter) with it: each such exit can add that much to the allowance of the window.
Other cache backends (the in-memory one of tests and development) settle through the cache API.
"""

import functools
import hashlib
import ipaddress
import threading
import time
from collections.abc import Sequence
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver

WINDOW_SECONDS = 60
# A window's counter outlives the window a little, so a late request never recreates it.
TTL_SECONDS = WINDOW_SECONDS + 5
# A process settles a counter at least every BATCH_MAX of its counts, and at most a 64th of
# the limit apart (so the tolerance stays a small share of the limit)...
BATCH_MAX = 16
BATCH_SHARE = 64
# ...and on its first count after this long, so the shared count is never far behind.
SETTLE_SECONDS = 1.0
# Counters one process keeps per window; past this it settles them all and starts afresh.
MAX_COUNTERS = 10_000
# Atomic per counter: a counter never exists without its expiry.
_SETTLE_SCRIPT = """
local totals = {}
for i, key in ipairs(KEYS) do
  local delta = tonumber(ARGV[i + 1])
  totals[i] = redis.call('INCRBY', key, delta)
  if totals[i] == delta then redis.call('EXPIRE', key, ARGV[1]) end
end
return totals
"""


def address_key(address: str | None) -> str:
    """The unit one client controls: an IPv4 address, or an IPv6 /64 (a home or an office gets
    a whole /64, so counting single IPv6 addresses would give one client 2^64 allowances)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "-"
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def current_window() -> int:
    return int(time.time() // WINDOW_SECONDS)


def batch_size(limit: int) -> int:
    return max(1, min(BATCH_MAX, limit // BATCH_SHARE))


@functools.lru_cache(maxsize=4096)
def _cache_key(scope: str, key: str, window: int) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"rl:{scope}:{digest}:{window}"


class _Counter:
    __slots__ = ("known", "pending", "settled_at")

    def __init__(self, now: float) -> None:
        self.known = 0  # the shared total at the last settle (this process's counts included)
        self.pending = 0  # this process's counts since
        self.settled_at = now


class Counts:
    """One process's counters of the current window (the module keeps one; tests make several
    to play several processes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counters: dict[str, _Counter] = {}

    def forget(self) -> None:
        with self._lock:
            self._window = -1
            self._counters.clear()

    def hit_many(self, counts: Sequence[tuple[str, str, int]]) -> list[bool]:
        """Count one request under each (scope, key, limit); True where it is over the limit."""
        now = time.monotonic()
        window = current_window()
        keys = [_cache_key(scope, key, window) for scope, key, _limit in counts]
        with self._lock:
            if window != self._window:
                # The last window's unsettled counts no longer matter.
                self._counters.clear()
                self._window = window
            due: dict[str, _Counter] = {}
            if len(self._counters) + len(keys) > MAX_COUNTERS:
                # Settle everything unsettled, keep only this request's counters.
                due = {key: c for key, c in self._counters.items() if c.pending}
                self._counters = {k: self._counters[k] for k in keys if k in self._counters}
            counters = []
            for key, (_scope, _key, limit) in zip(keys, counts, strict=True):
                counter = self._counters.get(key)
                if counter is None:
                    counter = self._counters[key] = _Counter(now)
                counter.pending += 1
                if counter.pending >= batch_size(limit) or now - counter.settled_at >= (
                    SETTLE_SECONDS
                ):
                    due[key] = counter
                counters.append(counter)
            if due:
                self._settle(due, now)
            return [
                c.known + c.pending > limit
                for c, (_scope, _key, limit) in zip(counters, counts, strict=True)
            ]

    @staticmethod
    def _settle(due: dict[str, _Counter], now: float) -> None:
        """Add the due counters' pending counts to the shared ones, in one round trip on Redis."""
        backend = caches[DEFAULT_CACHE_ALIAS]
        keys = list(due)
        deltas = [due[key].pending for key in keys]
        script = _redis_script(backend)
        if script is None:
            totals = [_add(backend, key, delta) for key, delta in zip(keys, deltas, strict=True)]
        else:
            totals = script(
                keys=[backend.make_and_validate_key(key) for key in keys],
                args=[TTL_SECONDS, *deltas],
            )
        for key, total in zip(keys, totals, strict=True):
            counter = due[key]
            counter.known = max(counter.known, int(total))
            counter.pending = 0
            counter.settled_at = now


def _redis_script(backend: BaseCache) -> Any:
    """The settling script on the Redis client of this thread's cache connection, made once
    (None if the cache is not Redis).

    Django's Redis cache builds a client object for every call, which costs more than the
    round trip itself; this client uses the cache's own connection pool.
    """
    if not isinstance(backend, RedisCache):
        return None
    script = getattr(backend, "_respondent_settle_script", None)
    if script is None:
        script = backend._cache.get_client(write=True).register_script(_SETTLE_SCRIPT)
        backend._respondent_settle_script = script  # type: ignore[attr-defined]
    return script


def _add(backend: BaseCache, key: str, delta: int) -> int:
    try:
        return int(backend.incr(key, delta))
    except ValueError:  # add() fails only if another request created it in between
        if backend.add(key, delta, timeout=TTL_SECONDS):
            return delta
        return int(backend.incr(key, delta))


_COUNTS = Counts()


def hit_many(counts: Sequence[tuple[str, str, int]]) -> list[bool]:
    """Count one request under each (scope, key, limit) in this process's counters; True where
    that count is over its limit (see the module's docstring for the tolerance)."""
    return _COUNTS.hit_many(counts)


def hit(scope: str, key: str, limit: int) -> bool:
    """Count one request; True when the window's count is over `limit`."""
    return hit_many([(scope, key, limit)])[0]


def counts_forget() -> None:
    """Drop this process's counters (tests clear the shared cache between tests)."""
    _COUNTS.forget()


@receiver(setting_changed)
def _cache_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        counts_forget()
