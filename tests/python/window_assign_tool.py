#!/usr/bin/env python3
"""The oracle of the window-assignment test: Flink's window TVFs whose rows no aggregate
follows, each row once per window containing its event time, and their rows ranked per
window (Flink's window Top-N and window deduplication).

  write --dir DIR [--seed N]
      DIR/in/part-NNNNN.jsonl, one file per epoch: events {id, ts, price, kind} whose
      event times wander back and forth (a row is never late for an assignment, which
      keeps no state), some of them on a window's bounds, a few minutes behind (late
      for a ranking whose window the watermark has closed), and in epochs 6 and 13 one of
      price 99 10 minutes ahead of the others.
  check --dir DIR --out OUT
      Reads the job's tables with DuckDB's Delta extension and compares them with the
      oracle's, which tries every window start near a row's time, by brute force:
        tumbled   id, window_start, window_end, window_time: TUMBLE of 1 minute from 15
                  seconds past the minute
        hopped    id, price, window_start, window_end: HOP of 5 minutes every 2 minutes,
                  rows of price > 50 only (WHERE)
        cumulated id, window_start, window_end: CUMULATE by 1 minute up to 3 minutes
        top2      id, price, window_start, window_end, rn: of each 1-minute window, the
                  two highest prices (ROW_NUMBER, ties broken by id)
        ranked    id, kind, price, window_start, rk: of each HOP window (2 minutes every
                  minute) and kind, the rows of RANK() <= 2 by price (ties share a rank)
        firsts    id, kind, window_start: of each 1-minute window and kind, the earliest
                  row (window deduplication; ties broken by id)
        gapped    kind, window_start, window_end, n: sessions per kind whose gap each row
                  sets (Spark's session_window(ts, CASE WHEN price >= 80 THEN '3 minutes'
                  ELSE '40 seconds' END)), simulated epoch by epoch: a row's
                  own session [t, t + gap) is late when its end is at or before W(e-1);
                  sessions merge where they overlap and close once W(e) passes their end
        pairs     left_id, right_id, ws: Flink's window join of the 1-minute TUMBLE rows
                  with themselves on kind and window: every pair of rows of a window and
                  kind that were not late for the join, a row being late when its
                  window's start is at or before the join's W(e-1), the highest window
                  start of the epochs before less the delay and the window's size (2
                  minutes); each late row is a dead letter once per side
        dearer    left_id, right_id, ws: the same windows LEFT JOINed on kind and a
                  dearer price: each row with every dearer row of its window and kind,
                  or once with a null when it is the dearest
        cheap_top2    id, deci, window_start, rn: the top2 ranking over the TVF of a view,
                  `cheap` (rows of price < 60, with deci = price * 10); the watermark
                  still follows every row of the table
        cheap_pairs   left_id, right_id, ws: the window join of the view's 1-minute TUMBLE
                  rows with the table's, on kind and window; each side's watermark
                  follows every row of the table
        dead_letters  the rankings' late rows: once per query and window whose end is at
                  or before W(e-1), the watermark the oracle computes itself from the
                  epochs' event times (delay 1 minute), as DESIGN section 2 defines it
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
            # Some rows exactly on a minute, or a quarter past it; a few 10-15 minutes behind.
            roll = rng.random()
            at = t - t % MINUTE + rng.choice([0, 15 * SEC]) if roll < 0.1 else \
                t - rng.randrange(10, 16) * MINUTE if roll < 0.13 else t
            rows.append(json.dumps({"id": n, "ts": ts_text(at), "price": rng.randrange(100),
                                    "kind": rng.choice("abc")}))
            n += 1
        if len(epochs) in (6, 13):
            # A dear row ahead of the others, which the view `cheap` filters out: it moves
            # the watermark of the view's readers as it moves the table's.
            rows.append(json.dumps({"id": n, "ts": ts_text(t + 10 * MINUTE), "price": 99,
                                    "kind": rng.choice("abc")}))
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


def watermarks(rows, delay: int) -> dict:
    """W(e) for each epoch e: the highest event time of the epochs before it less the
    delay, never moving back; None (minus infinity) before any."""
    top = {}
    for r in rows:
        top[r["epoch"]] = max(top.get(r["epoch"], r["t"]), r["t"])
    w, seen, out = None, None, {}
    for e in range(max(top) + 2):
        out[e] = w
        if e in top:
            seen = top[e] if seen is None else max(seen, top[e])
        if seen is not None:
            w = seen - delay if w is None else max(w, seen - delay)
    return out


def ranked(rows, windows_of, group, order, limit, dense=False, numbered=True, keep=None):
    """The rows each group (window, group(row)) keeps, ranked by `order`: ROW_NUMBER
    (numbered) or RANK; and the late (row, window) pairs, by the watermark of the epoch
    before the row's. With `keep`, only the rows it keeps are ranked (a view's filter),
    the watermark still following every row."""
    w = watermarks(rows, MINUTE)
    groups, late = {}, []
    for r in rows:
        if keep is not None and not keep(r):
            continue
        for s, e in windows_of(r):
            bound = w[r["epoch"] - 1] if r["epoch"] > 0 else None
            if bound is not None and e <= bound:
                late.append((r["id"], s))
                continue
            groups.setdefault((s, e, group(r)), []).append(r)
    kept = []
    for (s, e, _), members in groups.items():
        members.sort(key=order)
        rank = 0
        for position, r in enumerate(members, start=1):
            tie = position > 1 and order(r)[:-1] == order(members[position - 2])[:-1]
            rank = position if numbered or not tie else rank
            if rank <= limit:
                kept.append((r, s, e, rank))
    return kept, late


def gap_of(r) -> int:
    return 3 * MINUTE if r["price"] >= 80 else 40 * SEC


def sessions(rows, gap=None):
    """The sessions per kind, epoch by epoch, [(kind, start, end, [rows])], and the ids
    of the rows late for them; each row's gap is gap(row) (gap_of by default)."""
    gap = gap or gap_of
    w = watermarks(rows, MINUTE)
    last = max(r["epoch"] for r in rows)
    open_, closed, late = {}, [], []
    for e in range(last + 1):
        bound = w[e - 1] if e > 0 else None
        for r in (r for r in rows if r["epoch"] == e):
            start, end = r["t"], r["t"] + gap(r)
            if bound is not None and end <= bound:
                late.append(r["id"])
                continue
            open_.setdefault(r["kind"], []).append((start, end, [r]))
        final = w[e] if e < max(w) else None
        for kind, spans in open_.items():
            spans.sort(key=lambda s: (s[0], s[1]))
            merged = []
            for start, end, members in spans:
                if merged and start < merged[-1][1]:
                    s0, e0, m0 = merged[-1]
                    merged[-1] = (s0, max(e0, end), m0 + members)
                else:
                    merged.append((start, end, members))
            keep = []
            for start, end, members in merged:
                if final is not None and end <= final:
                    closed.append((kind, start, end, members))
                else:
                    keep.append((start, end, members))
            open_[kind] = keep
    # The end of the input closes every session.
    closed.extend((kind, s, e, m) for kind, spans in open_.items() for s, e, m in spans)
    return closed, late


def cheap(r) -> bool:
    """The filter of the view `cheap`."""
    return r["price"] is not None and r["price"] < 60


def window_join(rows):
    """The pairs of the self window join, the left window join's rows, the view's window
    join with the table, and their late rows (once per side of each join)."""
    starts = [dict(r, t=windows(r["t"], MINUTE, MINUTE)[0][0]) for r in rows]
    w = watermarks(starts, 2 * MINUTE)
    groups, late = {}, []
    for r in starts:
        bound = w[r["epoch"] - 1] if r["epoch"] > 0 else None
        if bound is not None and r["t"] <= bound:
            late.append((r["id"], r["t"]))
            continue
        groups.setdefault((r["t"], r["kind"]), []).append(r)
    pairs = sorted((a["id"], b["id"], ws) for (ws, _), rs in groups.items()
                   for a in rs for b in rs)
    # The view's rows (left) with the table's (right): the same windows, both sides'
    # watermarks following all of the table's rows.
    cheap_pairs = sorted((a["id"], b["id"], ws) for (ws, _), rs in groups.items()
                         for a in rs if cheap(a) for b in rs)
    late_cheap = [x for x in late if cheap(next(r for r in rows if r["id"] == x[0]))]
    # LEFT JOIN ... AND R.price > L.price: a row without a dearer one comes out alone.
    left = []
    for (ws, _), rs in groups.items():
        for a in rs:
            dearer = [b["id"] for b in rs if b["price"] > a["price"]]
            left.extend((a["id"], b, ws) for b in dearer) if dearer else \
                left.append((a["id"], None, ws))
    key = lambda r: tuple((x is None, x) for x in r)  # noqa: E731
    return pairs, sorted(left, key=key), sorted(late * 5 + late_cheap), cheap_pairs


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
    tumble = lambda r: windows(r["t"], MINUTE, MINUTE)  # noqa: E731
    hop = lambda r: windows(r["t"], 2 * MINUTE, MINUTE)  # noqa: E731
    top2, late_top2 = ranked(rows, tumble, lambda r: None,
                             lambda r: (-r["price"], r["id"]), 2)
    rank2, late_rank2 = ranked(rows, hop, lambda r: r["kind"],
                               lambda r: (-r["price"], r["id"]), 2, numbered=False)
    first, late_first = ranked(rows, tumble, lambda r: r["kind"],
                               lambda r: (r["t"], r["id"]), 1)
    cheap2, late_cheap2 = ranked(rows, tumble, lambda r: None,
                                 lambda r: (-r["price"], r["id"]), 2, keep=cheap)
    return {
        "tumbled": sorted(tumbled), "hopped": sorted(hopped), "cumulated": sorted(cumulated),
        "cheap_top2": sorted((r["id"], r["price"] * 10, s, k) for r, s, e, k in cheap2),
        "cheap_pairs": window_join(rows)[3],
        "top2": sorted((r["id"], r["price"], s, e, k) for r, s, e, k in top2),
        "ranked": sorted((r["id"], r["kind"], r["price"], s, k) for r, s, e, k in rank2),
        "firsts": sorted((r["id"], r["kind"], s) for r, s, e, k in first),
        "gapped": sorted((k, s, e, len(m)) for k, s, e, m in sessions(rows)[0]),
        "pairs": window_join(rows)[0],
        "dearer": window_join(rows)[1],
        "late_join": window_join(rows)[2],
        "late": sorted(late_top2 + late_rank2 + late_first + late_cheap2),
        "late_sessions": sorted(sessions(rows)[1]),
    }


def check(args) -> dict:
    rows = read_rows(args.dir)
    want = oracle(rows)
    late = want.pop("late")
    late_sessions = want.pop("late_sessions")
    late_join = want.pop("late_join")
    con = connect()
    columns = {
        "tumbled": "id, epoch_us(window_start), epoch_us(window_end), epoch_us(window_time)",
        "hopped": "id, price, epoch_us(window_start), epoch_us(window_end)",
        "cumulated": "id, epoch_us(window_start), epoch_us(window_end)",
        "top2": "id, price, epoch_us(window_start), epoch_us(window_end), rn",
        "ranked": "id, kind, price, epoch_us(window_start), rk",
        "firsts": "id, kind, epoch_us(window_start)",
        "gapped": "kind, epoch_us(window_start), epoch_us(window_end), n",
        "pairs": "left_id, right_id, epoch_us(ws)",
        "dearer": "left_id, right_id, epoch_us(ws)",
        "cheap_top2": "id, deci, epoch_us(window_start), rn",
        "cheap_pairs": "left_id, right_id, epoch_us(ws)",
    }
    result, problems = {}, []
    for table, wanted in want.items():
        have = sorted(con.execute(
            f"SELECT {columns[table]} FROM delta_scan({lit(table_path(args.out, table))})"
        ).fetchall(), key=lambda r: tuple((x is None, x) for x in r))
        result[table] = {"rows_expected": len(wanted), "rows": len(have)}
        if have != wanted:
            result[table].update(missing=[r for r in wanted if r not in have][:5],
                                 unexpected=[r for r in have if r not in wanted][:5])
            problems.append(f"{table} differs from the oracle")
    if len(want["hopped"]) < 2 * len([r for r in rows if r["price"] > 50]):
        problems.append("hopping windows gave fewer than two windows per row")
    def late_letters(which: str) -> list:
        """The late dead letters `which` selects: (id, window start) each."""
        return sorted(con.execute(
            "SELECT CAST(json_extract(payload, '$.id') AS BIGINT), epoch_us(CAST("
            "json_extract_string(payload, '$.window_start') AS TIMESTAMP)) FROM delta_scan("
            f"{lit(table_path(args.out, 'dead_letters'))}) WHERE reason = 'late' AND {which}"
        ).fetchall())

    window_start = "json_extract_string(payload, '$.window_start')"
    for name, want, have in (
            # The rankings' (a window missed), the window join's (none missed), the
            # sessions' (no window in the payload: only their ids are compared).
            ("late", late, late_letters(f"{window_start} IS NOT NULL AND windows_missed = 1")),
            ("late_join", late_join, late_letters("windows_missed = 0")),
            ("late_sessions", late_sessions,
             [i for i, _ in late_letters(f"{window_start} IS NULL")])):
        result[name] = {"expected": len(want), "dead_letters": len(have)}
        if have != want:
            result[name].update(missing=[x for x in want if x not in have][:5],
                                unexpected=[x for x in have if x not in want][:5])
            problems.append(f"{name}: the dead letters differ from the oracle's")
    if not late:
        problems.append("the input made no row late")
    result.update(ok=not problems, problems=problems)
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], write, check))
