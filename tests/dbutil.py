"""Reading and writing stored values behind the ORM's back, as an attacker or a
legacy system would: what the database itself holds."""

from django.db import connection


def _where(model, pk):
    return (
        connection.ops.quote_name(model._meta.db_table),
        [model._meta.pk.get_db_prep_value(pk, connection)],
    )


def raw_column(model, column, pk):
    table, params = _where(model, pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM {table} WHERE id = %s", params
        )
        return cursor.fetchone()[0]


def write_raw(model, column, pk, value):
    table, params = _where(model, pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {connection.ops.quote_name(column)} = %s WHERE id = %s",
            [value, *params],
        )
