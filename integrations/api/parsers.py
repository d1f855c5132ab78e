"""The API's JSON parser: DRF's, plus refusals that would otherwise be 500s."""

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from ..sealed.jsonlimits import MAX_JSON_DEPTH

# A body wraps its fields in one object: a field may hold MAX_JSON_DEPTH levels.
MAX_BODY_DEPTH = MAX_JSON_DEPTH + 1
_TOO_DEEP = _("JSON nested too deeply.")


def _check(value):
    """Raise ParseError for a body nested deeper than any field may store, or
    with a string that does not encode as UTF-8 (a lone surrogate)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ParseError(_("JSON string with an unpaired surrogate.")) from None
            continue
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth == MAX_BODY_DEPTH:
            raise ParseError(_TOO_DEEP)
        stack.extend((child, depth + 1) for child in children)


class StrictJSONParser(JSONParser):
    """JSON only; refuses documents nested deeper than any field may store (the
    JSON limits of :mod:`integrations.sealed.jsonlimits`, plus the body's own
    level) -- before a serializer walks them -- and strings with unpaired
    surrogate escapes (``"\\ud800"``), which no database column stores."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_TOO_DEEP) from None
        _check(data)
        return data
