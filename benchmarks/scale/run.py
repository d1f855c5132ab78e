"""Run the scale bed's scenarios and print the report (``make scale-test``;
``python -m benchmarks.scale --size short``).

Each scenario gets a fresh bed (benchmarks/scale/bed.py), so one's leftovers
never skew the next; a scenario module may ask for its bed's options with a
``BED_OPTIONS`` dict (e.g. ``{"hosts": 3}``). A scenario whose module is
missing is skipped with a line saying so; one that raises is a failed check
(the bed is torn down all the same). The whole run has a deadline
(``--deadline-minutes``). Exit status 1 when any check failed.
"""

import argparse
import importlib
import os
import signal
import sys
import time
import traceback

from .results import FULL, SHORT, Check, ScenarioResult

SCENARIOS = ("api", "storm", "rotation", "kill")


class Deadline(Exception):
    pass


def _load(key):
    try:
        return importlib.import_module(f"benchmarks.scale.scenario_{key}")
    except ModuleNotFoundError as error:
        if error.name != f"benchmarks.scale.scenario_{key}":
            raise
        return None


def run_scenario(key, module, size, bed_options):
    from .bed import Bed

    started = time.monotonic()
    try:
        with Bed(size, **bed_options) as bed:
            result = module.run(bed, size)
            facts = bed.facts()
    except (Exception, Deadline) as error:
        result = ScenarioResult(key, f"{key} (did not finish)")
        result.checks.append(Check("ran to the end", False, f"{type(error).__name__}: {error}"))
        result.notes.append("```\n" + traceback.format_exc()[-3000:] + "\n```")
        facts = {}
    elapsed = time.monotonic() - started
    result.notes.append(
        f"Bed: {', '.join(f'{k} {v}' for k, v in facts.items())}; took {elapsed:.0f} s."
    )
    print(
        f"--- {result.key}: {'ok' if result.ok else 'FAILED'} in {elapsed:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--size", choices=("short", "full"), default="short")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="run the api scenario twice: direct, then through PgBouncer",
    )
    parser.add_argument("--out", default="scale-report", help="the report's folder")
    parser.add_argument("--deadline-minutes", type=float, default=30.0)
    args = parser.parse_args(argv)
    size = SHORT if args.size == "short" else FULL
    wanted = [key.strip() for key in args.scenarios.split(",") if key.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if os.geteuid() != 0:
        print("the scale bed needs root (network namespaces, cgroups)", file=sys.stderr)
        return 2

    def out_of_time(signum, frame):
        raise Deadline(f"the run's deadline ({args.deadline_minutes} min) passed")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(max(1, int(args.deadline_minutes * 60)))
    from .report import machine_facts, write

    started = time.monotonic()
    load_before = os.getloadavg()
    results = []
    for key in wanted:
        module = _load(key)
        if module is None:
            print(f"--- {key}: skipped (benchmarks/scale/scenario_{key}.py is not here)")
            continue
        options = dict(getattr(module, "BED_OPTIONS", {}))
        runs = [(key, options)]
        if key == "api" and args.pgbouncer:
            runs.append(("api", {**options, "pgbouncer": True}))
        for run_key, bed_options in runs:
            print(f"--- {run_key}: running ({size.name})", file=sys.stderr, flush=True)
            result = run_scenario(run_key, module, size, bed_options)
            if bed_options.get("pgbouncer"):
                result.key = f"{result.key}-pgbouncer"
                result.title += " (through PgBouncer, transaction mode)"
            results.append(result)
    signal.alarm(0)
    facts = {
        **machine_facts(),
        "size": size.name,
        "load average (1 min) before / after": (f"{load_before[0]:.1f} / {os.getloadavg()[0]:.1f}"),
        "duration": f"{time.monotonic() - started:.0f} s",
    }
    text = write(results, facts, args.out)
    print(text)
    print(f"(report and plot in {args.out}/)", file=sys.stderr)
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
