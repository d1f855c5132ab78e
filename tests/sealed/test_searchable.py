"""Searchable sealed fields (issue 14): lookups through the blind index, every
write path keeps it in step, uniqueness is the database's, rotation half done."""

import io
import json
import threading

import pytest
from django.core import checks, serializers
from django.core.exceptions import FieldError, ValidationError
from django.core.management import call_command
from django.db import IntegrityError, close_old_connections, connection, models, transaction
from django.test.utils import CaptureQueriesContext, isolate_apps, override_settings

from integrations.conf import app_settings
from integrations.crypto import generate_key
from integrations.fields import BlindIndexField, EncryptedTokenField
from integrations.sealed import resealing
from tests.conftest import assert_not_logged
from tests.dbutil import raw_column, write_raw
from tests.processes import run_in_processes
from tests.settings import TEST_KEY_V1, TEST_KEY_V2
from tests.testapp.models import Badge, Customer

V1_ONLY = {"ENCRYPTION_KEYS": [TEST_KEY_V1]}


def index_of(model, name, pk):
    return raw_column(model, f"{name}_bidx", pk)


# -- the schema ----------------------------------------------------------------


def test_the_index_is_a_companion_column_with_a_database_index():
    field = Customer._meta.get_field("api_key_bidx")
    assert isinstance(field, BlindIndexField)
    assert field.unique and not Customer._meta.get_field("api_key").unique
    assert Customer._meta.get_field("email_bidx").db_index
    assert not Customer._meta.get_field("email_bidx").editable
    constraint = Customer._meta.constraints[0]
    assert constraint.fields == ("tenant", "ref_bidx")


@pytest.mark.django_db
def test_the_database_indexes_the_column():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Customer._meta.db_table)
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"] or c["unique"]}
    unique = {tuple(c["columns"]) for c in constraints.values() if c["unique"]}
    assert ("email_bidx",) in indexed
    assert ("api_key_bidx",) in unique and ("tenant", "ref_bidx") in unique
    assert ("api_key",) not in unique


def test_deconstruct_round_trips():
    field = Customer._meta.get_field("email")
    _name, path, args, kwargs = field.deconstruct()
    assert path == "integrations.fields.EncryptedTokenField"
    assert kwargs["searchable"] is True and kwargs["normalize"].__name__ == "normalize_email"
    assert Customer._meta.get_field("api_key").deconstruct()[3]["unique"] is True
    assert Customer._meta.get_field("ref").deconstruct()[3]["index_bytes"] == 8
    _name, path, _args, kwargs = Customer._meta.get_field("api_key_bidx").deconstruct()
    assert path == "integrations.fields.BlindIndexField"
    assert kwargs == {"source": "api_key", "unique": True, "verbose_name": "api key"}


@pytest.mark.parametrize(
    "kwargs",
    [{"normalize": str.strip}, {"index_bytes": 20}, {"searchable": True, "index_bytes": 4}],
)
def test_index_options_need_searchable_and_a_sane_length(kwargs):
    with pytest.raises((TypeError, ValueError)):
        EncryptedTokenField(purpose="x.y", **kwargs)


# -- lookups -------------------------------------------------------------------


@pytest.mark.django_db
class TestLookups:
    def test_exact_get_in_exclude(self):
        a = Customer.objects.create(name="a", api_key="key-a")
        b = Customer.objects.create(name="b", api_key="key-b")
        Customer.objects.create(name="none")
        assert Customer.objects.get(api_key="key-a") == a
        assert list(Customer.objects.filter(api_key="key-b")) == [b]
        assert set(Customer.objects.filter(api_key__in=["key-a", "key-b", "zzz"])) == {a, b}
        assert list(Customer.objects.filter(api_key__in=[])) == []
        assert set(Customer.objects.exclude(api_key="key-a").values_list("name", flat=True)) == {
            "b",
            "none",
        }
        assert list(Customer.objects.filter(api_key=None).values_list("name", flat=True)) == [
            "none"
        ]
        assert not Customer.objects.filter(api_key="key-A").exists()
        with pytest.raises(Customer.DoesNotExist):
            Customer.objects.get(api_key="missing")

    def test_across_a_relation(self):
        owner = Customer.objects.create(name="owner")
        Badge.objects.create(owner=owner, code="badge-1")
        assert Customer.objects.get(badges__code="badge-1") == owner

    def test_normalize_applies_to_the_index_never_to_the_value(self):
        customer = Customer.objects.create(email="  Ada@Example.ORG ")
        found = Customer.objects.get(email="ada@example.org")
        assert found == customer and found.email == "  Ada@Example.ORG "
        assert Customer.objects.filter(email__in=["ADA@example.org "]).count() == 1

    def test_the_lookup_is_one_indexed_comparison(self):
        with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2]}):
            with CaptureQueriesContext(connection) as queries:
                list(Customer.objects.filter(api_key="key-a"))
        sql = queries.captured_queries[0]["sql"]
        assert '"api_key_bidx" = ' in sql and "key-a" not in sql
        with CaptureQueriesContext(connection) as queries:  # two keys: either index form
            list(Customer.objects.filter(api_key="key-a"))
        assert '"api_key_bidx" IN (' in queries.captured_queries[0]["sql"]

    @pytest.mark.parametrize(
        "lookup", ["contains", "icontains", "startswith", "gt", "lt", "iexact", "regex", "range"]
    )
    def test_other_lookups_raise_a_clear_field_error(self, lookup):
        with pytest.raises(FieldError, match="Supported: 'exact', 'in', 'isnull'"):
            Customer.objects.filter(**{f"api_key__{lookup}": "x"})

    def test_transforms_and_expressions_are_refused(self):
        with pytest.raises(FieldError):
            Customer.objects.filter(api_key__lower="x")
        with pytest.raises(FieldError, match="only be compared with values"):
            list(Customer.objects.filter(api_key=models.F("name")))
        with pytest.raises(FieldError, match="str values"):
            list(Customer.objects.filter(api_key=12))
        with pytest.raises(FieldError, match="list of values"):
            list(Customer.objects.filter(api_key__in="abc"))

    def test_lookups_on_non_searchable_fields_still_refused(self):
        with pytest.raises(FieldError, match="Only 'isnull'"):
            Customer.objects.filter(note="x")


# -- write paths -----------------------------------------------------------------


@pytest.mark.django_db
class TestWritePaths:
    def test_save_create_and_update(self):
        customer = Customer.objects.create(api_key="one")
        first = index_of(Customer, "api_key", customer.pk)
        assert first.startswith("2:") and "one" not in first
        customer.api_key = "two"
        customer.save()
        assert index_of(Customer, "api_key", customer.pk) != first
        assert Customer.objects.get(api_key="two") == customer
        customer.api_key = None
        customer.save()
        assert index_of(Customer, "api_key", customer.pk) is None
        customer.api_key = ""
        customer.save()
        assert Customer.objects.get(api_key="") == customer

    def test_save_update_fields_naming_only_the_value(self):
        customer = Customer.objects.create(api_key="one", name="n")
        customer.api_key = "two"
        customer.save(update_fields=["api_key"])
        assert Customer.objects.get(api_key="two") == customer
        customer.api_key = None
        customer.save(update_fields=["api_key"])
        assert index_of(Customer, "api_key", customer.pk) is None
        customer.name = "other"
        customer.save(update_fields=["name"])  # the index stays as it is
        customer.api_key = "three"
        customer.save(update_fields=["api_key_sealed"])
        assert Customer.objects.get(api_key="three") == customer

    def test_bulk_create(self):
        created = Customer.objects.bulk_create(
            [Customer(api_key=f"bulk-{i}", email=f"E{i}@x.org") for i in range(5)]
        )
        assert Customer.objects.get(api_key="bulk-3") == created[3]
        assert Customer.objects.get(email="e4@x.org") == created[4]

    def test_bulk_update_naming_only_the_value(self):
        rows = Customer.objects.bulk_create([Customer(api_key=f"k{i}") for i in range(4)])
        untouched = Customer.objects.get(pk=rows[3].pk)
        rows[0].api_key = "new-0"
        rows[1].api_key = None
        rows[2].api_key = ""
        Customer.objects.bulk_update([rows[0], rows[1], rows[2], untouched], ["api_key"])
        assert Customer.objects.get(api_key="new-0") == rows[0]
        assert not Customer.objects.filter(api_key="k0").exists()
        assert index_of(Customer, "api_key", rows[1].pk) is None
        assert Customer.objects.get(api_key="") == rows[2]
        assert Customer.objects.get(api_key="k3") == rows[3]

    def test_bulk_update_naming_the_index_too(self):
        rows = Customer.objects.bulk_create([Customer(api_key=f"k{i}") for i in range(2)])
        rows[0].api_key = "changed"
        Customer.objects.bulk_update(rows, ["api_key", "api_key_bidx", "name"])
        assert Customer.objects.get(api_key="changed") == rows[0]
        assert Customer.objects.get(api_key="k1") == rows[1]

    def test_queryset_update_of_a_column_bound_field(self):
        badges = [Badge.objects.create(code=f"c{i}") for i in range(3)]
        assert Badge.objects.filter(code__in=["c0", "c1"]).update(code="shared") == 2
        assert set(Badge.objects.filter(code="shared")) == set(badges[:2])
        Badge.objects.filter(pk=badges[2].pk).update(code=None)
        assert Badge.objects.get(code=None) == badges[2]
        assert index_of(Badge, "code", badges[2].pk) is None

    def test_queryset_update_cannot_leave_a_stale_index(self):
        badge = Badge.objects.create(code="c")
        with pytest.raises(FieldError), transaction.atomic():
            Badge.objects.update(code=models.F("code"))
        with pytest.raises(FieldError, match="sealed elsewhere"), transaction.atomic():
            Badge.objects.update(code=badge.code_sealed)
        with pytest.raises(FieldError, match="primary key"), transaction.atomic():
            Customer.objects.update(api_key="x")  # row-bound: no row, no seal
        assert Badge.objects.get(code="c") == badge

    def test_dumpdata_and_loaddata(self, tmp_path):
        customer = Customer.objects.create(api_key="fixture-key", email="A@b.org")
        data = serializers.serialize("json", [customer])
        fields = json.loads(data)[0]["fields"]
        assert "fixture-key" not in data and fields["api_key_bidx"]
        fields["api_key_bidx"] = "1:stale-or-forged"  # never trusted
        fields["email_bidx"] = None
        Customer.objects.all().delete()
        fixture = tmp_path / "customers.json"
        fixture.write_text(json.dumps([{**json.loads(data)[0], "fields": fields}]))
        call_command("loaddata", str(fixture), verbosity=0)
        assert Customer.objects.get(api_key="fixture-key").pk == customer.pk
        assert Customer.objects.get(email="a@B.org").pk == customer.pk

    def test_no_plaintext_in_any_column_query_or_log(self, all_logs, canary):
        with CaptureQueriesContext(connection) as queries:
            customer = Customer.objects.create(api_key=canary, email=canary)
            list(Customer.objects.filter(api_key=canary))
            list(Customer.objects.filter(email__in=[canary]))
            customer.api_key = canary + "2"
            customer.save(update_fields=["api_key"])
        for query in queries.captured_queries:
            assert canary.lower() not in query["sql"].lower()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {Customer._meta.db_table}")
            assert canary not in repr(cursor.fetchall())
        assert_not_logged(all_logs, canary)


# -- uniqueness ----------------------------------------------------------------------


@pytest.mark.django_db
class TestUniqueness:
    def test_unique_is_enforced_by_the_database(self):
        Customer.objects.create(api_key="dup")
        with pytest.raises(IntegrityError), transaction.atomic():
            Customer.objects.create(api_key="dup")
        Customer.objects.create(api_key=None)
        Customer.objects.create(api_key=None)  # NULLs never collide

    def test_unique_constraint_with_another_column(self):
        Customer.objects.create(tenant="a", ref="r")
        Customer.objects.create(tenant="b", ref="r")
        with pytest.raises(IntegrityError), transaction.atomic():
            Customer.objects.create(tenant="a", ref="r")

    def test_full_clean_reports_a_duplicate_as_a_form_would(self):
        Customer.objects.create(api_key="dup")
        with pytest.raises(ValidationError) as caught:
            Customer(api_key="dup").full_clean()
        assert "api_key" in caught.value.message_dict
        assert "dup" not in str(caught.value)
        existing = Customer.objects.get(api_key="dup")
        existing.full_clean()  # itself is no duplicate

    def test_unique_constraint_is_validated(self):
        Customer.objects.create(tenant="a", ref="r")
        with pytest.raises(ValidationError):
            Customer(tenant="a", ref="r").full_clean()


@pytest.mark.django_db(transaction=True)
def test_two_threads_insert_one_value_at_once():
    barrier = threading.Barrier(2)
    outcomes = []

    def insert():
        try:
            barrier.wait(timeout=10)
            Customer.objects.create(name="thread", api_key="raced-value")
            outcomes.append("created")
        except IntegrityError:
            outcomes.append("IntegrityError")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=insert) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["IntegrityError", "created"]
    assert Customer.objects.filter(api_key="raced-value").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_processes_insert_one_value_at_once(tmp_path):
    outcomes = run_in_processes(2, "process-raced", tmp_path, script="bidx_worker.py")
    assert sorted(outcomes) == ["IntegrityError", "created"]
    assert Customer.objects.filter(api_key="process-raced").count() == 1


# -- key rotation -----------------------------------------------------------------


@pytest.mark.django_db
class TestRotation:
    def make_old_rows(self, count):
        with override_settings(INTEGRATIONS=V1_ONLY):
            return Customer.objects.bulk_create(
                [Customer(api_key=f"old-{i}", email=f"Old{i}@x.org") for i in range(count)]
            )

    def test_rows_are_found_throughout_a_rotation_in_small_batches(self, monkeypatch):
        rows = self.make_old_rows(12)
        assert index_of(Customer, "api_key", rows[0].pk).startswith("1:")
        field = Customer._meta.get_field("api_key")
        seen = []
        original = resealing._IndexColumn.process

        def process_and_look(self, *args, **kwargs):
            original(self, *args, **kwargs)
            # between batches: some rows re-indexed under key 2, some still under 1
            seen.append(
                sorted(
                    c.api_key
                    for c in Customer.objects.filter(api_key__in=[f"old-{i}" for i in range(12)])
                )
            )
            seen.append(Customer.objects.get(api_key="old-11").pk)

        monkeypatch.setattr(resealing._IndexColumn, "process", process_and_look)
        report = resealing.reseal_field(Customer, field, batch_size=5)
        assert report.resealed == 12 and report.reindexed == 12
        assert all(found == sorted(f"old-{i}" for i in range(12)) for found in seen[::2])
        assert all(pk == rows[11].pk for pk in seen[1::2])
        assert len(seen) >= 6
        for row in rows:
            assert index_of(Customer, "api_key", row.pk).startswith("2:")
            assert app_settings.keyring.key_version(raw_column(Customer, "api_key", row.pk)) == 2

    def test_rotate_keys_command_reindexes_and_reports(self):
        self.make_old_rows(3)
        out = io.StringIO()
        call_command("rotate_keys", "--model", "testapp.Customer", "--json", stdout=out)
        fields = {f["field"]: f for f in json.loads(out.getvalue())["fields"]}
        assert fields["api_key"]["resealed"] == 3 and fields["api_key"]["reindexed"] == 3
        assert fields["email"]["reindexed"] == 3
        assert Customer.objects.get(email="old2@X.org").api_key == "old-2"
        again = io.StringIO()
        call_command("rotate_keys", "--model", "testapp.Customer", "--json", stdout=again)
        assert all(f["reindexed"] == 0 for f in json.loads(again.getvalue())["fields"])

    def test_large_values_are_reindexed_in_byte_bounded_chunks(self, monkeypatch):
        """Values past the byte budget are read in chunks (on PostgreSQL, by key
        after the batch's query locked them), re-sealed and re-indexed alike."""
        with override_settings(INTEGRATIONS=V1_ONLY):
            rows = Customer.objects.bulk_create(
                [Customer(api_key=f"{i:02d}" + "k" * (2000 + i)) for i in range(9)]
            )
        chunks = []
        original = resealing._IndexColumn.process

        def recording(self, rows, *args, **kwargs):
            chunks.append(len(rows))
            return original(self, rows, *args, **kwargs)

        monkeypatch.setattr(resealing._IndexColumn, "process", recording)
        field = Customer._meta.get_field("api_key")
        report = resealing.reseal_field(Customer, field, batch_size=100, batch_bytes=6000)
        assert (report.resealed, report.reindexed, report.unreadable) == (9, 9, [])
        assert sum(chunks) == 9 and max(chunks) == 3  # ~2.7 kB each: 3 reach 6 kB
        for i, row in enumerate(rows):
            assert index_of(Customer, "api_key", row.pk).startswith("2:")
            assert Customer.objects.get(api_key=f"{i:02d}" + "k" * (2000 + i)).pk == row.pk

    def test_the_table_shows_reindexed_rows_never_values(self, canary):
        with override_settings(INTEGRATIONS=V1_ONLY):
            Customer.objects.create(api_key=canary)
        out, err = io.StringIO(), io.StringIO()
        call_command("rotate_keys", "--model", "testapp.Customer", stdout=out, stderr=err)
        header, *lines = out.getvalue().splitlines()
        assert header.split()[-1] == "re-indexed"
        api_key = next(line for line in lines if "Customer.api_key" in line)
        assert api_key.split()[1] == "1" and api_key.split()[-1] == "1"
        assert canary not in out.getvalue() + err.getvalue()

    def test_a_new_explicit_index_key_reindexes_without_resealing(self):
        customer = Customer.objects.create(api_key="k")
        sealed = raw_column(Customer, "api_key", customer.pk)
        keys = {"ENCRYPTION_KEYS": [TEST_KEY_V2, TEST_KEY_V1]}
        with override_settings(INTEGRATIONS={**keys, "INDEX_KEYS": [generate_key(5)]}):
            assert not Customer.objects.filter(api_key="k").exists()  # the old index is gone
            report = resealing.reseal_field(Customer, Customer._meta.get_field("api_key"))
            assert (report.resealed, report.reindexed) == (0, 1)
            assert Customer.objects.get(api_key="k") == customer
            assert index_of(Customer, "api_key", customer.pk).startswith("5:")
        assert raw_column(Customer, "api_key", customer.pk) == sealed

    def test_a_duplicate_written_mid_rotation_is_caught_or_reported(self):
        self.make_old_rows(1)  # "old-0" indexed under key 1
        with pytest.raises(ValidationError):
            Customer(api_key="old-0").full_clean()  # every key's form is checked
        # Written past validation (another deployment still on key 1 only would
        # do the same): the database sees two different index strings.
        duplicate = Customer.objects.create(api_key="old-0")
        report = resealing.reseal_field(Customer, Customer._meta.get_field("api_key"))
        assert [item.error for item in report.unreadable] == ["IntegrityError"]
        assert Customer.objects.filter(api_key="old-0").count() == 2  # nothing lost
        assert duplicate.pk not in {item.pk for item in report.unreadable}


# -- checks ------------------------------------------------------------------------


@isolate_apps("tests.testapp")
def test_e013_still_refuses_unique_and_unique_constraints_on_non_searchable_fields():
    class Plain(models.Model):
        token = EncryptedTokenField(purpose="testapp.plain.token", unique=True)
        other = EncryptedTokenField(purpose="testapp.plain.other")

        class Meta:
            app_label = "testapp"
            constraints = [models.UniqueConstraint(fields=["other"], name="plain_other")]

    class Searchable(models.Model):
        token = EncryptedTokenField(purpose="testapp.s.token", unique=True, searchable=True)

        class Meta:
            app_label = "testapp"

    ids = [e.id for e in Plain.check() if isinstance(e, checks.Error)]
    assert ids.count("integrations.E013") == 2
    assert not [e for e in Searchable.check() if e.id == "integrations.E013"]


def test_malformed_index_keys_stop_manage_py():
    from integrations.sealed.checks import check_keyring

    with override_settings(
        INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2], "INDEX_KEYS": ["1:short"]}
    ):
        errors = check_keyring()
    assert [e.id for e in errors] == ["integrations.E014"]
    assert "short" not in errors[0].msg


@pytest.mark.django_db
def test_raw_reads_of_an_index_reveal_nothing_of_the_value():
    customer = Customer.objects.create(api_key="visible?")
    index = index_of(Customer, "api_key", customer.pk)
    assert len(index) == len("2:") + 22
    write_raw(Customer, "api_key_bidx", customer.pk, None)
    assert not Customer.objects.filter(api_key="visible?").exists()
    report = resealing.reseal_field(Customer, Customer._meta.get_field("api_key"))
    assert report.reindexed == 1 and index_of(Customer, "api_key", customer.pk) == index


@pytest.mark.django_db
def test_saving_other_columns_of_a_row_with_an_unreadable_value_still_works():
    customer = Customer.objects.create(name="a", api_key="k")
    write_raw(Customer, "api_key_bidx", customer.pk, None)
    write_raw(Customer, "api_key", customer.pk, "$si1$2$" + "A" * 40)  # damaged
    loaded = Customer.objects.get(pk=customer.pk)
    loaded.name = "renamed"
    loaded.save()
    assert raw_column(Customer, "name", customer.pk) == "renamed"
    assert raw_column(Customer, "api_key", customer.pk) == "$si1$2$" + "A" * 40


@isolate_apps("tests.testapp")
def test_an_abstract_base_gives_each_child_its_own_index_column():
    class Base(models.Model):
        key = EncryptedTokenField(purpose="testapp.base.key", searchable=True, unique=True)

        class Meta:
            abstract = True
            app_label = "testapp"

    class Child(Base):
        class Meta:
            app_label = "testapp"

    assert [f.name for f in Child._meta.local_fields] == ["id", "key", "key_bidx"]
    index_field = Child._meta.get_field("key").index_field
    assert index_field is Child._meta.get_field("key_bidx") and index_field.unique
    assert not [e for e in Child.check() if e.level >= checks.ERROR]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pipelined workers: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_pipelined_rotation_reseals_and_reindexes_every_row(monkeypatch):
    """Outside a transaction on PostgreSQL two workers (threads, a connection
    each) share a searchable column's batches: every value re-sealed, every
    index under the new key, the counts exact, lookups finding every row."""
    with override_settings(INTEGRATIONS=V1_ONLY):
        rows = Customer.objects.bulk_create(
            [Customer(api_key=f"pipe-{i}", email=f"p{i}@x.org") for i in range(730)]
        )
    workers = []
    real = resealing._IndexColumn.process

    def counting(self, *args, **kwargs):
        workers.append(threading.get_ident())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(resealing._IndexColumn, "process", counting)
    field = Customer._meta.get_field("api_key")
    report = resealing.reseal_field(Customer, field, batch_size=50)
    assert (report.resealed, report.reindexed, report.changed, report.unreadable) == (
        730,
        730,
        0,
        [],
    )
    assert len(set(workers)) == 2  # both workers took batches
    assert all(index_of(Customer, "api_key", row.pk).startswith("2:") for row in rows[::97])
    wanted = [f"pipe-{i}" for i in range(0, 730, 7)]
    assert sorted(c.api_key for c in Customer.objects.filter(api_key__in=wanted)) == sorted(wanted)
    assert resealing.reseal_field(Customer, field).reindexed == 0  # nothing left to do
