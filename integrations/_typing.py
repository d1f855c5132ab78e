"""Names used only in annotations.

``User`` is the project's user model. ``AUTH_USER_MODEL`` is swappable, so the
package cannot name that class: django-stubs resolves ``owner=user`` lookups
against whichever model the settings configure, and a view's ``request.user``
is typed as that model or ``AnonymousUser``. The service layer is only ever
called with a signed-in user, which is all this alias promises.
"""

from typing import Any, TypeAlias

User: TypeAlias = Any
