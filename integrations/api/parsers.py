"""The API's JSON parser: DRF's, plus refusals that would otherwise be 500s."""

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _encodable(value):
    """Whether every string in ``value`` encodes as UTF-8 (no lone surrogates)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


class StrictJSONParser(JSONParser):
    """JSON only; refuses documents nested too deeply to parse and strings with
    unpaired surrogate escapes (``"\\ud800"``), which no database column stores."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("JSON nested too deeply.")) from None
        if not _encodable(data):
            raise ParseError(_("JSON string with an unpaired surrogate."))
        return data
