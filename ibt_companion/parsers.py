"""The API's JSON parser: DRF's, with a limit on how deeply a body may nest.

Python's JSON decoder recurses once per level, so a body of 100,000 `[` raises RecursionError,
which DRF's parser does not catch (a 500). No request of ours nests deeper than a few levels,
so anything past MAX_DEPTH is refused with a 400 in the usual error shape. (The body's size is
Django's DATA_UPLOAD_MAX_MEMORY_SIZE, which DRF applies before parsing; api_errors makes it a 413.)
"""

from collections.abc import Iterable
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32
TOO_DEEP = "The request body is nested too deeply."


def depth_exceeds(data, limit: int = MAX_DEPTH) -> bool:
    """True when lists and objects nest more than `limit` levels (checked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class DepthLimitedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if depth_exceeds(data):
            raise ParseError(TOO_DEEP)
        return data
