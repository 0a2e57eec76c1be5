"""Checks sluice's data-quality report against DuckDB over the same tables.

    quality_tool.py check --dir TABLES --rule NAME=SQL [--rule ...]

TABLES holds bronze/, silver/, dlq/ and quality_report/ from a one-epoch (--batch) run.
For each bronze column (coordinates aside) the report's non-null and null counts, min,
max and mean must equal DuckDB's over bronze (mean to 1e-9 relative), and its distinct
estimate must be within 5% of DuckDB's exact count(DISTINCT). For each rule the report's
violation count must equal DuckDB's count of bronze rows where the SQL is not true.
Prints a JSON report; exits 1 on a mismatch.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["check"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rule", action="append", default=[])
    args = ap.parse_args()
    con = connect()
    bronze = f"delta_scan('{args.dir}/bronze')"
    report = f"delta_scan('{args.dir}/quality_report')"
    con.execute(f"CREATE TABLE b AS SELECT * FROM {bronze}")
    epochs = con.execute(f"SELECT count(DISTINCT epoch) FROM {report}").fetchone()[0]
    failures = []
    if epochs != 1:
        failures.append(f"expected a one-epoch report, got {epochs} epochs")
    cols = con.execute("SELECT column_name, column_type FROM (DESCRIBE b)").fetchall()
    checked = []
    for name, dtype in cols:
        if name in ("source", "partition", "offset"):
            continue
        row = con.execute(
            f"SELECT non_null, nulls, distinct_estimate, min, max, mean FROM {report} WHERE kind = 'column' AND name = ?",
            [name],
        ).fetchone()
        if row is None:
            failures.append(f"column {name}: not in the report")
            continue
        non_null, nulls, distinct, lo, hi, mean = row
        q = f'"{name}"'
        if dtype.startswith("TIMESTAMP"):
            want = con.execute(
                f"SELECT count({q}), count(*) - count({q}), count(DISTINCT {q}), epoch_us(min({q})), epoch_us(max({q})), NULL FROM b"
            ).fetchone()
            got_lo = con.execute("SELECT epoch_us(CAST(? AS TIMESTAMPTZ))", [lo]).fetchone()[0] if lo else None
            got_hi = con.execute("SELECT epoch_us(CAST(? AS TIMESTAMPTZ))", [hi]).fetchone()[0] if hi else None
        elif dtype in ("VARCHAR",):
            want = con.execute(
                f"SELECT count({q}), count(*) - count({q}), count(DISTINCT {q}), min({q}), max({q}), NULL FROM b"
            ).fetchone()
            got_lo, got_hi = lo, hi
        else:
            want = con.execute(
                f"SELECT count({q}), count(*) - count({q}), count(DISTINCT {q}), min({q})::DOUBLE, max({q})::DOUBLE, avg({q})::DOUBLE FROM b"
            ).fetchone()
            got_lo = float(lo) if lo is not None else None
            got_hi = float(hi) if hi is not None else None
        w_non_null, w_nulls, w_distinct, w_lo, w_hi, w_mean = want
        problems = []
        if (non_null, nulls) != (w_non_null, w_nulls):
            problems.append(f"counts {(non_null, nulls)} != {(w_non_null, w_nulls)}")
        if (got_lo, got_hi) != (w_lo, w_hi):
            problems.append(f"min/max {(got_lo, got_hi)} != {(w_lo, w_hi)}")
        if w_mean is not None and (mean is None or abs(mean - w_mean) > 1e-9 * max(1.0, abs(w_mean))):
            problems.append(f"mean {mean} != {w_mean}")
        if w_distinct and abs(distinct - w_distinct) > 0.05 * w_distinct:
            problems.append(f"distinct estimate {distinct} vs exact {w_distinct}")
        if problems:
            failures.append(f"column {name}: " + "; ".join(problems))
        checked.append({"column": name, "non_null": non_null, "nulls": nulls, "distinct_estimate": distinct, "distinct": w_distinct})
    for spec in args.rule:
        name, _, sql = spec.partition("=")
        got = con.execute(
            f"SELECT violations, rows FROM {report} WHERE kind = 'rule' AND name = ?", [name]
        ).fetchone()
        want = con.execute(f"SELECT count(*) FILTER (WHERE ({sql}) IS NOT TRUE), count(*) FROM b").fetchone()
        if got is None or tuple(got) != tuple(want):
            failures.append(f"rule {name}: report {got} != DuckDB (violations, rows) {want}")
        checked.append({"rule": name, "violations": want[0], "rows": want[1]})
    print(json.dumps({"check": "quality-report", "ok": not failures, "checked": checked, "failures": failures}))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
