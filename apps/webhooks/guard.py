"""The SSRF guard: which receiver URLs a webhook may be sent to, and the address to connect to.

With `WEBHOOKS_BLOCK_PRIVATE_ADDRESSES` on (production), a URL whose host is or resolves to a
private, loopback, link-local, multicast, reserved, shared or unspecified address (IPv4 or IPv6,
IPv4 addresses hidden inside IPv6 ones included) is refused, when it is saved and again at every
delivery. A delivery resolves the host once, checks every address it got, and connects to the
address it checked (`Target.address`): a DNS answer that changes between the check and the
connection (rebinding) cannot redirect it.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeUrl(Exception):
    """The URL is malformed or points where webhooks must not go; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the URL's host name (the Host header and the TLS server name)
    port: int
    path: str  # path and query, as sent in the request line
    address: str  # the checked IP address the connection goes to


def guard_enabled() -> bool:
    return bool(getattr(settings, "WEBHOOKS_BLOCK_PRIVATE_ADDRESSES", True))


def https_only() -> bool:
    return bool(getattr(settings, "WEBHOOKS_HTTPS_ONLY", False))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why webhooks may not go to this address, or None for a public one."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = blocked_reason(embedded)
            return f"{reason} (inside {ip})" if reason else None
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, reason in checks:
        if getattr(ip, attribute):
            return f"{ip} is {reason}"
    if not ip.is_global:  # shared (100.64/10), documentation ranges and the like
        return f"{ip} is not a public address"
    return None


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    host: str
    port: int
    path: str


def _parse(url: str) -> _Parsed:
    url = (url or "").strip()
    if not url:
        raise UnsafeUrl("Enter the URL that receives the webhooks.")
    if len(url) > 2000:
        raise UnsafeUrl("At most 2000 characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeUrl("The URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"Not a valid URL: {exc}.") from exc
    scheme = parts.scheme.lower()
    allowed = ("https",) if https_only() else ("http", "https")
    if scheme not in allowed:
        raise UnsafeUrl(
            "The URL must start with https://."
            if https_only()
            else "The URL must start with http:// or https://."
        )
    host = parts.hostname or ""
    if not host:
        raise UnsafeUrl("The URL has no host name.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("The URL must not contain a user name or password.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Parsed(scheme, host, port or (443 if scheme == "https" else 80), path)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"The host name {host} could not be resolved.") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeUrl(f"The host name {host} could not be resolved.")
    return addresses


def _check(host: str, addresses: list[IPAddress]) -> None:
    for address in addresses:
        reason = blocked_reason(address)
        if reason:
            shown = "" if str(address) == host else f"{host} resolves to "
            raise UnsafeUrl(
                f"Webhooks cannot be sent to private or internal addresses: {shown}{reason}."
            )


def url_check(url: str) -> str:
    """The URL as it will be stored, or UnsafeUrl. With the guard on, the host is resolved
    and every address it has must be public."""
    parsed = _parse(url)
    if guard_enabled():
        _check(parsed.host, _resolve(parsed.host, parsed.port))
    return url.strip()


def target_resolve(url: str) -> Target:
    """Where a delivery connects: resolved once, checked (guard on), pinned."""
    parsed = _parse(url)
    addresses = _resolve(parsed.host, parsed.port)
    if guard_enabled():
        _check(parsed.host, addresses)
    return Target(parsed.scheme, parsed.host, parsed.port, parsed.path, str(addresses[0]))
