"""How django-axes names the account being tried, whether the address came from the log-in page
(field "username"), the API token endpoint (field "email") or the invitation page.

The key is the account's identity, not the letters typed (SPEC §10): when the database would
match the typed address to an account, the key is that account's stored address; otherwise the
address folded the way the database compares it (`addresses.fold`). Either way, look-alikes of
one address (dotless ı, long ſ, capitals) share one count of tries, and a success with one of
them resets only the count it shares."""

import ipaddress

from .addresses import fold


def typed_address(request, credentials=None) -> str:
    for source in (credentials or {}, getattr(request, "POST", {}) or {}, getattr(request, "data", {}) or {}):
        for key in ("username", "email"):
            value = source.get(key) if hasattr(source, "get") else None
            if value:
                return str(value)
    return ""


def account_key(address: str) -> str:
    from .models import User

    if not address:
        return ""
    stored = list(User.objects.filter(email__iexact=address.strip()).values_list("email", flat=True)[:2])
    return fold(stored[0] if len(stored) == 1 else address)


def axes_username(request, credentials=None) -> str:
    return account_key(typed_address(request, credentials))


def client_address(remote_addr: str, forwarded_for: str, proxy_count: int) -> str:
    """Who is knocking, as the throttles count it. Pure.

    Behind `proxy_count` trusted proxies, each proxy appends the address it saw to
    X-Forwarded-For, so the client is the proxy_count-th entry from the right; anything further
    left was written by the client and is not believed. With no proxy, the socket's address.
    An IPv6 address counts by its /64, the block one household or machine is usually given, so
    that walking through addresses inside it does not buy fresh tries."""
    address = remote_addr or ""
    if proxy_count > 0:
        hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
        if len(hops) >= proxy_count:
            address = hops[-proxy_count]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:45]
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def client_ip(request) -> str:
    """django-axes' AXES_CLIENT_IP_CALLABLE, and the second-factor limit's address."""
    from django.conf import settings

    meta = request.META
    return client_address(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""), settings.PROXY_COUNT)
