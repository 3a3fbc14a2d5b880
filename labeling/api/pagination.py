from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """?limit= and ?offset=, bounded: a huge limit is cut to max_limit, a huge offset to MAX_OFFSET
    (PostgreSQL refuses an OFFSET past bigint, which must be a 400-free empty page, not a 500)."""

    max_limit = 500
    MAX_OFFSET = 10**12

    def get_offset(self, request):
        return min(super().get_offset(request), self.MAX_OFFSET)
