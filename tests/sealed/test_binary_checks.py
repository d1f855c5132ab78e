"""The database check that a sealed field's storage matches its column."""

from unittest import mock

import pytest
from django.core import checks

from integrations.sealed.checks import check_column_storage
from tests.testapp.models import Account, BinaryAccount

pytestmark = pytest.mark.django_db


def warnings_for(model):
    return [w for w in check_column_storage(databases=["default"]) if w.obj.model is model]


def test_matching_columns_pass():
    assert warnings_for(BinaryAccount) == []
    assert warnings_for(Account) == []


def test_a_binary_field_over_a_text_column_is_reported():
    field = Account._meta.get_field("token")
    with mock.patch.object(field, "binary", True):
        (warning,) = warnings_for(Account)
    assert warning.id == "integrations.W040"
    assert isinstance(warning, checks.Warning)
    assert "testapp.Account.token" in warning.msg and "binary column" in warning.msg


def test_a_text_field_over_a_binary_column_is_reported():
    field = BinaryAccount._meta.get_field("data")
    with mock.patch.object(field, "binary", False):
        (warning,) = warnings_for(BinaryAccount)
    assert "testapp.BinaryAccount.data" in warning.msg and "text column" in warning.msg


def test_it_is_a_database_check():
    assert check_column_storage(databases=None) == []
    registered = checks.registry.registry.get_checks(include_deployment_checks=False)
    assert any(c is check_column_storage and checks.Tags.database in c.tags for c in registered)
