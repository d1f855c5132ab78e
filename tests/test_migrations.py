"""Migrations serialize the fields, and renames never strand sealed data."""

import uuid

import pytest
from django.db import connection, migrations, models
from django.db.migrations.state import ProjectState
from django.db.migrations.writer import MigrationWriter

from integrations.fields import EncryptedJSONField, EncryptedTokenField

APP = "renametest"


def _apply(state, operation):
    new_state = state.clone()
    operation.state_forwards(APP, new_state)
    with connection.schema_editor() as editor:
        operation.database_forwards(APP, editor, state, new_state)
    return new_state


@pytest.mark.django_db(transaction=True)
def test_rename_model_and_field_keep_values_readable():
    create = migrations.CreateModel(
        "Vault",
        [
            ("id", models.UUIDField(primary_key=True, default=uuid.uuid4)),
            ("token", EncryptedTokenField(purpose="renametest.vault.token", null=True)),
            ("blob", EncryptedJSONField(purpose="renametest.vault.blob", null=True)),
        ],
    )
    state = _apply(ProjectState(), create)
    try:
        Vault = state.apps.get_model(APP, "Vault")
        row = Vault.objects.create(token="survives renames", blob={"n": 1})

        state = _apply(state, migrations.RenameField("Vault", "token", "access_token"))
        state = _apply(state, migrations.RenameModel("Vault", "Strongbox"))
        state = _apply(state, migrations.RenameField("Strongbox", "blob", "payload"))

        Strongbox = state.apps.get_model(APP, "Strongbox")
        loaded = Strongbox.objects.get(pk=row.pk)
        assert loaded.access_token == "survives renames"
        assert loaded.payload == {"n": 1}
        assert Strongbox._meta.db_table == "renametest_strongbox"
    finally:
        with connection.schema_editor() as editor:
            for name in ("Strongbox", "Vault"):
                try:
                    editor.delete_model(state.apps.get_model(APP, name))
                    break
                except LookupError:
                    continue


def test_migration_writer_serializes_the_purpose():
    operation = migrations.AddField(
        "account",
        "secret",
        EncryptedTokenField(purpose="testapp.account.secret", null=True),
    )
    migration = type("Migration", (migrations.Migration,), {"operations": [operation]})
    source = MigrationWriter(migration("0002_secret", "testapp")).as_string()
    assert "integrations.fields.EncryptedTokenField(" in source
    assert "purpose='testapp.account.secret'" in source
    assert "import integrations.fields" in source
