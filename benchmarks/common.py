"""What every benchmark section shares: the result types, the timer, the table.

A section is a function ``section(quick) -> Section``. Each of its rows compares
a measurement of the sealed code with a baseline measured in the same run, so the
ratio holds on a noisy machine even when the absolute times do not.

Figures are medians over repeats (never the best sample), after an untimed
warm-up. The ratio is the median of the per-round ratios (each round times both
sides back to back), and the row shows the spread of those ratios (the
interquartile range, "IQR") so a reader can tell a real difference from the
machine's noise.
"""

import gc
import statistics
import time
from dataclasses import dataclass, field

_SCALE = {"µs": 1e6, "ms": 1e3, "MB": 1}  # MB: the figures are megabytes already


@dataclass(frozen=True)
class Timing:
    """Seconds per unit of work over the timed rounds: the median and the IQR."""

    median: float
    q1: float
    q3: float

    @classmethod
    def of(cls, samples):
        samples = sorted(samples)
        if len(samples) < 2:
            return cls(samples[0], samples[0], samples[0])
        q1, _q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
        return cls(statistics.median(samples), q1, q3)

    def __truediv__(self, count):
        return Timing(self.median / count, self.q1 / count, self.q3 / count)


def _median(value):
    return value.median if isinstance(value, Timing) else value


@dataclass(frozen=True)
class Row:
    """One comparison. ``value`` and ``baseline`` are seconds per unit of work
    (a :class:`Timing` or a plain number)."""

    name: str
    value: "Timing | float"
    baseline: "Timing | float"
    unit: str  # how to print the times: "µs" or "ms"
    goal: float | None = None  # the highest acceptable ratio, if there is one
    # The median of the per-round ratios and their IQR, when the rounds were paired.
    ratios: Timing | None = None
    # Sealed values per unit of work: prints the sealed side's extra µs per value.
    values_per_unit: int | None = None
    floor: float | None = None  # the ratio of the minimal envelope, measured this run

    @property
    def ratio(self):
        if self.ratios is not None:
            return self.ratios.median
        return _median(self.value) / _median(self.baseline)

    @property
    def status(self):
        if self.goal is None:
            return ""
        return "ok" if self.ratio <= self.goal else "OVER GOAL"


@dataclass(frozen=True)
class Grid:
    """A table of a section's own shape, e.g. operations x variants, for what
    one ``Row`` per comparison would spread over too many lines to read across."""

    title: str
    headers: tuple[str, ...]
    cells: list[tuple[str, ...]]


@dataclass
class Section:
    title: str
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)  # printed after the rows


@dataclass(frozen=True)
class Samples:
    """One call's timed samples (seconds), on two clocks read together: the wall
    clock and this process's CPU time. CPU time leaves out waiting (for the
    database server, for other processes holding the cores), so on a shared
    machine its ratios are steadier; wall time is what a caller waits."""

    wall: list[float]
    cpu: list[float]

    def timing(self, clock="wall"):
        return Timing.of(getattr(self, clock))

    def ratios_to(self, baseline, clock="wall"):
        """The per-round ratios self / baseline on ``clock`` (paired by round)."""
        mine, theirs = getattr(self, clock), getattr(baseline, clock)
        return Timing.of([c / b for c, b in zip(mine, theirs, strict=True)])


def measure(calls, *, repeats, before=None):
    """Time every call of ``calls`` in the same rounds; one :class:`Samples` each.

    Every call runs once untimed to warm up, then ``repeats`` times, one call of
    each per round, rotating which goes first every round, so that drift in the
    machine's speed (other processes, frequency scaling) lands on every call
    alike. ``before`` runs untimed before every call, e.g. to empty a table.
    Garbage collection stays on because the code under test pays for it in real
    use; collecting before each sample keeps one sample's garbage out of the next.
    """
    samples = [Samples([], []) for _ in calls]
    for round_ in range(repeats + 1):
        shift = round_ % len(calls)
        for index in [*range(shift, len(calls)), *range(shift)]:
            if before is not None:
                before()
            gc.collect()
            cpu_start = time.process_time()
            start = time.perf_counter()
            calls[index]()
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
            if round_:  # round 0 is the warm-up
                samples[index].wall.append(elapsed)
                samples[index].cpu.append(cpu)
    return samples


def compare(candidate, baseline, *, repeats, before=None, others=()):
    """Median seconds per call of ``candidate`` and of ``baseline``, and their ratios.

    Timed by :func:`measure` (same rounds, rotated, warmed up), on the wall clock.

    Returns ``(Timing, Timing, Timing)``: candidate, baseline, and the
    per-round ratios candidate / baseline. With ``others`` (more candidates,
    timed in the same rounds), one ``(Timing, Timing)`` of each other and its
    per-round ratios to the baseline follows.
    """
    first, base, *rest = measure((candidate, baseline, *others), repeats=repeats, before=before)
    result = (first.timing(), base.timing(), first.ratios_to(base))
    return (*result, *((other.timing(), other.ratios_to(base)) for other in rest))


def _time(seconds, unit):
    return f"{_median(seconds) * _SCALE[unit]:,.2f} {unit}"


def _noise(row):
    """The spread of the row's ratios (or of its two timings) as ± percent."""
    if row.ratios is not None and row.ratios.median:
        spread = (row.ratios.q3 - row.ratios.q1) / row.ratios.median
        return f"IQR ±{spread * 50:.0f}%"
    parts = []
    for timing in (row.value, row.baseline):
        if isinstance(timing, Timing) and timing.median:
            parts.append(f"{(timing.q3 - timing.q1) / timing.median * 50:.0f}")
    return f"IQR ±{'/'.join(parts)}%" if parts else ""


def _per_value(row):
    """The sealed side's extra µs per sealed value, e.g. ``+3.10 µs/value``."""
    if not row.values_per_unit:
        return ""
    extra = (_median(row.value) - _median(row.baseline)) / row.values_per_unit
    return f"{extra * 1e6:+.2f} µs/value"


def format_section(section):
    """The section as lines of a fixed-width table."""
    headers = ("measurement", "sealed", "baseline", "ratio", "noise", "per value", "floor", "goal")
    cells = [
        (
            row.name,
            _time(row.value, row.unit),
            _time(row.baseline, row.unit),
            f"{row.ratio:.2f}x",
            _noise(row),
            _per_value(row),
            f"{row.floor:.2f}x" if row.floor is not None else "",
            f"<= {row.goal:.1f}x" if row.goal is not None else "",
            row.status,
        )
        for row in section.rows
    ]
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(headers))]

    def line(values):
        # Name left-aligned, figures right-aligned, status left-aligned.
        parts = [values[0].ljust(widths[0])]
        parts += [v.rjust(w) for v, w in zip(values[1:8], widths[1:8], strict=True)]
        if len(values) > 8:
            parts.append(values[8])
        return "  " + "  ".join(parts).rstrip()

    lines = [f"== {section.title}"]
    lines += [f"   {note}" for note in section.notes]
    if cells:
        lines.append(line(headers))
        lines += [line(values) for values in cells]
    for grid in section.grids:
        lines += format_grid(grid)
    return lines


def format_grid(grid):
    """A :class:`Grid` as lines: its title, then the first column left-aligned
    and the others right-aligned, except the last, left-aligned (a verdict)."""
    widths = [
        max(len(line[i]) for line in [grid.headers, *grid.cells]) for i in range(len(grid.headers))
    ]

    def line(values):
        parts = [values[0].ljust(widths[0])]
        parts += [v.rjust(w) for v, w in zip(values[1:-1], widths[1:-1], strict=True)]
        parts.append(values[-1])
        return "  " + "  ".join(parts).rstrip()

    return [f"  {grid.title}", line(grid.headers), *(line(values) for values in grid.cells)]
