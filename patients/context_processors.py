from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .access import roles_of


def roles(request):
    user = getattr(request, "user", None)
    logged_in = getattr(user, "is_authenticated", False)
    return {
        "user_roles": SimpleLazyObject(lambda: roles_of(user)) if user is not None else set(),
        "default_emergency_number": settings.DEFAULT_EMERGENCY_NUMBER,
        # "Inbox (N new)" in the header: one query, when a page shows it, for logged-in users only.
        # The inbox lives in refills; its reverse relation keeps patients from importing refills.
        "inbox_unread": SimpleLazyObject(lambda: user.inbox.filter(read_at__isnull=True).count()) if logged_in else 0,
    }
