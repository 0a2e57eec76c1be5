#!/usr/bin/env python3
"""The oracle of the percentile test: Spark's percentile_approx over one-minute windows,
estimated by a sketch within 1 % of the value.

  write --dir DIR [--seed N]
      DIR/in/part-NNNNN.jsonl, one file per epoch: events {id, ts, sensor, latency_ms,
      bytes} with log-normal latencies (doubles, some negative offsets, some null) and
      integer byte counts. Event times only grow, so no row is late.
  check --dir DIR --out OUT
      Reads the job's table with DuckDB's Delta extension and compares each window's
      percentiles with the exact ones, the values of rank floor(q (n - 1)) among the
      window's non-null values, sorted:
        pcts  window_start, sensor, n, p50, p99 (of latency_ms, doubles: within 1 % of
              the exact value), b90 (of bytes, an integer: within 1 % plus the rounding
              to an integer), both (percentile_approx(latency_ms, array(0.5, 0.99)):
              exactly [p50, p99])
        five  window_start, sensor, n, total: Flink's cascading windows, 5-minute
              windows over the rows of 1-minute ones (by their window_time): each must
              equal the count and sum of bytes of the 5-minute window computed directly
      Every window of the oracle must be in the table and no other.

Prints one JSON object; exits 0 when the table matches, 1 when it differs.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, lit, table_path  # noqa: E402
from epoch_files import BASE_US, MINUTE, SEC, main, read_rows, ts_text, write_epochs  # noqa: E402

EPOCHS = 30
PER_EPOCH = 60
SENSORS = ["a", "b", "c"]


def write(args) -> dict:
    rng = random.Random(args.seed)
    t, n, epochs = BASE_US, 0, []
    for _ in range(EPOCHS):
        rows = []
        for _ in range(PER_EPOCH):
            t += rng.randrange(1, 3 * SEC)
            latency = rng.lognormvariate(3, 1.2)
            if rng.random() < 0.1:
                latency = -latency / 10  # a clock skew: negative
            row = {"id": n, "ts": ts_text(t), "sensor": rng.choice(SENSORS),
                   "latency_ms": None if rng.random() < 0.05 else round(latency, 6),
                   "bytes": rng.randrange(0, 1_000_000)}
            rows.append(json.dumps(row))
            n += 1
        epochs.append(rows)
    write_epochs(args.dir, epochs)
    return {"files": EPOCHS, "rows": n}


def exact(values: list, q: float):
    values = sorted(values)
    return values[math.floor(q * (len(values) - 1))] if values else None


def check(args) -> dict:
    rows = read_rows(args.dir)
    windows = {}
    for r in rows:
        start = r["t"] // MINUTE * MINUTE
        windows.setdefault((start, r["sensor"]), []).append(r)
    want = {k: (len(v),
                exact([r["latency_ms"] for r in v if r["latency_ms"] is not None], 0.5),
                exact([r["latency_ms"] for r in v if r["latency_ms"] is not None], 0.99),
                exact([r["bytes"] for r in v], 0.9))
            for k, v in windows.items()}
    con = connect()
    rows_got = con.execute(
        "SELECT epoch_us(window_start), sensor, n, p50, p99, b90, \"both\" "
        f"FROM delta_scan({lit(table_path(args.out, 'pcts'))})").fetchall()
    have = {(s, sensor): (n, p50, p99, b90) for s, sensor, n, p50, p99, b90, _ in rows_got}
    problems, worst = [], 0.0
    # percentile_approx(c, array(0.5, 0.99)): the same two estimates, in an array.
    arrays = [(r[:2], r[6], [r[3], r[4]]) for r in rows_got if r[6] != [r[3], r[4]]]
    if arrays:
        problems.append(f"arrays of percentiles differ from the percentiles: {arrays[:3]}")
    if set(have) != set(want):
        problems.append(f"windows differ: {len(have)} in the table, {len(want)} wanted")
    for key in sorted(set(have) & set(want)):
        (n, *got), (n_want, *exp) = have[key], want[key]
        if n != n_want:
            problems.append(f"{key}: {n} rows, {n_want} wanted")
        for name, g, e, slack in zip(("p50", "p99", "b90"), got, exp, (1e-9, 1e-9, 0.5)):
            if g is None or e is None:
                if g != e:
                    problems.append(f"{key} {name}: {g}, wanted {e}")
                continue
            error = abs(g - e) - slack
            worst = max(worst, error / abs(e) if e else error)
            if error > 0.01 * abs(e):
                problems.append(f"{key} {name}: {g}, more than 1 % from {e}")
    five = {}
    for r in rows:
        key = (r["t"] // (5 * MINUTE) * 5 * MINUTE, r["sensor"])
        n, total = five.get(key, (0, 0))
        five[key] = (n + 1, total + r["bytes"])
    cascaded = {(s, sensor): (n, total) for s, sensor, n, total in con.execute(
        "SELECT epoch_us(window_start), sensor, n, total "
        f"FROM delta_scan({lit(table_path(args.out, 'five'))})").fetchall()}
    if cascaded != five:
        wrong = [k for k in sorted(set(five) | set(cascaded)) if five.get(k) != cascaded.get(k)]
        problems.append(f"five-minute windows differ at {wrong[:5]}")
    negatives = sum(1 for r in rows if (r["latency_ms"] or 0) < 0)
    if not negatives:
        problems.append("the input had no negative latency")
    return {"windows": len(have), "windows_expected": len(want), "five": len(cascaded),
            "worst_relative_error": worst, "ok": not problems, "problems": problems[:10]}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], write, check))
