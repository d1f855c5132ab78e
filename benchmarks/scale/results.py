"""What a scenario of the scale bed hands to the report: a table of figures,
time series for the plot, and the checks that say whether anything was lost.

Every scenario module exposes ``run(bed, size) -> ScenarioResult``; ``size``
is a :class:`Size` (the short CI run or the full one), so the same code runs
in a few minutes in CI and at full scale by hand.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Size:
    """How big a run is. ``short``: what ``.ci/run`` can afford (minutes);
    ``full``: the figures the issue asks for."""

    name: str
    clients: tuple[int, ...]  # concurrent API clients per load step
    load_seconds: float  # how long each load step runs
    grants: int  # grants expiring at once in the refresh storm
    rows: int  # sealed rows rotate_keys re-seals
    # App host counts the API scenario measures (the short run skips 2 hosts).
    host_counts: tuple[int, ...] = (1, 2, 3)


SHORT = Size("short", clients=(20, 50), load_seconds=5, grants=300, rows=20_000, host_counts=(1, 3))
FULL = Size("full", clients=(50, 100, 200), load_seconds=20, grants=10_000, rows=1_000_000)


@dataclass
class Check:
    """One thing that must hold (``ok``), and the figure that shows it."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class ScenarioResult:
    """A scenario's outcome. ``table``: rows of the report's table (same keys
    in every row, in order); ``series``: name -> [(seconds since start, value)],
    plotted over time (a name holding "latency" or ending "(ms)" goes on the
    latency panel, any other on the throughput panel: report.py); ``notes``:
    sentences for the report."""

    key: str  # "api", "storm", "rotation", "kill"
    title: str
    table: list[dict] = field(default_factory=list)
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self):
        return all(check.ok for check in self.checks)
