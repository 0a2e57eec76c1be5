#!/usr/bin/env python3
"""The oracle of the window-assignment test: Flink's window TVFs whose rows no aggregate
follows, each row once per window containing its event time.

  write --dir DIR [--seed N]
      DIR/in/part-NNNNN.jsonl, one file per epoch: events {id, ts, price} whose event
      times wander back and forth (a row is never late for an assignment, which keeps no
      state), some of them on a window's bounds.
  check --dir DIR --out OUT
      Reads the job's tables with DuckDB's Delta extension and compares them with the
      oracle's, which tries every window start near a row's time, by brute force:
        tumbled   id, window_start, window_end, window_time: TUMBLE of 1 minute from 15
                  seconds past the minute
        hopped    id, price, window_start, window_end: HOP of 5 minutes every 2 minutes,
                  rows of price > 50 only (WHERE)
        cumulated id, window_start, window_end: CUMULATE by 1 minute up to 3 minutes
      A window is [start, end); window_time is its end less a millisecond.

Prints one JSON object; exits 0 when the tables match, 1 when they differ.
"""

from __future__ import annotations

import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, lit, table_path  # noqa: E402
from epoch_files import BASE_US, MINUTE, SEC, main, read_rows, ts_text, write_epochs  # noqa: E402

EPOCHS = 20
PER_EPOCH = 25
MS = 1000


def write(args) -> dict:
    rng = random.Random(args.seed)
    t, n, epochs = BASE_US, 0, []
    for _ in range(EPOCHS):
        rows = []
        for _ in range(PER_EPOCH):
            t += rng.randrange(-20 * SEC, 40 * SEC)
            # Some rows exactly on a minute, or a quarter past it.
            at = t - t % MINUTE + rng.choice([0, 15 * SEC]) if rng.random() < 0.1 else t
            rows.append(json.dumps({"id": n, "ts": ts_text(at), "price": rng.randrange(100)}))
            n += 1
        epochs.append(rows)
    write_epochs(args.dir, epochs)
    return {"files": EPOCHS, "rows": n}


def windows(t: int, size: int, slide: int, offset: int = 0):
    """Every [start, start + size) containing t, with start = offset + k * slide."""
    first = (t - size - offset) // slide * slide + offset
    return [(s, s + size) for s in range(first, t + 1, slide) if s <= t < s + size]


def cumulating(t: int, step: int, size: int):
    """Every [start, start + k * step) containing t, with start a multiple of size."""
    start = t // size * size
    return [(start, start + k * step) for k in range(1, size // step + 1)
            if t < start + k * step]


def oracle(rows):
    tumbled, hopped, cumulated = [], [], []
    for r in rows:
        for s, e in windows(r["t"], MINUTE, MINUTE, 15 * SEC):
            tumbled.append((r["id"], s, e, e - MS))
        if r["price"] > 50:
            for s, e in windows(r["t"], 5 * MINUTE, 2 * MINUTE):
                hopped.append((r["id"], r["price"], s, e))
        for s, e in cumulating(r["t"], MINUTE, 3 * MINUTE):
            cumulated.append((r["id"], s, e))
    return sorted(tumbled), sorted(hopped), sorted(cumulated)


def check(args) -> dict:
    rows = read_rows(args.dir)
    want = dict(zip(("tumbled", "hopped", "cumulated"), oracle(rows)))
    con = connect()
    columns = {
        "tumbled": "id, epoch_us(window_start), epoch_us(window_end), epoch_us(window_time)",
        "hopped": "id, price, epoch_us(window_start), epoch_us(window_end)",
        "cumulated": "id, epoch_us(window_start), epoch_us(window_end)",
    }
    result, problems = {}, []
    for table, wanted in want.items():
        have = sorted(con.execute(
            f"SELECT {columns[table]} FROM delta_scan({lit(table_path(args.out, table))})"
        ).fetchall())
        result[table] = {"rows_expected": len(wanted), "rows": len(have)}
        if have != wanted:
            result[table].update(missing=[r for r in wanted if r not in have][:5],
                                 unexpected=[r for r in have if r not in wanted][:5])
            problems.append(f"{table} differs from the oracle")
    if len(want["hopped"]) < 2 * len([r for r in rows if r["price"] > 50]):
        problems.append("hopping windows gave fewer than two windows per row")
    result.update(ok=not problems, problems=problems)
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], write, check))
