#!/usr/bin/env python3
"""The oracle of the decimal tests, computed with Python's `decimal` module.

  write --dir DIR [--seed N]
      DIR/in/part-NNNNN.jsonl, one file per epoch: events with a `price` written as a
      JSON number or a quoted number, with up to four places (more than the column's
      two), some in exponent form; some prices are null, some are no number, some have
      more digits before the point than DECIMAL(10, 2) holds; and a `balance`, quoted,
      of up to 20 digits before the point (a few of 28) and 12 after, for DECIMAL(38,
      10). Event times only grow, so no row is late for any watermark.
  check --dir DIR --out OUT
      Reads the job's tables with DuckDB's Delta extension and compares them with the
      oracle's:
        priced         id, price (DECIMAL(10, 2)), tripled (price * 3)
        per_minute     1-minute tumbling windows per sensor: n, priced (count(price)),
                       total (sum, DECIMAL(20, 2)), mean (avg, DECIMAL(14, 6)), lo, hi
                       (min, max, DECIMAL(10, 2))
        wide_minute    the same windows of the balances, DECIMAL(38, 10): n, total (sum,
                       DECIMAL(38, 10), NULL past 28 digits before the point), mean (avg,
                       DECIMAL(38, 14), NULL past 24), lo, hi: past the 18 digits the
                       moments keep, in 128 bits
        dead_letters   exactly the rows whose price is no DECIMAL(10, 2)
      A price is read as Spark's CAST reads it: rounded half up to two places, and not
      read when it has more than eight digits before the point. An average is the exact
      sum over the count, rounded half up to six places (Spark's avg of a DECIMAL(10, 2)).

Prints one JSON object; exits 0 when the tables match, 1 when they differ.
"""

from __future__ import annotations

import decimal
import json
import os
import random
import sys
from decimal import ROUND_HALF_UP, Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, lit, table_path  # noqa: E402
from epoch_files import BASE_US, MINUTE, SEC, main, read_rows, ts_text, write_epochs  # noqa: E402

EPOCHS = 30
PER_EPOCH = 40
CENT = Decimal("0.01")
MEAN_PLACES = Decimal("0.000001")
LIMIT = Decimal(10) ** 8  # DECIMAL(10, 2) holds less than 10^8
decimal.getcontext().prec = 60


def price_text(rng: random.Random) -> str:
    whole = rng.randrange(0, 100_000)
    places = rng.choice([0, 1, 2, 3, 3, 4])
    sign = "-" if rng.random() < 0.2 else ""
    if places == 0:
        return f"{sign}{whole}"
    frac = rng.randrange(10**places)
    # Ties: a last digit of 5 past the second place rounds away from zero.
    if places >= 3 and rng.random() < 0.3:
        frac = frac - frac % 10 + 5
    text = f"{sign}{whole}.{frac:0{places}d}"
    if rng.random() < 0.05:
        # The same value in exponent form: 1234.5 is 1.2345e3.
        digits = f"{whole}{frac:0{places}d}".lstrip("0") or "0"
        exponent = len(str(whole)) - 1 if whole else -places + len(digits) - 1
        return f"{sign}{digits[0]}.{digits[1:] or '0'}e{exponent}"
    return text


def write(args) -> dict:
    rng = random.Random(args.seed)
    t = BASE_US
    n = 0
    epochs = []
    for _ in range(EPOCHS):
        lines = []
        for _ in range(PER_EPOCH):
            t += rng.randrange(1, 3 * SEC)
            roll = rng.random()
            if roll < 0.04:
                price = json.dumps(rng.choice(["abc", "1.2.3", "", "12,50"]))
            elif roll < 0.07:
                price = rng.choice(["123456789.5", "-100000000", '"99999999.995"'])
            elif roll < 0.11:
                price = "null"
            elif roll < 0.45:
                price = json.dumps(price_text(rng))
            else:
                price = price_text(rng)
            lines.append(f'{{"id": {n}, "sensor": "s{rng.randrange(3)}", '
                         f'"ts": "{ts_text(t)}", "price": {price}, '
                         f'"balance": {balance_text(rng)}}}')
            n += 1
        epochs.append(lines)
    write_epochs(args.dir, epochs)
    return {"files": EPOCHS, "rows": n}


def balance_text(rng: random.Random) -> str:
    """A quoted balance of up to 20 digits before the point and up to 12 after it, or
    null; now and then a positive one of 28 digits (two of which in a window make a sum
    that DECIMAL(38, 10) cannot hold)."""
    if rng.random() < 0.05:
        return "null"
    big = rng.random() < 0.06
    whole = rng.randrange(5 * 10**27, 10**28) if big else rng.randrange(10 ** rng.randrange(1, 21))
    places = rng.randrange(13)
    sign = "-" if rng.random() < 0.3 and not big else ""
    fraction = f".{rng.randrange(10 ** places):0{places}d}" if places else ""
    return json.dumps(f"{sign}{whole}{fraction}")


def wide(rows):
    """The wide_minute windows: count, sum, mean, least and greatest of the balances, as
    DECIMAL(38, 10) reads them and Spark types their aggregates."""
    windows = {}
    for row in rows:
        if not read_price(row["price"])[0]:
            continue  # a dead letter
        b = row.get("balance")
        b = None if b is None else Decimal(b).quantize(Decimal(10) ** -10, rounding=ROUND_HALF_UP)
        start = row["t"] // MINUTE * MINUTE
        windows.setdefault((start, start + MINUTE, row["sensor"]), []).append(b)
    out = []
    for (start, end, sensor), values in sorted(windows.items()):
        values = [v for v in values if v is not None]
        if not values:
            out.append((start, end, sensor, 0, None, None, None, None))
            continue
        total = sum(values, Decimal(0))
        mean = (total / len(values)).quantize(Decimal(10) ** -14, rounding=ROUND_HALF_UP)
        out.append((start, end, sensor, len(values),
                    total if abs(total) < Decimal(10) ** 28 else None,
                    mean if abs(mean) < Decimal(10) ** 24 else None,
                    min(values), max(values)))
    return out


def read_price(value):
    """(ok, price): the price as DECIMAL(10, 2) reads it, or ok False."""
    if value is None:
        return True, None
    try:
        d = Decimal(value) if isinstance(value, str) else value
        if not d.is_finite():
            return False, None
    except decimal.InvalidOperation:
        return False, None
    q = d.quantize(CENT, rounding=ROUND_HALF_UP)
    if abs(q) >= LIMIT:
        return False, None
    return True, q


def oracle(rows):
    priced, bad, windows = [], [], {}
    for row in rows:
        ok, price = read_price(row["price"])
        if not ok:
            bad.append(int(row["id"]))
            continue
        priced.append((int(row["id"]), price, None if price is None else price * 3))
        start = row["t"] // MINUTE * MINUTE
        windows.setdefault((start, start + MINUTE, row["sensor"]), []).append(price)
    per_minute = []
    for (start, end, sensor), prices in sorted(windows.items()):
        values = [p for p in prices if p is not None]
        total = sum(values, Decimal(0)) if values else None
        mean = (total / len(values)).quantize(MEAN_PLACES, rounding=ROUND_HALF_UP) \
            if values else None
        per_minute.append((start, end, sensor, len(prices), len(values), total, mean,
                           min(values) if values else None, max(values) if values else None))
    return priced, sorted(bad), per_minute


def column_types(con, table: str) -> dict:
    return {r[0]: r[1] for r in con.execute(
        f"DESCRIBE SELECT * FROM delta_scan({lit(table)})").fetchall()}


def differences(want: list, got: list, limit: int = 5) -> dict:
    missing = [w for w in want if w not in got]
    unexpected = [g for g in got if g not in want]
    return {"rows_expected": len(want), "rows": len(got), "missing": len(missing),
            "unexpected": len(unexpected),
            "examples": [str(r) for r in (missing[:limit] + unexpected[:limit])]}


def check(args) -> dict:
    priced_want, bad_want, windows_want = oracle(read_rows(args.dir, parse_float=Decimal, parse_int=Decimal))
    con = connect()
    problems = []
    priced_table = table_path(args.out, "priced")
    windows_table = table_path(args.out, "per_minute")
    types = {**column_types(con, priced_table), **column_types(con, windows_table)}
    expected_types = {"price": "DECIMAL(10,2)", "total": "DECIMAL(20,2)",
                      "mean": "DECIMAL(14,6)", "lo": "DECIMAL(10,2)", "hi": "DECIMAL(10,2)"}
    for column, want in expected_types.items():
        if types.get(column) != want:
            problems.append(f"column {column} is {types.get(column)}, not {want}")
    priced_got = sorted(con.execute(
        f"SELECT id, price, tripled FROM delta_scan({lit(priced_table)})").fetchall())
    priced = differences(sorted(priced_want), priced_got)
    windows_got = sorted(con.execute(
        f"SELECT epoch_us(window_start), epoch_us(window_end), sensor, n, priced, total, "
        f"mean, lo, hi FROM delta_scan({lit(windows_table)})").fetchall())
    windows = differences(windows_want, windows_got)
    wide_table = table_path(args.out, "wide_minute")
    wide_want = wide(read_rows(args.dir, parse_float=Decimal, parse_int=Decimal))
    wide_got = sorted(con.execute(
        f"SELECT epoch_us(window_start), epoch_us(window_end), sensor, n, total, mean, lo, hi "
        f"FROM delta_scan({lit(wide_table)})").fetchall())
    wide_diff = differences(wide_want, wide_got)
    wide_types = column_types(con, wide_table)
    for column, want in {"total": "DECIMAL(38,10)", "mean": "DECIMAL(38,14)",
                         "lo": "DECIMAL(38,10)", "hi": "DECIMAL(38,10)"}.items():
        if wide_types.get(column) != want:
            problems.append(f"wide_minute.{column} is {wide_types.get(column)}, not {want}")
    if not any(r[4] is None and r[3] for r in wide_want) or \
            not any(r[7] is not None and abs(r[7]) >= Decimal(10) ** 18 for r in wide_want):
        problems.append("the balances exercised no overflowing sum or no value past 18 digits")
    dead = con.execute(
        f"SELECT CAST(json_extract(payload, '$.id') AS BIGINT), error "
        f"FROM delta_scan({lit(table_path(args.out, 'dead_letters'))})").fetchall()
    bad_got = sorted(r[0] for r in dead)
    unnamed = [r for r in dead if "price" not in r[1]]
    for what, diff in (("priced", priced), ("per_minute", windows), ("wide_minute", wide_diff)):
        if diff["missing"] or diff["unexpected"] or diff["rows"] != diff["rows_expected"]:
            problems.append(f"{what} differs from the oracle")
    if bad_got != bad_want:
        problems.append(f"dead letters: ids {bad_got[:10]}..., the oracle's {bad_want[:10]}...")
    if unnamed:
        problems.append(f"dead letters whose error does not name the price: {unnamed[:3]}")
    if not bad_want or not windows_want:
        problems.append("the input exercised no bad price or no window")
    return {"priced": priced, "per_minute": windows, "wide_minute": wide_diff,
            "dead_letters": len(bad_got),
            "ok": not problems, "problems": problems}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], write, check))
