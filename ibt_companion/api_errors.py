"""One error shape for the whole API: {"errors": {field: [messages]}}.

Nested errors (a list of objects, say) are flattened to dotted keys: "emergency_contacts.0.phone".
"""

from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.views import exception_handler as drf_exception_handler


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if prefix and key == "non_field_errors":
                out.update(flatten_errors(value, prefix))  # {"contacts": {"non_field_errors": [...]}}
            else:
                out.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        for index, item in enumerate(detail):
            if item:
                out.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    elif isinstance(detail, list):
        out[prefix or "non_field_errors"] = [str(m) for m in detail]
    else:
        out[prefix or "detail"] = [str(detail)]
    return out


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):  # past DATA_UPLOAD_MAX_MEMORY_SIZE: Django's plain 400
        exc = BodyTooLarge()
    response = drf_exception_handler(exc, context)
    if response is not None:
        response.data = {"errors": flatten_errors(response.data)}
    return response
