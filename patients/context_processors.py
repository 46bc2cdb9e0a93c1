from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .access import header_of
from .middleware import standing_of


def roles(request):
    user = getattr(request, "user", None)
    # The header's roles and "Inbox (N new)": one query, when a page shows the header.
    header = SimpleLazyObject(lambda: header_of(user))
    return {
        "user_roles": SimpleLazyObject(lambda: header[0]) if user is not None else set(),
        "inbox_unread": SimpleLazyObject(lambda: header[1]) if getattr(user, "is_authenticated", False) else 0,
        "default_emergency_number": settings.DEFAULT_EMERGENCY_NUMBER,
        # Signed in with the password, not yet the code: the header offers only "Log out".
        "second_step_pending": SimpleLazyObject(lambda: _second_step_pending(request)),
    }


def _second_step_pending(request) -> bool:
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False) or user.is_verified():
        return False
    return standing_of(request).must_verify
