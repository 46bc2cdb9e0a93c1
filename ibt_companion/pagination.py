"""Page numbers on every paginated API list (DEFAULT_PAGINATION_CLASS).

DRF answers `?page=abc` or `?page=1.5` with a 404, as if the page were merely past the end. A
page number that is not a whole number from 1 is a mistake in the request: a 400 that names the
`page` parameter, in the one error shape. A page past the end stays a 404.
"""

import re

from rest_framework import pagination
from rest_framework.exceptions import ValidationError

PAGE_NUMBER = re.compile(r"[0-9]{1,18}")  # int() of thousands of digits raises
NOT_A_PAGE = "Give the page as a whole number, 1 or more."


class PageNumberPagination(pagination.PageNumberPagination):
    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if not raw:  # absent or empty, as DRF reads it: the first page
            return 1
        if raw in self.last_page_strings:
            return paginator.num_pages
        if not PAGE_NUMBER.fullmatch(raw) or int(raw) < 1:
            raise ValidationError({self.page_query_param: [NOT_A_PAGE]})
        return int(raw)
