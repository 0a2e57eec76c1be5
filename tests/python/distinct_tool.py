#!/usr/bin/env python3
"""The oracle of the exact distinct-count test: `count(DISTINCT ...)` per event-time
window, over the window-assignment test's events (window_assign_tool.py writes them:
prices 0 to 99 in three kinds, event times that wander back and forth, a few rows minutes
behind, and two rows ten minutes ahead).

  write --dir DIR [--seed N]
      As window_assign_tool.py write.
  check --dir DIR --out OUT
      Reads the job's tables with DuckDB's Delta extension and compares them with the
      oracle's, which computes the watermark itself from the epochs' event times (delay
      1 minute, W(e) = the highest event time of the epochs before e less the delay) and
      decides lateness per window as DESIGN section 2 does (a row of epoch e counts in a
      window unless its end is at or before W(e-1)):
        hop_distinct  window_start, kind, n, prices, residues, price_sum, half_mean,
                      top_id, low_id, dear, all_even, any_top: HOP windows of 3 minutes
                      every minute per kind: count(*), count(DISTINCT price),
                      count(DISTINCT price % 7), sum(DISTINCT price),
                      avg(DISTINCT price * 0.5), max_by(id, price), min_by(id, price),
                      Spark's count_if(price > 50), bool_and(price % 2 = 0) and
                      bool_or(price > 90) of the rows that were not late for them
                      (among rows tied on the price, the greatest id's text for max_by,
                      the least for min_by: the documented tie rule, not the arrival order)
        session_distinct  kind, window_start, window_end, n, prices, dec_mean, price_set,
                      last_price (max_by(price, ts), ties to the greatest price's text),
                      price_list (collect_list(price): every price by event time, ties
                      by the price's text):
                      sessions of a 40-second gap per kind (dec_mean: avg(DISTINCT
                      CAST(price AS DECIMAL(10, 2))), a DECIMAL(14, 6) rounded half up;
                      price_set: collect_set(price), the sorted distinct prices), simulated
                      epoch by epoch: a row's own
                      session [t, t + 40 s) is late when its end is at or before W(e-1);
                      sessions merge where they overlap and close once W(e) passes
                      their end
        busy          kind, window_start, n: the same HOP windows' counts, in a subquery
                      that an outer query filters (n > 5)
        kind_totals   kind, total, windows: per kind, the sum of those counts and the
                      number of windows, an aggregate without a window over the windowed
                      subquery, in update mode (the table holds each kind's last row)
        latest_price  price, id, kind, ts: each price's row of the latest event time (ties
                      to the greatest id's text), late rows included: Flink's "keep the
                      last row" deduplication, in update mode
        kinds_seen    kind, r: SELECT DISTINCT kind, price % 4 in update mode, every
                      pair of all the rows, late ones included, once
        dead_letters  each row with a late contribution, once per query, with how many
                      windows it missed (id, windows_missed)
        typed_rows    ident, tenth, code, k: tables that declare their columns
                      (ident STRING, tenth INT NOT NULL, code INT, k STRING), the
                      query's by position: each row's id as text, price % 10, its price,
                      its kind; a row whose price % 10 is 0 (null, NOT NULL) is a dead
                      letter `rule:typed_rows_tenth_not_null`, and one whose price is
                      over 95 (the text 'x', which does not cast to INT) a dead letter
                      of the cast: both at the row's coordinates (its file and line)
        typed_hops    w, k, n, total: the HOP windows' sum of prices per kind, written
                      by a column list (total, k, w): n is null
        kind_counts   k, n: count(*) per kind of every row (late ones too), a table
                      upserted by its PRIMARY KEY (k)
        price_last    p, ident: latest_price's price and id, a table upserted by its
                      PRIMARY KEY (p), the key renamed from `price`
        hop_top       top, ws, we: per HOP window, the largest of its kinds' counts,
                      grouped by the counts' window start and end (a cascading window)
      and the watermark the job's offsets log records for each epoch it still holds: the
      least of its windows' (that of the tops' outer window, which follows the HOP
      windows' ends: between the latest end at or before W(e-1) and the one at or before
      W(e)), the aggregates without a window (which read no event time) holding it back
      no more than the windows do

Prints one JSON object; exits 0 when the tables match, 1 when they differ.
"""

from __future__ import annotations

import decimal
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, lit, table_path  # noqa: E402
from epoch_files import MINUTE, SEC, main, read_rows  # noqa: E402
from window_assign_tool import sessions, watermarks, windows, write  # noqa: E402

GAP = 40 * SEC


def delta_required(path: str) -> list[str]:
    """The columns the Delta log's latest schema declares not nullable."""
    schema = None
    for log in sorted(glob.glob(os.path.join(path, "_delta_log", "*.json"))):
        with open(log, encoding="utf-8") as f:
            for line in f:
                meta = json.loads(line).get("metaData")
                if meta:
                    schema = json.loads(meta["schemaString"])
    if schema is None:
        return ["(no schema in the log)"]
    return [f["name"] for f in schema["fields"] if not f["nullable"]]


def decimal_mean(values) -> decimal.Decimal:
    """The mean of `values` as a DECIMAL(14, 6), rounded half up (Spark's avg of a
    DECIMAL(10, 2))."""
    total = sum(decimal.Decimal(v) for v in values)
    return (total / len(values)).quantize(decimal.Decimal("0.000001"),
                                         rounding=decimal.ROUND_HALF_UP)


def hopping(rows):
    """{(start, kind): [rows]} of the rows not late for each window, and the late rows
    with how many windows each missed."""
    w = watermarks(rows, MINUTE)
    groups, late = {}, []
    for r in rows:
        bound = w[r["epoch"] - 1] if r["epoch"] > 0 else None
        missed = 0
        for s, e in windows(r["t"], 3 * MINUTE, MINUTE):
            if bound is not None and e <= bound:
                missed += 1
                continue
            groups.setdefault((s, r["kind"]), []).append(r)
        if missed:
            late.append((r["id"], missed))
    return groups, late


def check(args) -> dict:
    rows = read_rows(args.dir)
    groups, late_hop = hopping(rows)
    closed, late_ids = sessions(rows, gap=lambda r: GAP)
    late_sessions = [(i, 1) for i in late_ids]
    want = {
        "hop_distinct": sorted(
            (s, kind, len(rs), len({r["price"] for r in rs}),
             len({r["price"] % 7 for r in rs}), sum({r["price"] for r in rs}),
             sum({r["price"] * 0.5 for r in rs}) / len({r["price"] for r in rs}),
             max(rs, key=lambda r: (r["price"], str(r["id"])))["id"],
             min(rs, key=lambda r: (r["price"], str(r["id"])))["id"],
             sum(1 for r in rs if r["price"] > 50), all(r["price"] % 2 == 0 for r in rs),
             any(r["price"] > 90 for r in rs))
            for (s, kind), rs in groups.items()),
        "session_distinct": sorted(
            (kind, s, e, len(rs), len({r["price"] for r in rs}),
             decimal_mean({r["price"] for r in rs}), sorted({r["price"] for r in rs}),
             max(rs, key=lambda r: (r["t"], str(r["price"])))["price"],
             [r["price"] for r in sorted(rs, key=lambda r: (r["t"], str(r["price"])))])
            for kind, s, e, rs in closed),
        "busy": sorted((kind, s, len(rs)) for (s, kind), rs in groups.items() if len(rs) > 5),
        "kind_totals": sorted(
            (kind, sum(len(rs) for (_, k), rs in groups.items() if k == kind),
             sum(1 for (_, k) in groups if k == kind))
            for kind in {k for (_, k) in groups}),
        "latest_price": sorted(
            (p, r["id"], r["kind"], r["t"]) for p, r in
            ((p, max((r for r in rows if r["price"] == p), key=lambda r: (r["t"], str(r["id"]))))
             for p in {r["price"] for r in rows})),
        "kinds_seen": sorted({(r["kind"], r["price"] % 4) for r in rows}),
        "typed_rows": sorted(
            (str(r["id"]), r["price"] % 10, r["price"], r["kind"]) for r in rows
            if r["price"] % 10 != 0 and r["price"] <= 95),
        "typed_hops": sorted(
            (s, kind, None, sum(r["price"] for r in rs)) for (s, kind), rs in groups.items()),
        "kind_counts": sorted(
            (k, sum(1 for r in rows if r["kind"] == k)) for k in {r["kind"] for r in rows}),
    }
    want["price_last"] = [(p, i) for p, i, _, _ in want["latest_price"]]
    tops = {}
    for (s, _), rs in groups.items():
        tops[s] = max(tops.get(s, 0), len(rs))
    want["hop_top"] = sorted((top, s, s + 3 * MINUTE) for s, top in tops.items())
    columns = {
        "hop_distinct": "epoch_us(window_start), kind, n, prices, residues, price_sum, "
                        "half_mean, top_id, low_id, dear, all_even, any_top",
        "session_distinct": "kind, epoch_us(window_start), epoch_us(window_end), n, prices, "
                            "dec_mean, price_set, last_price, price_list",
        "busy": "kind, epoch_us(window_start), n",
        "kind_totals": "kind, total, windows",
        "latest_price": "price, id, kind, epoch_us(ts)",
        "kinds_seen": "kind, r",
        "typed_rows": "ident, tenth, code, k",
        "typed_hops": "epoch_us(w), k, n, total",
        "kind_counts": "k, n",
        "price_last": "p, ident",
        "hop_top": "top, epoch_us(ws), epoch_us(we)",
    }
    con = connect()
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
    if not any(len({r["price"] for r in rs}) < len(rs) for rs in groups.values()):
        problems.append("no window holds a price twice: the distinct counts equal the counts")
    if not any(sum(r["price"] == max(x["price"] for x in rs) for r in rs) > 1
               for rs in groups.values()):
        problems.append("no window's dearest price is held twice: max_by's ties are untested")
    # The busy windows', the totals', the typed windows' and the tops' queries have the
    # HOP windows' late rows too (the tops' outer windows reject none).
    late = sorted(late_hop * 5 + late_sessions)
    have_late = sorted(con.execute(
        "SELECT CAST(json_extract(payload, '$.id') AS BIGINT), windows_missed FROM "
        f"delta_scan({lit(table_path(args.out, 'dead_letters'))}) WHERE reason = 'late'"
    ).fetchall())
    result["late"] = {"expected": len(late), "dead_letters": len(have_late)}
    if have_late != late:
        result["late"].update(missing=[x for x in late if x not in have_late][:5],
                              unexpected=[x for x in have_late if x not in late][:5])
        problems.append("the late dead letters differ from the oracle's")
    if not any(missed > 1 for _, missed in late_hop):
        problems.append("no row missed two of its hopping windows")
    # The typed tables have the declared types.
    for table, types in [("typed_rows", ["VARCHAR", "INTEGER", "INTEGER", "VARCHAR"]),
                         ("typed_hops", ["TIMESTAMP WITH TIME ZONE", "VARCHAR", "INTEGER",
                                         "BIGINT"])]:
        have_types = [r[1] for r in con.execute(
            f"DESCRIBE SELECT * FROM delta_scan({lit(table_path(args.out, table))})").fetchall()]
        if have_types != types:
            problems.append(f"{table}'s columns are {have_types}, declared {types}")
    # Their NOT NULL columns are required in the Delta schema, read from the log itself,
    # and so is a window's start, never null; the other columns are nullable.
    for table, required in [("typed_rows", ["tenth"]), ("typed_hops", ["w", "k"])]:
        have = delta_required(table_path(args.out, table))
        if have != required:
            problems.append(f"{table}'s required columns are {have}, declared {required}")
    # The typed tables' dead letters, at the rows' own coordinates: their files' lines.
    rejected = sorted(con.execute(
        "SELECT CASE WHEN reason LIKE 'rule:%' THEN reason ELSE 'cast' END, "
        "CAST(coalesce(json_extract_string(payload, '$.id'), "
        "json_extract_string(payload, '$.ident')) AS BIGINT) FROM "
        f"delta_scan({lit(table_path(args.out, 'dead_letters'))}) "
        "WHERE reason = 'rule:typed_rows_tenth_not_null' "
        "OR (reason LIKE 'error:typed%' AND error LIKE '%Cannot cast%')").fetchall())
    want_rejected = sorted(
        [("rule:typed_rows_tenth_not_null", r["id"]) for r in rows if r["price"] % 10 == 0]
        + [("cast", r["id"]) for r in rows if r["price"] > 95])
    located = con.execute(
        "SELECT count(*) FROM "
        f"delta_scan({lit(table_path(args.out, 'dead_letters'))}) "
        "WHERE (reason LIKE 'rule:typed%' OR reason LIKE 'error:%') "
        "AND (\"offset\" < 0 OR source LIKE 'typed%')").fetchone()[0]
    result["typed_dead_letters"] = {"expected": len(want_rejected), "rows": len(rejected),
                                    "not_located": located}
    if rejected != want_rejected or located:
        result["typed_dead_letters"].update(
            missing=[x for x in want_rejected if x not in rejected][:5],
            unexpected=[x for x in rejected if x not in want_rejected][:5])
        problems.append("the typed tables' dead letters differ from the oracle's")
    # The job's watermark, as its offsets log records it for each epoch: the least of
    # its event-time operators' (the aggregates without a window read no event time and
    # do not hold it back). The windows over the source follow it with a 1-minute delay,
    # W(e); the tops' outer window follows the HOP windows it reads, whose rows come out
    # as W passes their end: its watermark is at most the latest end of a HOP window at
    # or before W(e), and at least the one at or before W(e-1) (it sees an epoch's HOP
    # rows as that epoch ends, which may be after the next epoch is planned).
    w = watermarks(rows, MINUTE)
    ends = sorted({s + 3 * MINUTE for (s, _) in groups})

    def job_watermark(e):
        if w.get(e) is None:
            return None
        closed = [end for end in ends if end <= w[e]]
        return closed[-1] if closed else None

    logged = logged_watermarks(args.out)
    result["watermarks"] = {"epochs": len(logged), "last": logged[-1] if logged else None}
    wrong = [(e, ms, job_watermark(e - 1), job_watermark(e)) for e, ms in logged
             if ms is None or job_watermark(e) is None
             or not (job_watermark(e - 1) or 0) <= ms * 1000 <= job_watermark(e)]
    if not logged or logged[-1][1] is None or wrong:
        result["watermarks"]["wrong"] = wrong[:5]
        problems.append("the offsets log's watermarks differ from the oracle's")
    result.update(ok=not problems, problems=problems)
    return result


def logged_watermarks(out):
    """(epoch, watermark_ms) of each epoch in the job's offsets log."""
    found = []
    for path in sorted(glob.glob(os.path.join(out, "checkpoints", "*", "offsets", "*"))):
        name = os.path.basename(path)
        if name.isdigit():
            with open(path) as f:
                found.append((int(name), json.load(f).get("watermark_ms")))
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], write, check))
