"""The bench's settings: the test settings plus the keys the peer packages need.

The ``peers`` section times this project's sealed field against other packages'
encrypted fields (installed with the ``bench`` extra, never a dependency of the
package). Each reads its key from settings of its own:

* django-encrypted-model-fields: ``FIELD_ENCRYPTION_KEY``, a Fernet key (or a
  list of them), read when ``encrypted_model_fields.fields`` is imported.
* django-fernet-encrypted-fields: ``SALT_KEY`` (a string or a list), mixed with
  ``SECRET_KEY`` (and ``SECRET_KEY_FALLBACKS``) by PBKDF2 when a field first
  seals or opens.
* django-cryptography (when it imports): ``CRYPTOGRAPHY_KEY``, or ``SECRET_KEY``
  when unset, with ``CRYPTOGRAPHY_SALT``.

The keys are made fresh for every run: a bench stores nothing that outlives it,
and no key sits in the repository. Nothing prints them.
"""

import secrets

from cryptography.fernet import Fernet

from tests.settings import *  # noqa: F403

FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode("ascii")
SALT_KEY = secrets.token_urlsafe(32)
CRYPTOGRAPHY_KEY = secrets.token_urlsafe(32)
