"""Fixed-window rate limits for the public respondent pages, counted in the shared cache.

Per address the limit is generous (an office or a shop's guest Wi-Fi shares one address);
per link a cap protects the database from one leaked link being hammered.

This is the respondent hot path: on Redis, all the counts of a request are one round trip (a
small script: INCR each counter, EXPIRE it on the window's first count), over one client kept
per cache connection, instead of a client object and a round trip per count. Other cache
backends (the in-memory one of tests and development) count through the cache API.
"""

import hashlib
import ipaddress
import time
from collections.abc import Sequence
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache

WINDOW_SECONDS = 60
# A window's counter outlives the window a little, so a late request never recreates it.
TTL_SECONDS = WINDOW_SECONDS + 5
# Atomic per counter: a counter never exists without its expiry.
_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return counts
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


def _cache_key(scope: str, key: str, window: int) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"rl:{scope}:{digest}:{window}"


def _redis_script(backend: BaseCache) -> Any:
    """The counting script on the Redis client of this thread's cache connection, made once
    (None if the cache is not Redis).

    Django's Redis cache builds a client object for every call, which costs more than the
    round trip itself; this client uses the cache's own connection pool.
    """
    if not isinstance(backend, RedisCache):
        return None
    script = getattr(backend, "_respondent_count_script", None)
    if script is None:
        script = backend._cache.get_client(write=True).register_script(_COUNT_SCRIPT)
        backend._respondent_count_script = script  # type: ignore[attr-defined]
    return script


def hit_many(counts: Sequence[tuple[str, str, int]]) -> list[bool]:
    """Count one request under each (scope, key, limit); True where that count is over its limit.

    On Redis: one round trip for all of them.
    """
    window = int(time.time() // WINDOW_SECONDS)
    keys = [_cache_key(scope, key, window) for scope, key, _limit in counts]
    limits = [limit for _scope, _key, limit in counts]
    backend = caches[DEFAULT_CACHE_ALIAS]
    script = _redis_script(backend)
    if script is None:
        return [_count(backend, key) > limit for key, limit in zip(keys, limits, strict=True)]
    totals = script(keys=[backend.make_and_validate_key(key) for key in keys], args=[TTL_SECONDS])
    return [int(total) > limit for total, limit in zip(totals, limits, strict=True)]


def hit(scope: str, key: str, limit: int) -> bool:
    """Count one request; True when the window's count is over `limit`."""
    return hit_many([(scope, key, limit)])[0]


def _count(backend: BaseCache, key: str) -> int:
    try:
        return int(backend.incr(key))
    except ValueError:  # add() fails only if another request created it in between
        return 1 if backend.add(key, 1, timeout=TTL_SECONDS) else int(backend.incr(key))
