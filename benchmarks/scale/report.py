"""The scale bed's report: Markdown (per scenario a table, its checks with ✓/✗,
its notes; the machine's facts) and one PNG plotting every scenario's series
over time, written into an output folder (``scale-report/`` by default, kept
out of git).

Plot convention: a series whose name holds "latency" or ends in "(ms)" goes on
the scenario's latency panel (right), every other series on its throughput
panel (left); x is seconds since the scenario started.
"""

import os
import platform
import shutil
import subprocess
from pathlib import Path

PLOT = "scale.png"


def _version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine_facts():
    """What the figures depend on: cores, CPU, kernel, the servers' versions."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from tests.faults.servers import _pg_bin

    from .bed import PGBOUNCER

    try:
        postgres = _version([_pg_bin("postgres"), "--version"])
    except RuntimeError:
        postgres = "?"
    return {
        "cores": os.cpu_count(),
        "CPU": model,
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "PostgreSQL": postgres,
        "PgBouncer": _version([PGBOUNCER, "--version"]),
        "Redis": _version([shutil.which("redis-server") or "redis-server", "--version"]),
    }


def is_latency(name):
    return "latency" in name.lower() or name.endswith("(ms)")


def _cell(value):
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def table_markdown(rows):
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_cell(row.get(k, "")) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results, facts, *, plot=PLOT):
    ok = all(result.ok for result in results)
    lines = [
        "# Scale bed report",
        "",
        f"**{'All checks passed' if ok else 'Some checks FAILED'}** "
        f"({sum(len(r.checks) for r in results)} checks, {len(results)} scenarios).",
        "",
        "## The machine and the bed",
        "",
        *[f"* {key}: {value}" for key, value in facts.items()],
        "",
        "Figures are indicative: the hosts are namespaces of one machine, which other "
        "work may share (see the load averages).",
        "",
    ]
    for result in results:
        lines += [f"## {result.title} (`{result.key}`) {'✓' if result.ok else '✗'}", ""]
        if result.table:
            lines += [table_markdown(result.table), ""]
        if result.checks:
            lines += [
                f"* {'✓' if check.ok else '✗'} {check.name}"
                + (f": {check.detail}" if check.detail else "")
                for check in result.checks
            ]
            lines.append("")
        lines += [*result.notes, ""] if result.notes else []
    if any(result.series for result in results):
        lines += [f"![throughput and latency over time]({plot})", ""]
    return "\n".join(lines)


def plot_png(results, path):
    """One row per scenario with series: throughput-like left, latency right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plotted = [r for r in results if r.series]
    if not plotted:
        return None
    fig, axes = plt.subplots(
        len(plotted), 2, figsize=(12, 3.2 * len(plotted)), squeeze=False, constrained_layout=True
    )
    for row, result in zip(axes, plotted, strict=True):
        left, right = row
        for name, points in result.series.items():
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            (right if is_latency(name) else left).plot(xs, ys, label=name, linewidth=1.2)
        left.set_title(f"{result.key}: throughput", fontsize=10)
        right.set_title(f"{result.key}: latency", fontsize=10)
        if not right.lines:  # a scenario that records no latency: no empty panel
            right.set_visible(False)
        for axis in row:
            axis.set_xlabel("seconds")
            axis.grid(alpha=0.3)
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize=7)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write(results, facts, out_dir="scale-report"):
    """Write report.md and the plot into ``out_dir``; returns the Markdown."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_png(results, out / PLOT)
    text = markdown(results, facts)
    (out / "report.md").write_text(text, encoding="utf-8")
    return text
