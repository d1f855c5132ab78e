"""Page-number pagination that refuses malformed paging parameters (400)
instead of silently falling back to defaults."""

from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def _positive(self, request, name, maximum=None):
        raw = request.query_params.get(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = 0
        if value < 1 or (maximum is not None and value > maximum):
            if maximum:
                message = _("Must be a whole number between 1 and %(maximum)d.") % {
                    "maximum": maximum
                }
            else:
                message = _("Must be a whole number of at least 1.")
            raise serializers.ValidationError({name: [message]})
        return value

    def get_page_size(self, request):
        size = self._positive(request, self.page_size_query_param, self.max_page_size)
        return size or self.page_size

    def paginate_queryset(self, queryset, request, view=None):
        self._positive(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                }
        return parameters
