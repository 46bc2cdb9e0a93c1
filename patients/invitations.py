"""Signed invitation tokens. The signature stops tampering; the row says whether the
invitation is still pending (single use, expiry, revocation)."""

from django.core import signing

from .models import Invitation

SALT = "patients.invitation"


def make_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "e": invitation.email}, salt=SALT, compress=True)


def load_invitation(token: str, max_age_seconds: int) -> Invitation | None:
    """The invitation a token names, or None when the token is tampered with or too old."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=max_age_seconds)
    except signing.BadSignature:  # also SignatureExpired
        return None
    invitation = Invitation.objects.select_related("patient__clinic").filter(pk=payload.get("i")).first()
    if invitation is None or invitation.email != payload.get("e"):
        return None
    return invitation
