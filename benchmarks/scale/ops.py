"""The scenarios' work inside an app host: ``python -m benchmarks.scale.ops <op> ...``.

Scenarios run in the bed's driver process, which has no Django of its own; what
must touch the database or the token service runs here, in a host's network
namespace with the bed's environment (``DATABASE_URL``, keys, cache), and prints
one JSON object on stdout. Never a token, key or opened value: digests and
counts only.

Ops: ``seed-grants`` / ``ask-tokens`` / ``grant-state`` (the refresh storm),
``seed-rows`` / ``api-writes`` / ``rows-state`` (the key rotation).
"""

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import Counter

from benchmarks.scale import seeding


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


_stop = threading.Event()


def _stop_on_sigterm():
    """SIGTERM ends a running op early and cleanly: it still prints its figures."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: _stop.set())


def _ready(kind):
    """As benchmarks/scale/celery_app: a file in SCALE_READY_DIR once started."""
    from pathlib import Path

    folder = os.environ.get("SCALE_READY_DIR")
    if folder:
        (Path(folder) / f"{kind}-{os.getpid()}").touch()


def _emit(data):
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


# -- the refresh storm ------------------------------------------------------------


def seed_grants(args):
    """``count`` integrations of one new user and provider, valid for an hour
    (``expire-grants`` expires them all at once), each holding the seed
    refresh token the provider starts its grant from."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from integrations import credentials
    from integrations.models import Integration, Provider

    start = time.monotonic()
    user, _ = get_user_model().objects.get_or_create(username=seeding.username(args.tag))
    provider = Provider.objects.create(
        slug=seeding.username(args.tag),
        name=f"Scale {args.tag}",
        client_id="fake-client",
        token_url=f"{args.provider_url}/token",
        revocation_url=f"{args.provider_url}/revoke",
    )
    credentials.set_client_secret(provider, "scale-client-secret-0123456789", actor=None)
    expired = timezone.now() + timedelta(hours=1)
    for first in range(0, args.count, seeding.CHUNK):
        with transaction.atomic():
            Integration.objects.bulk_create(
                [
                    Integration(
                        owner=user,
                        provider=provider,
                        external_account_id=seeding.account_id(args.tag, n),
                        access_token=seeding.seed_access_token(args.tag, n),
                        refresh_token=seeding.seed_refresh_token(args.tag, n),
                        expires_at=expired,
                        granted_scopes=["read"],
                    )
                    for n in range(first, min(first + seeding.CHUNK, args.count))
                ],
                batch_size=1000,
            )
    _emit({"seeded": args.count, "seconds": round(time.monotonic() - start, 3)})


def expire_grants(args):
    """Expire every integration of the tag at once (one UPDATE); when (epoch s)."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import Integration

    now = timezone.now()
    expired = Integration.objects.filter(provider__slug=seeding.username(args.tag)).update(
        expires_at=now - timedelta(seconds=60)
    )
    _emit({"expired": expired, "at": time.time()})


def ask_tokens(args):
    """``threads`` callers of ``tokens.get_valid_token`` on the tag's integrations
    (random order), for ``seconds`` or ``calls`` calls in all: their outcomes."""
    from django.db import connection

    from integrations import tokens
    from integrations.models import Integration

    _django_ready = Integration.objects.filter(provider__slug=seeding.username(args.tag))
    pks = list(_django_ready.values_list("pk", flat=True))
    connection.close()
    _ready("asker")
    outcomes: Counter = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds
    remaining = [args.calls]

    def ask(seed):
        rng = random.Random(seed)  # noqa: S311 - which row to ask for, not a secret
        try:
            while time.monotonic() < deadline and not _stop.is_set():
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                pk = rng.choice(pks)
                started = time.monotonic()
                try:
                    row = Integration.objects.select_related("provider").get(pk=pk)
                    tokens.get_valid_token(row, purpose="scale storm")
                    outcome = "ok"
                except tokens.TokenUnavailable as exc:
                    outcome = f"{type(exc).__name__}:{exc.code}"
                except Exception as exc:  # noqa: BLE001 - counted by type, never its text
                    outcome = type(exc).__name__
                finally:
                    # Back to the pool, as a request's connection is when it ends:
                    # 8 threads on a pool of 4 would otherwise starve the other 4.
                    connection.close()
                with lock:
                    outcomes[outcome] += 1
                    latencies.append(time.monotonic() - started)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.seconds + 60)
    _emit({"outcomes": dict(outcomes), "latency": seeding.percentiles(latencies)})


def grant_state(args):
    """Per integration of the tag: digests of its seed and stored refresh tokens,
    its status, whether a lease holds it (or an expired one is left in its
    columns) and its refresh time (epoch seconds)."""
    from django.utils import timezone

    from integrations.models import Integration
    from integrations.token_store import open_token

    now = timezone.now()
    rows = []
    query = Integration.objects.filter(provider__slug=seeding.username(args.tag)).order_by()
    # Not .iterator(): its server-side cursor does not survive PgBouncer's
    # transaction mode; a storm's rows fit in memory.
    for row in list(query):
        n = seeding.number_of(row.external_account_id)
        try:
            stored = seeding.digest(open_token(row, "refresh_token") or "")
        except Exception as exc:  # noqa: BLE001 - an unreadable row is a finding
            stored = f"unreadable:{type(exc).__name__}"
        rows.append(
            {
                "seed": seeding.digest(seeding.seed_refresh_token(args.tag, n)),
                "stored": stored,
                "status": row.status,
                # A lease whose time is up holds nothing (the next refresh takes
                # it); one a killed worker left on a row already fresh stays
                # in its columns until then.
                "leased": row.refresh_lease is not None
                and (row.refresh_lease_expires_at is None or row.refresh_lease_expires_at > now),
                "stale_lease": row.refresh_lease is not None,
                "refreshed": row.last_refreshed_at.timestamp() if row.last_refreshed_at else None,
            }
        )
    _emit({"rows": rows})


# -- the key rotation -------------------------------------------------------------


def seed_rows(args):
    """``count`` credentials of one new user, sealed here under the keyring's
    primary key (bound to their row, as the field binds them) and streamed
    with COPY."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from integrations.conf import app_settings
    from integrations.models import Credential

    start = time.monotonic()
    user, _ = get_user_model().objects.get_or_create(username=seeding.username(args.tag))
    keyring = app_settings.keyring
    field = Credential._meta.get_field("data")
    now = timezone.now()
    columns = "id, owner_id, name, credential_type, plugin, data, hint, created_at, updated_at"
    for first in range(0, args.count, seeding.COPY_CHUNK):
        with transaction.atomic(), connection.cursor() as cursor:
            sql = f"COPY {Credential._meta.db_table} ({columns}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for n in range(first, min(first + seeding.COPY_CHUNK, args.count)):
                    pk, sealed = seeding.sealed_row(keyring, field, n)
                    copy.write_row(
                        (pk, user.pk, seeding.row_name(n), "custom", "", sealed, "", now, now)
                    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Credential._meta.db_table}")
    _emit({"seeded": args.count, "seconds": round(time.monotonic() - start, 3)})


def api_writes(args):
    """Create and update credentials through the REST API of the given hosts, in
    turn, for ``seconds`` or ``writes`` requests: statuses, and what each
    credential must hold afterwards (its possible values, written to ``out``)."""
    import requests

    bases = args.base_url
    session = requests.Session()
    session.headers["Authorization"] = f"Token {os.environ['SCALE_API_TOKEN']}"
    statuses: Counter = Counter()
    expected = seeding.ExpectedWrites()
    deadline = time.monotonic() + args.seconds
    created: list[tuple[str, str]] = []  # (name, id)
    for n in range(args.writes):
        if time.monotonic() >= deadline or _stop.is_set():
            break
        base = bases[n % len(bases)]
        if created and n % 3 == 2:
            name, pk = created[(n * 7) % len(created)]
            value = seeding.api_value(name, n)
            try:
                response = session.patch(
                    f"{base}/api/credentials/{pk}/",
                    json={"data": {"api_key": value}},
                    timeout=30,
                )
                status = response.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            expected.settle(name, value, status, success=200)
        else:
            name = f"{args.prefix}-{n:06d}"
            value = seeding.api_value(name, n)
            try:
                response = session.post(
                    f"{base}/api/credentials/",
                    json={"name": name, "type": "api_key", "data": {"api_key": value}},
                    timeout=30,
                )
                status = response.status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            expected.settle(name, value, status, success=201)
            if status == 201:
                created.append((name, response.json()["id"]))
        statuses[str(status)] += 1
    with open(args.out, "w") as out:
        json.dump(expected.as_json(), out)
    _emit({"statuses": dict(statuses), "requests": sum(statuses.values())})


def rows_state(args):
    """Open every credential of the tag's user: rows, per key version, values
    that do not open or do not hold what was written (seeded, or per ``expected``)."""
    from django.db import connection

    from integrations.conf import app_settings
    from integrations.crypto import CryptoError
    from integrations.crypto.format import read_version
    from integrations.models import Credential

    expected = {}
    if args.expected:
        with open(args.expected) as source:
            expected = json.load(source)
    keyring = app_settings.keyring
    field = Credential._meta.get_field("data")
    versions: Counter = Counter()
    problems: Counter = Counter()
    seen_api = set()
    total = 0
    table = Credential._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, c.name, c.data FROM {table} c JOIN auth_user u ON u.id = c.owner_id "
            "WHERE u.username = %s",
            [seeding.username(args.tag)],
        )
        while batch := cursor.fetchmany(5000):
            for pk, name, sealed in batch:
                total += 1
                try:
                    versions[str(read_version(sealed))] += 1
                    value = json.loads(keyring.decrypt(sealed, field.context_for_pk(pk)))
                except (CryptoError, ValueError) as exc:
                    problems[f"unreadable:{type(exc).__name__}"] += 1
                    continue
                if name in expected:
                    seen_api.add(name)
                    if value.get("api_key") not in expected[name]:
                        problems["api_value_wrong"] += 1
                elif seeding.is_row_name(name):
                    if value != seeding.row_value(seeding.row_number(name)):
                        problems["seed_value_wrong"] += 1
                else:
                    problems["unexpected_row"] += 1
    must_exist = {name for name, values in expected.items() if None not in values}
    problems["api_missing"] += len(must_exist - seen_api)
    _emit(
        {
            "rows": total,
            "versions": dict(versions),
            "problems": {k: v for k, v in problems.items() if v},
            "api_rows": len(seen_api),
        }
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="benchmarks.scale.ops")
    ops = parser.add_subparsers(dest="op", required=True)
    op = ops.add_parser("seed-grants")
    op.add_argument("--tag", required=True)
    op.add_argument("--count", type=int, required=True)
    op.add_argument("--provider-url", required=True)
    op.set_defaults(run=seed_grants)
    op = ops.add_parser("expire-grants")
    op.add_argument("--tag", required=True)
    op.set_defaults(run=expire_grants)
    op = ops.add_parser("ask-tokens")
    op.add_argument("--tag", required=True)
    op.add_argument("--threads", type=int, default=8)
    op.add_argument("--seconds", type=float, default=30)
    op.add_argument("--calls", type=int, default=100_000)
    op.set_defaults(run=ask_tokens)
    op = ops.add_parser("grant-state")
    op.add_argument("--tag", required=True)
    op.set_defaults(run=grant_state)
    op = ops.add_parser("seed-rows")
    op.add_argument("--tag", required=True)
    op.add_argument("--count", type=int, required=True)
    op.set_defaults(run=seed_rows)
    op = ops.add_parser("api-writes")
    op.add_argument("--base-url", action="append", required=True)
    op.add_argument("--prefix", required=True)
    op.add_argument("--seconds", type=float, default=30)
    op.add_argument("--writes", type=int, default=100_000)
    op.add_argument("--out", required=True)
    op.set_defaults(run=api_writes)
    op = ops.add_parser("rows-state")
    op.add_argument("--tag", required=True)
    op.add_argument("--expected")
    op.set_defaults(run=rows_state)
    args = parser.parse_args(argv)
    _stop_on_sigterm()
    if args.op != "api-writes":
        _django()
    args.run(args)


if __name__ == "__main__":
    main()
