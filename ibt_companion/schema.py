"""The OpenAPI schema declares the errors each operation can answer, in the one error shape.

Set as DEFAULT_SCHEMA_CLASS, so every API view, including new ones, gets them without a decorator:

- 400 when the operation reads a body or query parameters (validation, a malformed body);
- 401 and 403 when the view authenticates: no or a bad token, a session that has not passed
  two-step log-in, a failed CSRF check, or a person who may see but not change the record;
- 404 when the path names something (outsiders get 404, never 403) and on paginated lists (a
  page past the end);
- 429 when the view is throttled.

Anything else a view can answer (409 on a conflict, 404 for an object named in the body, 429 from
the log-in lock-out) it declares with `extend_schema(responses={409: OpenApiResponse(...)})`; every
4xx response, declared here or there, gets the `Error` body of ibt_companion.api_errors.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

# The status codes this module knows, with what they mean in plain words.
DESCRIPTIONS = {
    "400": "The request is not valid. Each field names what to fix.",
    "401": "Not logged in, or the token is not valid or has expired.",
    "403": "Not allowed: finish two-step log-in first, or this change is not yours to make.",
    "404": "Not found, or not yours to see.",
    "409": "This change does not fit the record as it stands.",
    "413": "The request body is too large.",
    "415": "The request body is not in a form this operation reads (send JSON).",
    "429": "Too many tries. Wait, then try again.",
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before trying again."}}
BODY_METHODS = {"POST", "PUT", "PATCH"}


class ErrorSerializer(serializers.Serializer):
    """Every API error: field names (or "detail", "non_field_errors", dotted paths such as
    "emergency_contacts.0.phone") mapped to messages in plain words."""

    # The serializer's metaclass takes declared fields out of the class body, so this field does not
    # hide Serializer.errors; the stubs cannot see that.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField())
    )


class ErrorResponsesAutoSchema(AutoSchema):
    def error_codes(self) -> set[str]:
        """The error codes this operation can answer whatever the view declares itself."""
        codes = set()
        if self._has_body() or self._has_query_parameters():
            codes.add("400")
        if self._has_body():
            codes |= {"413", "415"}  # a body over the upload limit; a content type no parser reads
        if self.view.get_authenticators():
            codes |= {"401", "403"}
        if self._path_parameters() or (self._is_list_view() and self._get_paginator()):
            codes.add("404")
        if self.view.get_throttles():
            codes.add("429")
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = {code for code in responses if code.startswith("4")} | self.error_codes()
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for code in sorted(codes):
            declared = responses.get(code, {})
            responses[code] = {
                **declared,
                "description": declared.get("description") or DESCRIPTIONS.get(code, "Error."),
                "content": {"application/json": {"schema": error}},
            }
            if code == "429":
                responses[code]["headers"] = {**RETRY_AFTER, **declared.get("headers", {})}
        return dict(sorted(responses.items()))

    def _has_body(self) -> bool:
        return self.method in BODY_METHODS and self._get_request_body() is not None

    def _has_query_parameters(self) -> bool:
        return any(parameter["in"] == "query" for parameter in self._get_parameters())

    def _path_parameters(self) -> list:
        return [parameter for parameter in self._get_parameters() if parameter["in"] == "path"]
