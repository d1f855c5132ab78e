"""What every benchmark section shares: the result types, the timer, the table.

A section is a function ``section(quick) -> Section``. Each of its rows compares
a measurement of the sealed code with a baseline measured in the same run, so the
ratio holds on a noisy machine even when the absolute times do not.
"""

import gc
import time
from dataclasses import dataclass, field

_SCALE = {"µs": 1e6, "ms": 1e3}


@dataclass(frozen=True)
class Row:
    """One comparison. ``value`` and ``baseline`` are seconds per unit of work."""

    name: str
    value: float
    baseline: float
    unit: str  # how to print the times: "µs" or "ms"
    goal: float | None = None  # the highest acceptable ratio, if there is one

    @property
    def ratio(self):
        return self.value / self.baseline

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


def compare(candidate, baseline, *, repeats, before=None):
    """Best (minimum) seconds per call of ``candidate`` and of ``baseline``.

    Both run once untimed to warm up, then ``repeats`` times each, alternating
    and swapping which goes first every round, so that drift in the machine's
    speed (other processes, frequency scaling) lands on both sides alike.
    ``before`` runs untimed before every call, e.g. to empty a table. Garbage
    collection stays on because the code under test pays for it in real use;
    collecting before each sample keeps one sample's garbage out of the next.
    """
    pair = (candidate, baseline)
    best = [float("inf"), float("inf")]
    for round_ in range(repeats + 1):
        order = (0, 1) if round_ % 2 else (1, 0)
        for index in order:
            if before is not None:
                before()
            gc.collect()
            start = time.perf_counter()
            pair[index]()
            elapsed = time.perf_counter() - start
            if round_:  # round 0 is the warm-up
                best[index] = min(best[index], elapsed)
    return best[0], best[1]


def _time(seconds, unit):
    return f"{seconds * _SCALE[unit]:,.2f} {unit}"


def format_section(section):
    """The section as lines of a fixed-width table."""
    headers = ("measurement", "sealed", "baseline", "ratio", "goal", "")
    cells = [
        (
            row.name,
            _time(row.value, row.unit),
            _time(row.baseline, row.unit),
            f"{row.ratio:.2f}x",
            f"<= {row.goal:.1f}x" if row.goal is not None else "",
            row.status,
        )
        for row in section.rows
    ]
    widths = [max(len(line[i]) for line in [headers, *cells]) for i in range(len(headers))]

    def line(values):
        # Name left-aligned, figures right-aligned, status left-aligned.
        parts = [values[0].ljust(widths[0])]
        parts += [v.rjust(w) for v, w in zip(values[1:5], widths[1:5], strict=True)]
        parts.append(values[5])
        return "  " + "  ".join(parts).rstrip()

    lines = [f"== {section.title}"]
    lines += [f"   {note}" for note in section.notes]
    lines.append(line(headers))
    lines += [line(values) for values in cells]
    return lines
