#!/usr/bin/env python3
"""The oracle of the unnest tests (Spark's `explode`, Flink's `CROSS JOIN UNNEST`), and of
JSON arrays read into ARRAY columns.

  write --dir DIR [--seed N]
      DIR/in/part-NNNNN.jsonl, one file per epoch: events with `tags`, text of
      comma-separated tags (some empty, some with empty tags between commas, some null);
      `labels`, a JSON array of strings (some numbers among them, some nulls; some arrays
      empty or null; some values no array at all, which makes the record a dead letter);
      `items`, a JSON array of objects {sku, qty} (qty sometimes missing); `attrs`, a JSON
      object of integers (a map), sometimes null; `labels_text`, the labels' JSON as text
      (some of it not JSON, which fails the row of the query parsing it: a dead letter);
      `visits`, a JSON array of objects {at, day, amount} declared
      ARRAY<STRUCT<at TIMESTAMP, day DATE, amount DECIMAL(8, 2)>>: `at` as RFC 3339 text
      in UTC or with an offset, or epoch milliseconds; `amount` a number or quoted number
      of up to 4 places (some on exact ties); a few `at` texts no timestamp, which makes
      the record a dead letter.
      Event times only grow, so no row is late for any watermark.
  check --dir DIR --out OUT
      Reads the job's tables with DuckDB's Delta extension and compares them with the
      oracle's, which splits the text with Python's str.split(','), as Spark's split does
      with a plain delimiter ('' is one empty tag):
        tagged       id, tag: a row per tag (explode), none for a null `tags`
        all_tags     id, tag: the same, and a null tag for a null `tags` (explode_outer)
        per_tag      1-minute tumbling windows per tag (CROSS JOIN UNNEST): n
        labelled     id, label: a row per element of `labels` (a number as its JSON text)
        item_rows    id, sku, qty: a row per object of `items`
        positioned   id, pos, col: posexplode(labels), positions from 0
        ordinals     id, sku, n: UNNEST(items) WITH ORDINALITY, positions from 1
        attr_keys    id, k: a row per key of `attrs` (explode(map_keys(attrs)))
        attr_red     id, red: attrs['red'] (null where the map has no such key)
        text_labels  id, label: explode(from_json(labels_text, 'ARRAY<STRING>'))
        inlined      id, sku, qty: inline(items), the structs' fields as columns
        inlined_text id, sku, qty: the same of `items_text`, the items' JSON as text
                     (inline of an expression: from_json(items_text, 'ARRAY<STRUCT<...>>'))
        item_fields  id, s, q, n: LEFT JOIN UNNEST(items) WITH ORDINALITY AS i (s, q, n),
                     a row of nulls for an event without items
        visit_rows   id, at, day, amount: a row per visit, `at` the instant its text or
                     milliseconds name (Python's datetime.fromisoformat), `amount` rounded
                     half up to 2 places (Python's decimal)
        runs         id, pos, col: posexplode(split(tags, ',+', 3)), by a regex into at
                     most 3 parts (Python's re.split with maxsplit=2, which splits as
                     Java's String.split(regex, 3) for a regex that matches no empty text)
        dead_letters exactly the records whose `labels` is no array

Prints one JSON object; exits 0 when the tables match, 1 when they differ.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import re
import sys
from decimal import ROUND_HALF_UP, Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, lit, table_path  # noqa: E402
from epoch_files import (  # noqa: E402
    BASE_US, EPOCH, MINUTE, SEC, main, read_rows, ts_text, write_epochs)

EPOCHS = 30
PER_EPOCH = 30
WORDS = ["red", "green", "blue", "cyan", "x"]


def visit(rng: random.Random, t: int):
    """One visit of an event at `t`: its time in one of the forms read, a day and an
    amount; `at` is no timestamp in about one visit in 60."""
    us = t - rng.randrange(0, 3600) * SEC - rng.randrange(1000) * 1000
    form = rng.randrange(4)
    if rng.random() < 1 / 60:
        at = "never"
    elif form == 0:
        at = ts_text(us)
    elif form == 1:
        at = us // 1000
    elif form == 2:
        hours = rng.randrange(-9, 10)
        local = EPOCH + dt.timedelta(microseconds=us) + dt.timedelta(hours=hours)
        at = local.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{'+' if hours >= 0 else '-'}" \
            f"{abs(hours):02d}:00"
    else:
        at = (EPOCH + dt.timedelta(microseconds=us)).strftime("%Y-%m-%d %H:%M:%S")
    day = (EPOCH + dt.timedelta(days=rng.randrange(19_000, 21_000))).strftime("%Y-%m-%d")
    cents = rng.randrange(-50_000, 500_000)
    places = rng.randrange(5)
    amount = f"{Decimal(cents * 100 + rng.choice([0, 50, rng.randrange(100)])) / 10_000:.{places}f}"
    visit = {"at": at, "day": day, "amount": amount if rng.random() < 0.5 else float(amount)}
    return visit if rng.random() < 0.9 else {k: v for k, v in visit.items() if k != "day"}


def write(args) -> dict:
    rng = random.Random(args.seed)
    t, n = BASE_US, 0
    epochs = []
    for _ in range(EPOCHS):
        rows = []
        for _ in range(PER_EPOCH):
            t += rng.randrange(1, 4 * SEC)
            roll = rng.random()
            if roll < 0.08:
                tags = None
            elif roll < 0.12:
                tags = ""
            else:
                tags = ",".join(rng.choice(WORDS + [""] * (roll < 0.2))
                                for _ in range(rng.randrange(1, 6)))
            row = {"id": n, "ts": ts_text(t), "tags": tags}
            roll = rng.random()
            if roll < 0.08:
                row["labels"] = None
            elif roll < 0.12:
                row["labels"] = rng.choice(["oops", {"a": 1}, 7])
            else:
                row["labels"] = [rng.choice([rng.choice(WORDS), rng.randrange(100), None])
                                 if rng.random() < 0.2 else rng.choice(WORDS)
                                 for _ in range(rng.randrange(0, 5))]
            if rng.random() < 0.9:
                row["items"] = [dict({"sku": rng.choice(WORDS)},
                                     **({"qty": rng.randrange(1, 9)} if rng.random() < 0.8
                                        else {}))
                                for _ in range(rng.randrange(0, 4))]
                row["items_text"] = json.dumps(row["items"])
            if isinstance(row["labels"], list):
                row["labels_text"] = "[1," if rng.random() < 0.05 else json.dumps(row["labels"])
            if rng.random() < 0.7:
                row["visits"] = [visit(rng, t) for _ in range(rng.randrange(0, 3))]
            if rng.random() < 0.85:
                row["attrs"] = {w: rng.randrange(-5, 50) for w in
                                rng.sample(WORDS, rng.randrange(0, 4))}
            rows.append(json.dumps(row))
            n += 1
        epochs.append(rows)
    write_epochs(args.dir, epochs)
    return {"files": EPOCHS, "rows": n}


def bad_labels(row) -> bool:
    labels = row.get("labels")
    return labels is not None and not isinstance(labels, list)


def bad_visits(row) -> bool:
    return any(v["at"] == "never" for v in row.get("visits") or [])


def bad(row) -> bool:
    return bad_labels(row) or bad_visits(row)


def instant(at) -> int:
    """The microseconds since the epoch that a visit's `at` names."""
    if isinstance(at, int):
        return at * 1000
    t = dt.datetime.fromisoformat(at)
    t = t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def oracle(rows):
    tagged, all_tags, windows = [], [], collections.Counter()
    labelled, items, positioned, ordinals, keys, red = [], [], [], [], [], []
    text_labels, runs, visits, item_fields = [], [], [], []
    for row in rows:
        if bad(row):
            continue
        for pos, label in enumerate(row.get("labels") or []):
            text = label if label is None or isinstance(label, str) else json.dumps(label)
            labelled.append((row["id"], text))
            if row.get("labels_text") != "[1,":
                text_labels.append((row["id"], text))
            positioned.append((row["id"], pos, text))
        if not row.get("items"):
            item_fields.append((row["id"], None, None, None))
        for n, item in enumerate(row.get("items") or [], start=1):
            item_fields.append((row["id"], item["sku"], item.get("qty"), n))
            items.append((row["id"], item["sku"], item.get("qty")))
            ordinals.append((row["id"], item["sku"], n))
        for v in row.get("visits") or []:
            amount = Decimal(str(v["amount"])).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            visits.append((row["id"], instant(v["at"]), v.get("day"), str(amount)))
        attrs = row.get("attrs")
        keys.extend((row["id"], k) for k in (attrs or {}))
        red.append((row["id"], None if attrs is None else attrs.get("red")))
        if row["tags"] is None:
            all_tags.append((row["id"], None))
            continue
        for pos, part in enumerate(re.split(",+", row["tags"], maxsplit=2)):
            runs.append((row["id"], pos, part))
        for tag in row["tags"].split(","):
            tagged.append((row["id"], tag))
            all_tags.append((row["id"], tag))
            start = row["t"] // MINUTE * MINUTE
            windows[(start, start + MINUTE, tag)] += 1
    per_tag = [(s, e, tag, n) for (s, e, tag), n in windows.items()]
    key = lambda r: tuple((x is None, x) for x in r)  # noqa: E731
    return [sorted(rows, key=key) for rows in
            (tagged, all_tags, per_tag, labelled, items, positioned, ordinals, keys, red,
             text_labels, runs, visits, item_fields)]


def check(args) -> dict:
    rows = read_rows(args.dir)
    (want_tagged, want_all, want_windows, want_labels, want_items, want_positioned,
     want_ordinals, want_keys, want_red, want_text_labels, want_runs,
     want_visits, want_item_fields) = oracle(rows)
    con = connect()
    key = lambda r: tuple((x is None, x) for x in r)  # noqa: E731

    def got(table: str, columns: str) -> list:
        rows = con.execute(
            f"SELECT {columns} FROM delta_scan({lit(table_path(args.out, table))})").fetchall()
        return sorted(rows, key=key)

    result = {}
    problems = []
    for table, columns, want in (
            ("tagged", "id, tag", want_tagged),
            ("all_tags", "id, tag", want_all),
            ("per_tag", "epoch_us(window_start), epoch_us(window_end), tag, n", want_windows),
            ("labelled", "id, label", want_labels),
            ("item_rows", "id, sku, qty", want_items),
            ("inlined", "id, sku, qty", want_items),
            ("inlined_text", "id, sku, qty", want_items),
            ("item_fields", "id, s, q, n", want_item_fields),
            ("positioned", "id, pos, col", want_positioned),
            ("ordinals", "id, sku, n", want_ordinals),
            ("attr_keys", "id, k", want_keys),
            ("attr_red", "id, red", want_red),
            ("text_labels", "id, label", want_text_labels),
            ("runs", "id, pos, col", want_runs),
            ("visit_rows", 'id, epoch_us("at"), CAST("day" AS VARCHAR), CAST(amount AS VARCHAR)',
             want_visits)):
        have = got(table, columns)
        result[table] = {"rows_expected": len(want), "rows": len(have)}
        if have != want:
            missing = [r for r in want if r not in have][:5]
            unexpected = [r for r in have if r not in want][:5]
            result[table].update(missing=missing, unexpected=unexpected)
            problems.append(f"{table} differs from the oracle")
    want_dead = sorted(r["id"] for r in rows if bad(r) or r.get("labels_text") == "[1,")
    dead = got("dead_letters",
               "CAST(json_extract(payload, '$.id') AS BIGINT), reason, coalesce(error, '')")
    # A record whose labels are no array fails to decode, naming them; a row whose labels'
    # text is no JSON fails from_json, which its error names.
    named = [d for d in dead if (d[1] == "parse_error" and ("labels" in d[2] or
                                                            "visits" in d[2]))
             or (d[1].startswith("error:") and "from_json: not JSON" in d[2])]
    if sorted(d[0] for d in dead) != want_dead or len(named) != len(dead):
        problems.append(f"dead letters {dead[:5]}..., the oracle's ids {want_dead[:5]}...")
    result["dead_letters"] = len(dead)
    empty = sum(1 for _, tag in want_tagged if tag == "")
    nulls = sum(1 for _, tag in want_all if tag is None)
    if not empty or not nulls:
        problems.append("the input exercised no empty tag or no null tags")
    texts = [r["tags"] for r in rows if r["tags"] and not bad(r)]
    capped = sum(1 for t in texts if len(re.split(",+", t)) > 3)
    collapsed = sum(1 for t in texts if ",," in t)
    if not capped or not collapsed:
        problems.append("the input exercised no split limit or no run of commas")
    never = sum(1 for r in rows if bad_visits(r))
    forms = collections.Counter(type(v["at"]).__name__ for r in rows
                                for v in r.get("visits") or [])
    if not never or len(forms) < 2:
        problems.append("the input exercised no bad visit time or not every form of it")
    result.update(capped=capped, collapsed=collapsed, bad_visits=never, visit_forms=forms)
    result.update(empty_tags=empty, null_tags=nulls, ok=not problems, problems=problems)
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], write, check))
