from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .access import header_of


def roles(request):
    user = getattr(request, "user", None)
    # The header's roles and "Inbox (N new)": one query, when a page shows the header.
    header = SimpleLazyObject(lambda: header_of(user))
    return {
        "user_roles": SimpleLazyObject(lambda: header[0]) if user is not None else set(),
        "inbox_unread": SimpleLazyObject(lambda: header[1]) if getattr(user, "is_authenticated", False) else 0,
        "default_emergency_number": settings.DEFAULT_EMERGENCY_NUMBER,
    }
