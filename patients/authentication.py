"""`Authorization: Token <key>` for the REST API, with the keys of patients.api_tokens (hashed,
several per person, ending as SPEC §10 says) instead of DRF's one never-ending token."""

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from . import api_tokens
from .token_rules import Ended

MESSAGES = {
    None: "That token does not work. Get a new one.",
    Ended.EXPIRED: "That token has expired. Get a new one.",
    Ended.IDLE: "That token was not used for too long. Get a new one.",
    Ended.PASSWORD: "That token stopped working when the password changed. Get a new one.",
}


class ApiTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key):
        token, reason = api_tokens.authenticate(key)
        if token is None:
            raise AuthenticationFailed(MESSAGES[reason])
        if not token.user.is_active:
            raise AuthenticationFailed("This account is turned off.")
        return token.user, token
