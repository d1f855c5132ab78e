"""The demo authorization servers' pages, usable in a popup.

Django sends ``Cross-Origin-Opener-Policy: same-origin`` on every page. A page
that sends it in a popup opened by a page that does not (the demo's
single-page app sends ``same-origin-allow-popups``, as a page opening sign-in
popups should) is cut off from its opener, so the connect session's result
could not reach the app. A real provider's authorization pages meant for popups
do not send it; the demo's (``/o/`` and ``/oauth1/``) say ``unsafe-none`` here
(SecurityMiddleware keeps a value already set).
"""

PROVIDER_PREFIXES = ("/o/", "/oauth1/")


class ProviderPagesInPopups:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(PROVIDER_PREFIXES):
            response["Cross-Origin-Opener-Policy"] = "unsafe-none"
        return response
