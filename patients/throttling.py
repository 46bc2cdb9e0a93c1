"""How django-axes names the account being tried: the e-mail, lower-cased, whether it came
from the log-in page (field "username") or the API token endpoint (field "email")."""


def axes_username(request, credentials=None) -> str:
    for source in (credentials or {}, getattr(request, "POST", {}) or {}, getattr(request, "data", {}) or {}):
        for key in ("username", "email"):
            value = source.get(key) if hasattr(source, "get") else None
            if value:
                return str(value).strip().lower()
    return ""
