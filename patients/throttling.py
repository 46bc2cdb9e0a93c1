"""How django-axes names the account being tried, whether the address came from the log-in page
(field "username"), the API token endpoint (field "email") or the invitation page.

The key is the account's identity, not the letters typed (SPEC §10): when the database would
match the typed address to an account, the key is that account's stored address; otherwise the
address folded the way the database compares it (`addresses.fold`). Either way, look-alikes of
one address (dotless ı, long ſ, capitals) share one count of tries, and a success with one of
them resets only the count it shares."""

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
