from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .access import roles_of


def roles(request):
    user = getattr(request, "user", None)
    return {
        "user_roles": SimpleLazyObject(lambda: roles_of(user)) if user is not None else set(),
        "default_emergency_number": settings.DEFAULT_EMERGENCY_NUMBER,
    }
