"""Event-time operators of SQL jobs checked against oracles that replay the input epoch
by epoch on their own: correctable windows (update mode with an allowed lateness) and
deduplication within the watermark.

    event_time_tool.py write --dir D --seed S
        Writes D/in/part-NNNNN.jsonl, one file per epoch (the job reads one file per
        epoch): rows {id, sensor, ts, v}, event time moving ~20 s per epoch with some skew,
        10% of rows 1 to 2.5 minutes behind (within the allowed lateness of the test, but
        late by Spark's rule) and 4% 5 to 10 minutes behind (later than that).

    event_time_tool.py check --dir D --out OUT --table T [--dlq DLQ] --size S --delay D
                            --lateness L
        The oracle. Epoch e is file e. It computes the watermark itself from the files,
        as DESIGN section 2 defines it: W(0) = -inf, W(e) = max(W(e-1), max event time of
        the epochs before e - delay). A row of epoch e is late when its tumbling window
        (size S seconds) ends at or before W(e-1) - L; the others count in their window.
        Then, read with DuckDB's delta_scan:
          - OUT/tables/T must hold exactly one row per (window_start, window_end, sensor),
            with count(*), sum(v), min(v) and max(v) over the rows that count: the
            table was corrected in place by MERGE;
          - OUT/tables/DLQ (dead_letters) must hold the late rows, by id and epoch, with reason `late`;
          - the rows that Spark would have called late but the lateness accepted must be
            more than 0, and the table's Delta log (read as JSON) must show MERGEs that
            updated rows, so the test exercised corrections.
        Prints one JSON line; exit status 1 when something differs.

    event_time_tool.py write-dups --dir D --seed S
        Writes D/in/part-NNNNN.jsonl, one file per epoch: events {id, sensor, ts, v,
        attempt}. 30% of events are sent again (attempt 1, 2: the same id, sensor, time and
        value) in the same or one of the next three epochs, and 5% once more 6 to 9 epochs
        later with a fresh time (attempt 3); 4% of rows are 5 to 10 minutes behind.

    event_time_tool.py check-dedup --dir D --out OUT --table T [--dlq DLQ] --delay D
        The oracle of a deduplication by id within the watermark (delay D seconds), with
        the watermark computed from the files as above: a row with t <= W(e-1) is late;
        otherwise, unless its id is remembered, the epoch's first row of the id (lowest
        time, then lowest attempt) passes and the id is remembered until t + D <= W(e).
        OUT/tables/T must hold exactly the rows that pass (id, sensor, ts, v, attempt) and
        the dead-letter table the late rows (id, attempt, epoch); ids that pass twice
        (forgotten, then sent again) and duplicates dropped must both be more than 0.
        With --row-number RN the table must also hold RN, a BIGINT that is 1 on every row
        (the outer query selected `*`).

    event_time_tool.py write-dups-union --dir D --seed S
    event_time_tool.py check-dedup --union ...
        write-dups, each file's rows then split in two sources, D/b (attempts 1 and 3)
        and D/a (the others); check-dedup --union reads them as one union, whose
        watermark is the least of the two sources' (-inf until both have had rows).

    event_time_tool.py write-join --dir D --seed S
        Writes D/orders/part-NNNNN.jsonl and D/payments/part-NNNNN.jsonl, one file of each
        per epoch: orders {id, customer, ts, amount}, and payments {pid, order_id, ts,
        paid} for about 70% of the orders, 1 minute before to 4 minutes after their order
        (some outside the join's bounds), in the file of their time; 3% of the rows of
        either side arrive 5 to 10 minutes late.

    event_time_tool.py check-join --dir D --out OUT --table T [--dlq DLQ]
        The oracle of `orders o LEFT JOIN payments p ON p.order_id = o.id AND p.ts BETWEEN
        o.ts - 1 minute AND o.ts + 3 minutes`, with watermark delays of 30 s (orders) and
        60 s (payments): each side's watermark from its own files as above, the join's the
        lower of the two; a row with t <= W(e-1) is late. OUT/tables/T must hold exactly
        the left outer join of the rows that were not late (order_id, customer, amount,
        pid, paid), and the dead-letter table the late rows (order id or payment id,
        epoch); matched orders, unmatched orders and late rows must all be more than 0.
        With --paid-over N the join's ON also holds `p.paid > N`: the payments that fail
        it match nothing and are not late rows, though they move the watermark. With
        --amount-over N the query's WHERE also holds `o.amount > N`: the orders that fail
        it are left out, and, filtered before the join, are not late rows either. With
        --on-amount-over N the join's ON holds `o.amount > N`: the orders that fail it
        match nothing but still come out once, with nulls for the payment (or are late
        rows, as any order). With --paid-under-amount the join's ON holds
        `p.paid < o.amount`, a condition on both sides: only the pairs that meet it match,
        and an order none of whose payments meets it comes out once with nulls. With
        --semi the query is a LEFT SEMI JOIN: T holds each order that matches at least
        one payment once (order_id, customer, amount), and no other. With
        --first-per-customer the orders are first deduplicated per customer within the
        watermark (Flink's ROW_NUMBER() OVER (PARTITION BY customer ORDER BY ts) = 1,
        Spark's dropDuplicatesWithinWatermark: a customer's first order passes, and the
        customer is remembered until the orders' watermark passes its time plus 30 s);
        an order late for the deduplication (t <= the orders' own W(e-1)) is its late
        row, and only the first orders are joined.

    event_time_tool.py check-join-windows --dir D --out OUT --table T --table2 T2 [--dlq DLQ]
        Windows over the join of check-join's orders and payments (the same bounds,
        delays and late rows): T must hold, per 1-minute window of the order's time and
        customer, the inner join's pairs' count and sum of paid; T2, per 1-minute window
        of the payment's time, the RIGHT join's rows' count and sum of amount (a payment
        no order matches counts, with a null amount). The dead-letter table must hold
        each late row twice (the job's two joins) and nothing else: no joined pair is
        late for a window over it.

    event_time_tool.py write-union --dir D --seed S
        Writes D/web/part-NNNNN.jsonl {id, sensor, ts, v} and D/app/part-NNNNN.jsonl {id,
        sensor, created, v}, one file of each per epoch, event time moving ~20 s per epoch
        in both, the app's 30 minutes behind the web's; 4% of the rows of either are 5 to
        10 minutes behind their source, and 5% of the app's have v = -1 (filtered out by
        the query's WHERE, but moving the app's watermark).

    event_time_tool.py check-union --dir D --out OUT --table T [--dlq DLQ]
        The oracle of 1-minute tumbling counts and sums of v per sensor over `web UNION
        ALL app WHERE v >= 0`, with watermark delays of 60 s (web) and 120 s (app): each
        source's watermark from its own files as above, the union's the least of them
        (-inf until both have had rows), never moving back; a row is late when its
        window ends at or before W(e-1). OUT/tables/T must hold the
        windows of the rows that were not late, and the dead-letter table the late rows
        (id, epoch); late rows, and app rows that a watermark of the web's alone would
        have made late, must both be more than 0.
"""

import argparse
import datetime as dt
import glob
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, lit, multiset_diff, table_path  # noqa: E402

SEC = 1_000_000
BASE_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
EPOCHS = 30
PER_EPOCH = 40


def ts_text(us: int) -> str:
    t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write(args) -> dict:
    rng = random.Random(args.seed)
    os.makedirs(os.path.join(args.dir, "in"), exist_ok=True)
    next_id = 0
    for e in range(EPOCHS):
        lines = []
        for _ in range(PER_EPOCH):
            t = BASE_US + e * 20 * SEC + rng.randrange(20 * SEC) - rng.randrange(10 * SEC)
            roll = rng.random()
            if roll < 0.10:
                t -= rng.randrange(60 * SEC, 150 * SEC)
            elif roll < 0.14:
                t -= rng.randrange(300 * SEC, 600 * SEC)
            row = {"id": next_id, "sensor": f"s{rng.randrange(4)}", "ts": ts_text(t),
                   "v": rng.randrange(1000)}
            next_id += 1
            lines.append(json.dumps(row))
        with open(os.path.join(args.dir, "in", f"part-{e:05d}.jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return {"files": EPOCHS, "rows": next_id}


def read_epochs(d: str) -> list[list[dict]]:
    return read_dir(os.path.join(d, "in"))


def watermarks(epochs, delay: int):
    """(W(e-1), W(e)) for each epoch e, from DESIGN's formula: W(0) = -inf (None),
    W(e) = max(W(e-1), max event time of the epochs before e - delay)."""
    out = []
    w_cur = None
    seen_max = None  # max event time of the epochs before e
    for rows in epochs:
        w_prev = w_cur
        candidate = None if seen_max is None else seen_max - delay
        if w_cur is None:
            w_cur = candidate
        elif candidate is not None:
            w_cur = max(w_cur, candidate)
        out.append((w_prev, w_cur))
        if rows:
            epoch_max = max(r["t"] for r in rows)
            seen_max = epoch_max if seen_max is None else max(seen_max, epoch_max)
    return out


def oracle(epochs, size: int, delay: int, lateness: int):
    """(windows {(start, end, key): [v...]}, late [(id, epoch)], corrected count)."""
    windows: dict = {}
    late = []
    corrected = 0
    for e, (rows, (w_prev, _)) in enumerate(zip(epochs, watermarks(epochs, delay))):
        for row in rows:
            start = (row["t"] // size) * size
            end = start + size
            if w_prev is not None and end <= w_prev - lateness:
                late.append((row["id"], e))
                continue
            if w_prev is not None and end <= w_prev:
                corrected += 1
            windows.setdefault((start, end, row["sensor"]), []).append(row["v"])
    return windows, late, corrected


def updated_rows(d: str) -> int:
    """numTargetRowsUpdated summed over the table's MERGE commits, from its Delta log."""
    total = 0
    for path in sorted(glob.glob(os.path.join(d, "_delta_log", "*.json"))):
        with open(path) as f:
            for line in f:
                action = json.loads(line)
                info = action.get("commitInfo")
                if info and info.get("operation") == "MERGE":
                    metrics = info.get("operationMetrics") or {}
                    # delta-rs writes snake_case metrics, Spark camelCase.
                    total += int(metrics.get("num_target_rows_updated",
                                             metrics.get("numTargetRowsUpdated", 0)))
    return total


def check(args) -> dict:
    size, delay, lateness = args.size * SEC, args.delay * SEC, args.lateness * SEC
    windows, late, corrected = oracle(read_epochs(args.dir), size, delay, lateness)
    con = connect()
    table = table_path(args.out, args.table)
    got = (f"SELECT epoch_us(window_start) AS window_start, epoch_us(window_end) AS window_end, "
           f"sensor, n, total, lo, hi FROM delta_scan({lit(table)})")
    diff = diff_with(
        con, "want", "window_start BIGINT, window_end BIGINT, sensor VARCHAR, n BIGINT, "
        "total BIGINT, lo BIGINT, hi BIGINT",
        [(s, e, k, len(vs), sum(vs), min(vs), max(vs))
         for (s, e, k), vs in sorted(windows.items())], got)
    duplicates = con.execute(f"SELECT window_start, sensor FROM ({got}) GROUP BY ALL "
                             "HAVING count(*) > 1").fetchall()
    if args.by_coordinates:
        # Payloads without `id` (the job decoded only the columns it reads): each late
        # dead letter's file and line name its input row.
        con.execute("CREATE TABLE lines (source VARCHAR, line BIGINT, id BIGINT)")
        con.executemany("INSERT INTO lines VALUES (?, ?, ?)", input_lines(args.dir))
        dlq = f"delta_scan({lit(table_path(args.out, args.dlq))})"
        late_got = (f"SELECT l.id, d.epoch FROM {dlq} AS d LEFT JOIN lines AS l "
                    "ON l.source = d.source AND l.line = d.offset WHERE d.reason = 'late'")
        with_id = con.execute(f"SELECT count(*) FROM {dlq} WHERE reason = 'late' AND "
                              "json_extract(payload, '$.id') IS NOT NULL").fetchone()[0]
    else:
        late_got, with_id = late_sql(args, "json_extract(payload, '$.id')"), 0
    late_diff = diff_with(con, "want_late", "id BIGINT, epoch BIGINT", late, late_got)
    updated = updated_rows(table)
    problems = verdict(diff, late_diff, bool(corrected and late),
                       "rows the lateness accepts and rows beyond it")
    if with_id:
        problems.append(f"{with_id} late payloads hold `id`, a column the job never reads")
    if duplicates:
        problems.append("a window and sensor appear twice")
    if updated == 0:
        problems.append("no MERGE updated a row: nothing was corrected in place")
    return {"windows": len(windows), "late": len(late), "corrected": corrected,
            "merge_updated_rows": updated, "duplicate_keys": len(duplicates),
            "table": diff, "late_rows": late_diff, "ok": not problems, "problems": problems}


def diff_with(con, name: str, schema: str, rows: list, got_sql: str) -> dict:
    """Loads `rows` as the table `name` (`schema`) and compares it with `got_sql` as
    multisets."""
    con.execute(f"CREATE TABLE {name} ({schema})")
    if rows:
        marks = ", ".join("?" for _ in schema.split(","))
        con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
    return multiset_diff(con, f"SELECT * FROM {name}", got_sql)


def late_sql(args, id_expr: str, *more: str) -> str:
    """The late dead letters of OUT's dead-letter table: `id_expr` over the payload, then
    `more` columns, then the epoch."""
    cols = ", ".join((f"CAST({id_expr} AS BIGINT)",) + more + ("epoch",))
    return (f"SELECT {cols} FROM delta_scan({lit(table_path(args.out, args.dlq))}) "
            "WHERE reason = 'late'")


def verdict(diff: dict, late_diff: dict, exercised: bool, what: str) -> list:
    """The problems a check found: the table or the late rows differing from the oracle,
    or an input that did not exercise `what`."""
    problems = []
    if diff["missing"] or diff["unexpected"]:
        problems.append("the table differs from the oracle")
    if late_diff["missing"] or late_diff["unexpected"]:
        problems.append("the late rows differ from the oracle")
    if not exercised:
        problems.append(f"the input must hold {what}")
    return problems


def write_dups(args) -> dict:
    rng = random.Random(args.seed)
    os.makedirs(os.path.join(args.dir, "in"), exist_ok=True)
    epochs = [[] for _ in range(EPOCHS)]
    for e in range(EPOCHS):
        for i in range(PER_EPOCH):
            t = BASE_US + e * 20 * SEC + rng.randrange(20 * SEC) - rng.randrange(10 * SEC)
            if rng.random() < 0.04:
                t -= rng.randrange(300 * SEC, 600 * SEC)
            event = {"id": e * PER_EPOCH + i, "sensor": f"s{rng.randrange(4)}",
                     "ts": ts_text(t), "v": rng.randrange(1000), "attempt": 0}
            epochs[e].append(event)
            if rng.random() < 0.30:
                for attempt in (1, 2)[: rng.randrange(1, 3)]:
                    later = min(EPOCHS - 1, e + rng.randrange(4))
                    epochs[later].append(dict(event, attempt=attempt))
            if rng.random() < 0.05:
                later = e + rng.randrange(6, 10)
                if later < EPOCHS:
                    fresh = BASE_US + later * 20 * SEC + rng.randrange(20 * SEC)
                    epochs[later].append(dict(event, attempt=3, ts=ts_text(fresh)))
    for e, rows in enumerate(epochs):
        rng.shuffle(rows)
        with open(os.path.join(args.dir, "in", f"part-{e:05d}.jsonl"), "w") as f:
            f.write("\n".join(json.dumps(r) for r in rows) + "\n")
    return {"files": EPOCHS, "rows": sum(len(r) for r in epochs)}


def dedup_oracle(epochs, delay: int, marks=None):
    """(passed rows, late [(id, attempt, epoch)], duplicates dropped, ids passed twice);
    `marks`, each epoch's (W(e-1), W(e)), default to the epochs' own."""
    passed, late = [], []
    remembered: dict = {}  # id -> forget at
    dropped = 0
    marks = marks or watermarks(epochs, delay)
    for e, (rows, (w_prev, w_cur)) in enumerate(zip(epochs, marks)):
        first: dict = {}
        for row in rows:
            if w_prev is not None and row["t"] <= w_prev:
                late.append((row["id"], row["attempt"], e))
                continue
            if row["id"] in remembered:
                dropped += 1
                continue
            held = first.get(row["id"])
            if held is not None:
                dropped += 1
            if held is None or (row["t"], row["attempt"]) < (held["t"], held["attempt"]):
                first[row["id"]] = row
        for i, row in first.items():
            passed.append(row)
            remembered[i] = row["t"] + delay
        if w_cur is not None:
            remembered = {i: f for i, f in remembered.items() if f > w_cur}
    counts: dict = {}
    for row in passed:
        counts[row["id"]] = counts.get(row["id"], 0) + 1
    twice = sum(1 for n in counts.values() if n > 1)
    return passed, late, dropped, twice


def write_dups_union(args) -> dict:
    """write-dups, then each file's rows split in two sources: D/b the attempts 1 and 3
    (resent and sent again later), D/a the others."""
    out = write_dups(args)
    for side in ("a", "b"):
        os.makedirs(os.path.join(args.dir, side), exist_ok=True)
    for path in sorted(glob.glob(os.path.join(args.dir, "in", "part-*.jsonl"))):
        rows = [json.loads(line) for line in open(path) if line.strip()]
        for side, keep in (("a", lambda r: r["attempt"] not in (1, 3)),
                           ("b", lambda r: r["attempt"] in (1, 3))):
            with open(os.path.join(args.dir, side, os.path.basename(path)), "w") as f:
                f.write("".join(json.dumps(r) + "\n" for r in rows if keep(r)))
    return out


def union_marks(per_source):
    """Each epoch's (W(e-1), W(e)) of a union: the least of its sources' W(e), -inf until
    each has one, never moving back."""
    out, w = [], None
    for e in range(len(per_source[0])):
        prev = w
        current = [marks[e][1] for marks in per_source]
        if None not in current:
            w = min(current) if w is None else max(w, min(current))
        out.append((prev, w))
    return out


def check_dedup(args) -> dict:
    if args.union:
        a = read_dir(os.path.join(args.dir, "a"))
        b = read_dir(os.path.join(args.dir, "b"))
        marks = union_marks([watermarks(a, args.delay * SEC), watermarks(b, args.delay * SEC)])
        epochs = [ra + rb for ra, rb in zip(a, b)]
    else:
        epochs, marks = read_epochs(args.dir), None
    passed, late, dropped, twice = dedup_oracle(epochs, args.delay * SEC, marks)
    con = connect()
    table = table_path(args.out, args.table)
    diff = diff_with(
        con, "want", "id BIGINT, sensor VARCHAR, t BIGINT, v BIGINT, attempt BIGINT",
        [(r["id"], r["sensor"], r["t"], r["v"], r["attempt"]) for r in passed],
        f"SELECT id, sensor, epoch_us(ts), v, attempt FROM delta_scan({lit(table)})")
    late_diff = diff_with(
        con, "want_late", "id BIGINT, attempt BIGINT, epoch BIGINT", late,
        late_sql(args, "json_extract(payload, '$.id')",
                 "CAST(json_extract(payload, '$.attempt') AS BIGINT)"))
    problems = verdict(diff, late_diff, bool(late and dropped and twice),
                       "late rows, duplicates, and ids sent again after they were forgotten")
    out = {"passed": len(passed), "late": len(late), "duplicates_dropped": dropped,
           "ids_passed_twice": twice, "table": diff, "late_rows": late_diff}
    if args.row_number:
        # The outer query's SELECT * keeps the row number, as SQL gives it: 1, a BIGINT.
        rn = args.row_number
        types = {r[0]: r[1] for r in con.execute(
            f"DESCRIBE SELECT * FROM delta_scan({lit(table)})").fetchall()}
        others = con.execute(f"SELECT count(*) FILTER (WHERE {rn} IS DISTINCT FROM 1) "
                             f"FROM delta_scan({lit(table)})").fetchone()[0] \
            if rn in types else None
        out["row_number"] = {"type": types.get(rn), "not_1": others}
        if types.get(rn) != "BIGINT" or others != 0:
            problems.append(f"the row number `{rn}` is not a BIGINT column of 1s: {out['row_number']}")
    out.update(ok=not problems, problems=problems)
    return out


def write_join(args) -> dict:
    rng = random.Random(args.seed)
    orders = [[] for _ in range(EPOCHS)]
    payments = [[] for _ in range(EPOCHS)]
    pid = 0
    for e in range(EPOCHS):
        for i in range(PER_EPOCH):
            t = BASE_US + e * 20 * SEC + rng.randrange(20 * SEC) - rng.randrange(10 * SEC)
            order = {"id": e * PER_EPOCH + i, "customer": f"c{rng.randrange(9)}",
                     "ts": ts_text(t), "amount": rng.randrange(1, 500)}
            at = e if rng.random() > 0.03 else min(EPOCHS - 1, e + rng.randrange(15, 30))
            orders[at].append(order)
            if rng.random() < 0.7:
                pt = t + rng.randrange(-60 * SEC, 240 * SEC)
                pe = max(0, min(EPOCHS - 1, (pt - BASE_US) // (20 * SEC)))
                if rng.random() < 0.03:
                    pe = min(EPOCHS - 1, pe + rng.randrange(15, 30))
                payments[pe].append({"pid": pid, "order_id": order["id"], "ts": ts_text(pt),
                                     "paid": rng.randrange(1, 500)})
                pid += 1
    for side, epochs in (("orders", orders), ("payments", payments)):
        os.makedirs(os.path.join(args.dir, side), exist_ok=True)
        for e, rows in enumerate(epochs):
            rng.shuffle(rows)
            with open(os.path.join(args.dir, side, f"part-{e:05d}.jsonl"), "w") as f:
                f.write("\n".join(json.dumps(r) for r in rows) + "\n")
    return {"orders": sum(map(len, orders)), "payments": pid}


def input_lines(d: str) -> list[tuple[str, int, int]]:
    """(file, 1-based line number, id) of each row of D/in, the file source's coordinates
    of a JSON line."""
    out = []
    for path in sorted(glob.glob(os.path.join(d, "in", "part-*.jsonl"))):
        with open(path) as f:
            for n, line in enumerate(f, start=1):
                if line.strip():
                    out.append((os.path.basename(path), n, json.loads(line)["id"]))
    return out


def read_dir(d: str, column: str = "ts") -> list[list[dict]]:
    epochs = []
    for path in sorted(glob.glob(os.path.join(d, "part-*.jsonl"))):
        rows = []
        with open(path) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    t = dt.datetime.strptime(row[column], "%Y-%m-%dT%H:%M:%S.%fZ")
                    t = t.replace(tzinfo=dt.timezone.utc)
                    row["t"] = round((t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
                                     / dt.timedelta(microseconds=1))
                    rows.append(row)
        epochs.append(rows)
    return epochs


def joined_rows(args):
    """The orders and payments that were not late for the join, and the late ones (each
    row with its epoch)."""
    orders = read_dir(os.path.join(args.dir, "orders"))
    payments = read_dir(os.path.join(args.dir, "payments"))
    marks_o = watermarks(orders, 30 * SEC)
    marks_p = watermarks(payments, 60 * SEC)
    kept_o, kept_p, late = [], [], []
    first = None
    if getattr(args, "first_per_customer", False):
        # The deduplication before the join, by customer, ties by order id.
        keyed = [[dict(r, id=r["customer"], attempt=r["id"], order=r["id"]) for r in rows]
                 for rows in orders]
        passed, late_d, _, _ = dedup_oracle(keyed, 30 * SEC, marks_o)
        first = {r["order"] for r in passed}
        late_first = {order for _, order, _ in late_d}
    for e in range(len(orders)):
        wo, wp = marks_o[e][0], marks_p[e][0]
        bound = None if wo is None or wp is None else min(wo, wp)
        for row in orders[e]:
            # WHERE on the orders alone filters them before the join too.
            if getattr(args, "amount_over", None) is not None and not row["amount"] > args.amount_over:
                continue
            if first is not None:
                # No first order is late for the join: its bound is at most the orders'.
                if row["id"] in late_first:
                    late.append((row, e))
                elif row["id"] in first:
                    kept_o.append(row)
                continue
            if bound is not None and row["t"] <= bound:
                late.append((row, e))
            else:
                kept_o.append(row)
        for row in payments[e]:
            # A filter of the payments in ON drops them before the join, after they moved
            # its watermark (each side's is its source's).
            if getattr(args, "paid_over", None) is not None and not row["paid"] > args.paid_over:
                continue
            if bound is not None and row["t"] <= bound:
                late.append((row, e))
            else:
                kept_p.append(row)
    return kept_o, kept_p, late


def matches(kept_o, kept_p, mod=None):
    """Each order with the payments it joins (p.ts within 1 minute before to 3 minutes
    after the order); with `mod`, on `p.order_id % mod = o.id % mod`."""
    key = (lambda k: k) if mod is None else (lambda k: k % mod)
    by_order: dict = {}
    for p in kept_p:
        by_order.setdefault(key(p["order_id"]), []).append(p)
    for o in kept_o:
        yield o, [p for p in by_order.get(key(o["id"]), [])
                  if o["t"] - 60 * SEC <= p["t"] <= o["t"] + 180 * SEC]


def check_join(args) -> dict:
    kept_o, kept_p, late = joined_rows(args)
    semi = getattr(args, "semi", False)
    # A semi join keeps only the payments' columns it reads after its filter (its key and
    # ts): its late payments are told apart by their time (random microseconds), as
    # -(t mod 10^12).
    late = [(r["id"] if "id" in r else -(r["t"] % 10**12) if semi else r["pid"], e)
            for r, e in late]
    payment_id = ("-(epoch_us(CAST(json_extract_string(payload, '$.ts') AS TIMESTAMPTZ)) "
                  "% 1000000000000)" if semi else "json_extract(payload, '$.pid')")
    want, matched, unmatched = [], 0, 0
    gate = getattr(args, "on_amount_over", None)
    multiple = 0
    for o, hits in matches(kept_o, kept_p, getattr(args, "key_mod", None)):
        multiple += len(hits) > 1
        # An order failing a condition of ON on the orders matches no payment.
        if gate is not None and not o["amount"] > gate:
            hits = []
        # A condition of ON on both sides decides which pairs match.
        if getattr(args, "paid_under_amount", False):
            hits = [p for p in hits if p["paid"] < o["amount"]]
        for p in hits:
            want.append((o["id"], o["customer"], o["amount"], p["pid"], p["paid"]))
        if hits:
            matched += 1
        else:
            unmatched += 1
            want.append((o["id"], o["customer"], o["amount"], None, None))
    con = connect()
    table = table_path(args.out, args.table)
    if semi:
        # Each order with a match, once, with its own columns; none without.
        want = sorted({(i, c, a) for i, c, a, p, _ in want if p is not None})
        diff = diff_with(
            con, "want", "order_id BIGINT, customer VARCHAR, amount BIGINT", want,
            f"SELECT order_id, customer, amount FROM delta_scan({lit(table)})")
    else:
        diff = diff_with(
            con, "want",
            "order_id BIGINT, customer VARCHAR, amount BIGINT, pid BIGINT, paid BIGINT",
            want, f"SELECT order_id, customer, amount, pid, paid FROM delta_scan({lit(table)})")
    late_diff = diff_with(
        con, "want_late", "id BIGINT, epoch BIGINT", late,
        late_sql(args, f"coalesce(json_extract(payload, '$.id'), {payment_id})"))
    problems = verdict(diff, late_diff, bool(matched and unmatched and late),
                       "matched and unmatched orders and late rows")
    if semi and not multiple:
        # A semi join's promise is each row once, however many rows it matches.
        problems.append("the input must hold orders with several matching payments")
    return {"rows": len(want), "matched_orders": matched, "unmatched_orders": unmatched,
            "orders_with_several_matches": multiple,
            "late": len(late), "table": diff, "late_rows": late_diff,
            "ok": not problems, "problems": problems}


def check_join_windows(args) -> dict:
    """Windows over the inner join's pairs: T (1-minute windows of the order's time per
    customer: count, sum of paid) and T2 (of the payment's time: count, sum of amount)."""
    kept_o, kept_p, late = joined_rows(args)
    # T2 reads a RIGHT join: a payment no order matches counts too, with a null amount.
    matched_payments = set()
    # A join keeps (and sends to the dead letters) only the columns its query reads, and
    # neither query reads a payment's pid: a late payment goes by its order_id here.
    late = [(r["id"] if "id" in r else r["order_id"] + 10**9, e) for r, e in late]
    minute = 60 * SEC
    by_order_time: dict = {}
    by_payment_time: dict = {}
    for o, hits in matches(kept_o, kept_p):
        for p in hits:
            start = o["t"] // minute * minute
            by_order_time.setdefault((start, start + minute, o["customer"]), []).append(p["paid"])
            start = p["t"] // minute * minute
            by_payment_time.setdefault((start, start + minute), []).append(o["amount"])
            matched_payments.add(p["pid"])
    unmatched = [p for p in kept_p if p["pid"] not in matched_payments]
    for p in unmatched:
        start = p["t"] // minute * minute
        by_payment_time.setdefault((start, start + minute), []).append(None)
    con = connect()
    got = lambda t, cols: (f"SELECT epoch_us(window_start), epoch_us(window_end), {cols} "
                           f"FROM delta_scan({lit(table_path(args.out, t))})")
    diff = diff_with(con, "want", "s BIGINT, e BIGINT, customer VARCHAR, n BIGINT, paid BIGINT",
                     [(s, e, c, len(v), sum(v)) for (s, e, c), v in sorted(by_order_time.items())],
                     got(args.table, "customer, n, paid"))
    diff2 = diff_with(con, "want2", "s BIGINT, e BIGINT, n BIGINT, amount BIGINT",
                      [(s, e, len(v), sum(x for x in v if x is not None)
                        if any(x is not None for x in v) else None)
                       for (s, e), v in sorted(by_payment_time.items())],
                      got(args.table2, "n, amount"))
    # Each of the two joins routes the same late rows; the windows none.
    late_diff = diff_with(
        con, "want_late", "id BIGINT, epoch BIGINT", late + late,
        late_sql(args, "coalesce(json_extract(payload, '$.id'), "
                       "CAST(json_extract(payload, '$.order_id') AS BIGINT) + 1000000000)"))
    problems = verdict(diff, late_diff, bool(late and by_order_time and unmatched),
                       "pairs, unmatched payments and late rows")
    if diff2["missing"] or diff2["unexpected"]:
        problems.append("the windows of the payments' time differ from the oracle")
    return {"windows": len(by_order_time), "windows_by_payment_time": len(by_payment_time),
            "unmatched_payments": len(unmatched),
            "late": len(late), "table": diff, "table2": diff2, "late_rows": late_diff,
            "ok": not problems, "problems": problems}


def write_union(args) -> dict:
    rng = random.Random(args.seed)
    sides = {"web": ("ts", 0, 0), "app": ("created", 1_000_000, 30 * 60 * SEC)}
    counts = {}
    for side, (column, first_id, behind) in sides.items():
        os.makedirs(os.path.join(args.dir, side), exist_ok=True)
        n = 0
        for e in range(EPOCHS):
            rows = []
            for _ in range(PER_EPOCH):
                t = BASE_US - behind + e * 20 * SEC + rng.randrange(20 * SEC) \
                    - rng.randrange(10 * SEC)
                if rng.random() < 0.04:
                    t -= rng.randrange(300 * SEC, 600 * SEC)
                v = -1 if side == "app" and rng.random() < 0.05 else rng.randrange(1000)
                rows.append({"id": first_id + n, "sensor": f"s{rng.randrange(4)}",
                             column: ts_text(t), "v": v})
                n += 1
            with open(os.path.join(args.dir, side, f"part-{e:05d}.jsonl"), "w") as f:
                f.write("\n".join(json.dumps(r) for r in rows) + "\n")
        counts[side] = n
    return counts


def check_union(args) -> dict:
    sides = {}
    for side, column, delay in (("web", "ts", 60 * SEC), ("app", "created", 120 * SEC)):
        epochs = []
        for rows in read_dir(os.path.join(args.dir, side), column):
            epochs.append(rows)
        sides[side] = (epochs, watermarks(epochs, delay))
    size = 60 * SEC
    windows: dict = {}
    late = []
    saved = 0  # app rows that the web's watermark alone would have made late
    w_union = None
    for e in range(EPOCHS):
        # W(e-1) of the union: the least of the sources', -inf until each has had rows,
        # never back.
        marks = [m[e][0] for _, m in sides.values()]
        if None not in marks:
            w_union = min(marks) if w_union is None else max(w_union, min(marks))
        web_alone = sides["web"][1][e][0]
        for side, (epochs, _) in sides.items():
            for row in epochs[e]:
                if row["v"] < 0:
                    continue
                start = (row["t"] // size) * size
                end = start + size
                if w_union is not None and end <= w_union:
                    late.append((row["id"], e))
                    continue
                if side == "app" and web_alone is not None and end <= web_alone:
                    saved += 1
                windows.setdefault((start, end, row["sensor"]), []).append(row["v"])
    con = connect()
    table = table_path(args.out, args.table)
    got = (f"SELECT epoch_us(window_start), epoch_us(window_end), sensor, n, total "
           f"FROM delta_scan({lit(table)})")
    diff = diff_with(
        con, "want", "window_start BIGINT, window_end BIGINT, sensor VARCHAR, n BIGINT, "
        "total BIGINT",
        [(s, e, k, len(vs), sum(vs)) for (s, e, k), vs in sorted(windows.items())], got)
    late_diff = diff_with(con, "want_late", "id BIGINT, epoch BIGINT", late,
                          late_sql(args, "json_extract(payload, '$.id')"))
    problems = verdict(diff, late_diff, bool(late and saved),
                       "late rows, and app rows the web's watermark alone would drop")
    return {"windows": len(windows), "late": len(late), "app_rows_kept_by_min": saved,
            "table": diff, "late_rows": late_diff, "ok": not problems, "problems": problems}


def main(argv) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--dir", required=True)
    w.add_argument("--seed", type=int, default=7)
    c = sub.add_parser("check")
    c.add_argument("--dir", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--table", required=True)
    c.add_argument("--dlq", default="dead_letters")
    c.add_argument("--size", type=int, required=True)
    c.add_argument("--delay", type=int, required=True)
    c.add_argument("--lateness", type=int, required=True)
    c.add_argument("--by-coordinates", action="store_true",
                   help="match late dead letters to input rows by file and line")
    wd = sub.add_parser("write-dups")
    wd.add_argument("--dir", required=True)
    wd.add_argument("--seed", type=int, default=7)
    cd = sub.add_parser("check-dedup")
    cd.add_argument("--dir", required=True)
    cd.add_argument("--out", required=True)
    cd.add_argument("--table", required=True)
    cd.add_argument("--dlq", default="dead_letters")
    cd.add_argument("--delay", type=int, required=True)
    cd.add_argument("--union", action="store_true",
                    help="the input is D/a and D/b (write-dups-union), read as one union")
    cd.add_argument("--row-number",
                    help="the table keeps this row number column (SELECT *): all 1, BIGINT")
    wdu = sub.add_parser("write-dups-union")
    wdu.add_argument("--dir", required=True)
    wdu.add_argument("--seed", type=int, default=7)
    wj = sub.add_parser("write-join")
    wj.add_argument("--dir", required=True)
    wj.add_argument("--seed", type=int, default=7)
    cj = sub.add_parser("check-join")
    cj.add_argument("--dir", required=True)
    cj.add_argument("--out", required=True)
    cj.add_argument("--table", required=True)
    cj.add_argument("--dlq", default="dead_letters")
    cj.add_argument("--paid-over", type=int,
                    help="the join's ON also holds p.paid > N (payments filtered before it)")
    cj.add_argument("--amount-over", type=int,
                    help="the query's WHERE holds o.amount > N (orders filtered before the join)")
    cj.add_argument("--on-amount-over", type=int,
                    help="the join's ON holds o.amount > N (failing orders come out unmatched)")
    cj.add_argument("--key-mod", type=int,
                    help="the join's key is p.order_id % N = o.id % N (many pairs per order)")
    cj.add_argument("--first-per-customer", action="store_true",
                    help="the orders are deduplicated per customer before the join")
    cj.add_argument("--semi", action="store_true",
                    help="the query is a LEFT SEMI JOIN (each matching order once)")
    cj.add_argument("--paid-under-amount", action="store_true",
                    help="the join's ON holds p.paid < o.amount (a condition on both sides)")
    cw = sub.add_parser("check-join-windows")
    cw.add_argument("--dir", required=True)
    cw.add_argument("--out", required=True)
    cw.add_argument("--table", required=True)
    cw.add_argument("--table2", required=True)
    cw.add_argument("--dlq", default="dead_letters")
    wu = sub.add_parser("write-union")
    wu.add_argument("--dir", required=True)
    wu.add_argument("--seed", type=int, default=7)
    cu = sub.add_parser("check-union")
    cu.add_argument("--dir", required=True)
    cu.add_argument("--out", required=True)
    cu.add_argument("--table", required=True)
    cu.add_argument("--dlq", default="dead_letters")
    args = parser.parse_args(argv)
    commands = {"write-join": write_join, "check-join": check_join, "write": write, "check": check, "write-dups": write_dups,
                "check-dedup": check_dedup, "write-dups-union": write_dups_union, "write-union": write_union,
                "check-union": check_union, "check-join-windows": check_join_windows}
    result = commands[args.cmd](args)
    print(json.dumps(result, default=str))
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
