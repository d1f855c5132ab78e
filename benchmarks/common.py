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


@dataclass
class Section:
    title: str
    rows: list[Row]
    notes: list[str] = field(default_factory=list)


def compare(candidate, baseline, *, repeats, before=None, others=()):
    """Median seconds per call of ``candidate`` and of ``baseline``, and their ratios.

    Both run once untimed to warm up, then ``repeats`` times each, alternating
    and rotating which goes first every round, so that drift in the machine's
    speed (other processes, frequency scaling) lands on every side alike.
    ``before`` runs untimed before every call, e.g. to empty a table. Garbage
    collection stays on because the code under test pays for it in real use;
    collecting before each sample keeps one sample's garbage out of the next.

    Returns ``(Timing, Timing, Timing)``: candidate, baseline, and the
    per-round ratios candidate / baseline. With ``others`` (more candidates,
    timed in the same rounds), one ``(Timing, Timing)`` of each other and its
    per-round ratios to the baseline follows.
    """
    calls = (candidate, baseline, *others)
    samples: list[list[float]] = [[] for _ in calls]
    for round_ in range(repeats + 1):
        shift = round_ % len(calls)
        for index in [*range(shift, len(calls)), *range(shift)]:
            if before is not None:
                before()
            gc.collect()
            start = time.perf_counter()
            calls[index]()
            elapsed = time.perf_counter() - start
            if round_:  # round 0 is the warm-up
                samples[index].append(elapsed)

    def ratios(index):
        return Timing.of([c / b for c, b in zip(samples[index], samples[1], strict=True)])

    result = (Timing.of(samples[0]), Timing.of(samples[1]), ratios(0))
    return (*result, *((Timing.of(samples[i]), ratios(i)) for i in range(2, len(calls))))


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
    lines.append(line(headers))
    lines += [line(values) for values in cells]
    return lines
