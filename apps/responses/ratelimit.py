"""Fixed-window rate limits for the public respondent pages, counted in the shared cache.

Per address the limit is generous (an office or a shop's guest Wi-Fi shares one address);
per link a cap protects the database from one leaked link being hammered.
"""

import hashlib
import time

from django.core.cache import cache

WINDOW_SECONDS = 60


def hit(scope: str, key: str, limit: int) -> bool:
    """Count one request; True when the window's count is over `limit`."""
    window = int(time.time() // WINDOW_SECONDS)
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    cache_key = f"rl:{scope}:{digest}:{window}"
    if cache.add(cache_key, 1, timeout=WINDOW_SECONDS + 5):
        return limit < 1
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add() and incr()
        cache.set(cache_key, 1, timeout=WINDOW_SECONDS + 5)
        count = 1
    return count > limit
