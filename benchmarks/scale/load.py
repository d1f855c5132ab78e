"""An HTTP load generator for the API: ``clients`` concurrent clients (a thread
and one keep-alive connection each, httpx), spread round-robin over the app
hosts, each an API user of its own (a knox token), running a read/write mix
as fast as they are answered (a closed loop) until the time or the request
budget is spent. Every request is recorded: (start time, host, operation,
status, latency, Retry-After present).

The mix, per client: list and retrieve its integrations, list the providers,
list and retrieve its credentials, create credentials and update or delete
the ones it created. ``credentials/`` is rate limited per user
(``integrations_credentials``), so some 429 are the design at work.
"""

import random
import secrets
import threading
import time
from dataclasses import dataclass, field

import httpx

# (operation, weight): mostly reads, as an integration dashboard or sync job does.
MIX = (
    ("list_integrations", 25),
    ("get_integration", 20),
    ("list_providers", 10),
    ("list_credentials", 15),
    ("get_credential", 10),
    ("create_credential", 10),
    ("update_credential", 5),
    ("delete_credential", 5),
)
CONNECTION_ERROR = 0  # the status recorded when no answer came (refused, reset, timeout)


@dataclass
class Record:
    t: float  # seconds since the load started, at the request's start
    host: int  # index into base_urls
    op: str
    status: int
    latency: float  # seconds
    retry_after: bool


@dataclass
class LoadResult:
    base_urls: list
    clients: int
    seconds: float  # wall time the load ran
    records: list = field(default_factory=list)
    cpu_seconds: float = 0.0  # the load generator's own CPU (this process)
    probes: tuple | None = None  # probe() at the start and at the end


class Client(threading.Thread):
    def __init__(self, index, base_url, host, token, keys_provider, *, t0, end, budget, results):
        super().__init__(daemon=True, name=f"load-client-{index}")
        self.index = index
        self.host = host
        self.keys_provider = keys_provider
        self.t0, self.end, self.budget = t0, end, budget
        self.records = results
        self.rng = random.Random(index)  # noqa: S311 (a reproducible mix, not a secret)
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Token {token}"},
            timeout=httpx.Timeout(30.0, connect=10.0),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self.integrations = []
        self.credentials = []  # ids of credentials this client created
        self.seeded_credentials = []
        self.created = 0

    def call(self, op, method, path, **kw):
        started = time.monotonic()
        try:
            response = self.http.request(method, path, **kw)
            status, retry_after = response.status_code, "retry-after" in response.headers
        except httpx.HTTPError:
            response, status, retry_after = None, CONNECTION_ERROR, False
        self.records.append(
            Record(
                started - self.t0,
                self.host,
                op,
                status,
                time.monotonic() - started,
                retry_after,
            )
        )
        return response if status and status < 300 else None

    def ids(self, response):
        try:
            return [item["id"] for item in response.json()["results"]]
        except (ValueError, KeyError, TypeError):
            return []

    def step(self):
        ops, weights = zip(*MIX, strict=True)
        op = self.rng.choices(ops, weights)[0]
        if op == "list_integrations" or (op == "get_integration" and not self.integrations):
            response = self.call("list_integrations", "GET", "/api/integrations/")
            if response is not None:
                self.integrations = self.ids(response)
        elif op == "get_integration":
            self.call(op, "GET", f"/api/integrations/{self.rng.choice(self.integrations)}/")
        elif op == "list_providers":
            self.call(op, "GET", "/api/providers/")
        elif op == "list_credentials" or (op == "get_credential" and not self.seeded_credentials):
            response = self.call("list_credentials", "GET", "/api/credentials/")
            if response is not None:
                self.seeded_credentials = self.ids(response)
        elif op == "get_credential":
            self.call(op, "GET", f"/api/credentials/{self.rng.choice(self.seeded_credentials)}/")
        elif op == "create_credential" or not self.credentials:
            self.created += 1
            response = self.call(
                "create_credential",
                "POST",
                "/api/credentials/",
                json={
                    "name": f"load-{self.index}-{self.created}-{secrets.token_hex(3)}",
                    "type": "api_key",
                    "provider": self.keys_provider,
                    "data": {"api_key": secrets.token_urlsafe(24)},
                },
            )
            if response is not None:
                self.credentials.append(response.json()["id"])
        elif op == "update_credential":
            self.call(
                op,
                "PATCH",
                f"/api/credentials/{self.rng.choice(self.credentials)}/",
                json={"data": {"api_key": secrets.token_urlsafe(24)}},
            )
        else:  # delete_credential
            credential = self.credentials.pop(self.rng.randrange(len(self.credentials)))
            self.call(op, "DELETE", f"/api/credentials/{credential}/")

    def run(self):
        try:
            for _ in range(self.budget):
                if time.monotonic() >= self.end:
                    break
                self.step()
        finally:
            self.http.close()


def run_load(base_urls, tokens, clients, seconds, *, keys_provider, max_requests=None, probe=None):
    """Run the mix from ``clients`` clients for ``seconds`` (and at most
    ``max_requests`` requests per client); client ``i`` talks to
    ``base_urls[i % len]`` with ``tokens[i % len]``. ``probe()`` (e.g. CPU
    counters) is called right as the load starts and right after it ends:
    ``LoadResult.probes``."""
    if not tokens:
        raise ValueError("no API tokens")
    budget = max_requests or int(seconds * 1000)  # a bound even on a very fast host
    results = []  # list.append is atomic: the clients share it
    # The clients (and their connection pools, slow to make) exist before the clock starts.
    threads = [
        Client(
            i,
            base_urls[i % len(base_urls)],
            i % len(base_urls),
            tokens[i % len(tokens)],
            keys_provider,
            t0=0.0,
            end=0.0,
            budget=budget,
            results=results,
        )
        for i in range(clients)
    ]
    first = probe() if probe else None
    t0 = time.monotonic()
    cpu0 = time.process_time()
    end = t0 + seconds
    for thread in threads:
        thread.t0, thread.end = t0, end
        thread.start()
    for thread in threads:
        # A request in flight at the end finishes within its timeout (30 s).
        thread.join(timeout=max(1.0, end - time.monotonic()) + 45)
    probes = (first, probe()) if probe else None
    return LoadResult(
        probes=probes,
        base_urls=list(base_urls),
        clients=clients,
        seconds=time.monotonic() - t0,
        records=list(results),
        cpu_seconds=time.process_time() - cpu0,
    )


def percentile(values, fraction):
    """The ``fraction`` quantile (nearest rank) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def per_second(records, seconds, t_offset=0.0):
    """(second, answers completed in it, p99 latency ms of those) for each whole
    second of the step's ``seconds`` (answers after its end are left out)."""
    buckets = {}
    for record in records:
        done = record.t + record.latency
        if record.status != CONNECTION_ERROR and done < seconds:
            buckets.setdefault(int(done), []).append(record.latency)
    return [
        (t_offset + second + 0.5, len(latencies), percentile(latencies, 0.99) * 1000)
        for second, latencies in sorted(buckets.items())
    ]
