"""No tables: sealed fields live in the project's own models.

(The module exists so that Django sends this app the ``pre_migrate`` signal,
which seals migration defaults into existing rows; see migration_defaults.)
"""
