"""Fixed-window rate limits for the public respondent pages, counted in the shared cache.

Per address the limit is generous (an office or a shop's guest Wi-Fi shares one address);
per link a cap protects the database from one leaked link being hammered.
"""

import hashlib
import ipaddress
import time

from django.core.cache import cache

WINDOW_SECONDS = 60


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


def hit(scope: str, key: str, limit: int) -> bool:
    """Count one request; True when the window's count is over `limit`."""
    window = int(time.time() // WINDOW_SECONDS)
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    cache_key = f"rl:{scope}:{digest}:{window}"
    # One round trip in the common case (the window's counter exists); this is the respondent
    # hot path. The first request of a window creates the counter.
    try:
        count = cache.incr(cache_key)
    except ValueError:  # add() fails only if another request created it in between
        count = 1 if cache.add(cache_key, 1, timeout=WINDOW_SECONDS + 5) else cache.incr(cache_key)
    return count > limit
