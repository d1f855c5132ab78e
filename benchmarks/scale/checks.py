"""The storm's and the rotation's checks, computed from what the provider and
the database say (pure functions: unit-tested without the bed).

Storm: the provider's ledger (``tests/reuse_detection.RevokeOnReuse.ledger``:
per grant, keyed by the digest of its seed refresh token, ``[refreshes,
digest of the newest refresh token, revoked]``) against the database's state
(``ops grant-state``: per row, the digest of its seed and of its stored
refresh token, its status and lease).
"""

from collections import Counter

from .results import Check


def storm_checks(ledger, rows, *, seconds, bound):
    """Exactly one refresh per grant, none lost, none left leased, within ``bound``."""
    grants = ledger.get("grants", {})
    refreshes = Counter()
    lost = revoked = 0
    for row in rows:
        entry = grants.get(row["seed"])
        count = entry[0] if entry else 0
        refreshes[count] += 1
        if entry is None or row["stored"] != entry[1]:
            lost += 1
        if entry is not None and entry[2]:
            revoked += 1
    leased = sum(1 for row in rows if row["leased"])
    statuses = Counter(row["status"] for row in rows)
    not_active = sum(n for status, n in statuses.items() if status != "active")
    spread = ", ".join(f"{k} refresh(es): {v}" for k, v in sorted(refreshes.items()))
    return [
        Check(
            "one provider refresh per grant",
            bool(rows) and set(refreshes) == {1},
            f"{len(rows)} grants; {spread}",
        ),
        Check(
            "none lost",
            lost == 0 and revoked == 0 and ledger.get("reused", 0) == 0 and not_active == 0,
            f"stored refresh token not the provider's newest: {lost}; grants revoked by reuse "
            f"detection: {revoked} (reuses: {ledger.get('reused', 0)}); statuses: "
            + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
        ),
        Check(
            "none left leased",
            leased == 0,
            f"rows under a lease still running: {leased}; expired leases left in the "
            f"columns (a killed worker's, on a row already fresh): "
            f"{sum(1 for row in rows if row.get('stale_lease') and not row['leased'])}",
        ),
        Check("done within the bound", seconds <= bound, f"{seconds:.1f} s (bound {bound:.0f} s)"),
    ]


def completed_series(times, start, *, buckets=40):
    """``[(seconds since start, refreshes completed by then)]`` from each row's
    completion time (epoch seconds; None: never), at most ``buckets`` points."""
    done = sorted(t - start for t in times if t is not None)
    if not done:
        return [(0.0, 0.0)]
    end = max(done[-1], 1e-3)
    series, i = [(0.0, 0.0)], 0
    for b in range(1, buckets + 1):
        edge = end * b / buckets
        while i < len(done) and done[i] <= edge + 1e-9:
            i += 1
        series.append((round(edge, 3), float(i)))
    return series


def refresh_rate(times, start):
    """Refreshes per second from ``start`` to the last completion."""
    done = [t - start for t in times if t is not None]
    if not done:
        return 0.0
    return len(done) / max(max(done), 1e-3)


def rotation_checks(state, *, expected_rows, primary, label):
    """Every row opens and holds its value, none missing or extra, all under ``primary``."""
    versions = state.get("versions", {})
    old = sum(n for version, n in versions.items() if int(version) != primary)
    problems = state.get("problems", {})
    low, high = expected_rows if isinstance(expected_rows, tuple) else (expected_rows,) * 2
    rows = state.get("rows", -1)
    return [
        Check(
            f"{label}: nothing lost",
            low <= rows <= high and not problems,
            f"{rows} rows (expected {low}"
            + (f"-{high}" if high != low else "")
            + "); problems: "
            + (", ".join(f"{k} {v}" for k, v in sorted(problems.items())) or "none"),
        ),
        Check(
            f"{label}: nothing under an old key",
            old == 0,
            "per key version: " + ", ".join(f"v{k} {v}" for k, v in sorted(versions.items())),
        ),
    ]


def expected_api_rows(expected):
    """Rows the API writes must have left (names whose create certainly happened),
    and the most there may be."""
    certain = sum(1 for values in expected.values() if None not in values)
    return certain, len(expected)
