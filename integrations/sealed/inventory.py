"""What is stored under which key: the counts behind ``encryption_status``.

Reads only the first characters of each stored value (the header), never
decrypts, and never returns a value.
"""

import dataclasses
from collections import Counter
from dataclasses import dataclass

from ..crypto import PREFIX, MalformedValueError, NotSealedError
from ..crypto.format import read_version
from .conf import app_settings
from .resealing import _Column

# "$si1$" + up to 9 digits + "$"
_HEADER_CHARS = len(PREFIX) + 10


@dataclass
class ColumnStatus:
    model: str
    field: str
    total: int = 0
    null: int = 0
    empty: int = 0
    plaintext: int = 0
    malformed: int = 0
    by_version: dict[int, int] = dataclasses.field(default_factory=dict)
    missing_versions: list[int] = dataclasses.field(default_factory=list)
    retired_versions: list[int] = dataclasses.field(default_factory=list)

    @property
    def needs_rotation(self):
        primary = app_settings.keyring.primary_version
        return sum(n for version, n in self.by_version.items() if version != primary)

    def as_dict(self):
        return {
            "model": self.model,
            "field": self.field,
            "total": self.total,
            "null": self.null,
            "empty": self.empty,
            "plaintext": self.plaintext,
            "malformed": self.malformed,
            "by_version": {str(v): n for v, n in sorted(self.by_version.items())},
            "needs_rotation": self.needs_rotation,
            "missing_versions": self.missing_versions,
            "retired_versions": self.retired_versions,
        }


def column_status(model, sealed_field):
    column = _Column(model, sealed_field)
    col = column.column
    status = ColumnStatus(model._meta.label, sealed_field.name)
    versions: Counter[int] = Counter()
    with column.connection.cursor() as cursor:
        # NULL told apart from empty by its own test: SQLite's SUBSTR of an
        # empty BLOB is NULL.
        cursor.execute(
            f"SELECT CASE WHEN {col} IS NULL THEN 1 ELSE 0 END, SUBSTR({col}, 1, {_HEADER_CHARS}), "
            f"COUNT(*) FROM {column.table} "
            f"GROUP BY CASE WHEN {col} IS NULL THEN 1 ELSE 0 END, SUBSTR({col}, 1, {_HEADER_CHARS})"
        )
        for is_null, head, count in cursor.fetchall():
            status.total += count
            if is_null:
                status.null += count
            elif head is None or len(head) == 0:  # "" or, in a binary column, zero bytes
                status.empty += count
            else:
                try:
                    versions[read_version(head)] += count
                except NotSealedError:
                    # A binary column never holds legacy plaintext: that is damage.
                    if column.binary:
                        status.malformed += count
                    else:
                        status.plaintext += count
                except MalformedValueError:
                    status.malformed += count
    keyring = app_settings.keyring
    status.by_version = dict(versions)
    status.missing_versions = sorted(v for v in versions if v not in keyring.versions)
    status.retired_versions = sorted(v for v in versions if keyring.is_retired(v))
    return status
