#!/usr/bin/env python3
"""The oracle of the lookup-join test: a stream of orders joined with a Delta table of
customers read whole (Spark's stream-static join).

  write --dir DIR [--seed N]
      The orders of event_time_tool.py write-join (DIR/orders/part-NNNNN.jsonl, one file
      per epoch: {id, customer c0..c8, ts, amount}, 3% of them 5 to 10 minutes late), and
      DIR/customers/part-00000.jsonl: {name, tier, credit, id} for c0 to c6, c3 twice (two
      tiers), c7 and c8 missing; id numbers the rows from 0 (named like the orders' id).
  check --dir DIR --out OUT
      Reads the job's tables with DuckDB's Delta extension and compares them with the
      oracle's, computed in plain Python from the same files:
        enriched      id, customer, amount, tier: every order LEFT JOIN customers ON
                      customer = name (an order of c3 twice, of c7 or c8 once with a null)
        tier_minutes  window_start, tier, n, total: 1-minute windows of the order's time
                      per tier over the INNER join, of the orders that were not late: the
                      watermark is computed here from the orders' files (delay 30 s), and
                      an order of epoch e is late when its window ends at or before W(e-1)
        strangers     id: the orders of no customer (LEFT ANTI JOIN)
        rich_gold     id, credit: every order LEFT JOIN customers ON customer = name AND
                      tier = 'gold' AND credit > 850 (conditions of ON on the table alone:
                      an order of c3, whose gold row has credit 800, gets a null)
        big_orders    id, tier: the orders over 200 INNER JOIN customers ON customer = name
                      AND credit > amount (conditions of ON on the stream, and on both)
        numbered      id, number: the orders INNER JOIN customers ON customer = name AND
                      the customer's id > 2, WHERE the customer's id * 100 < the order's id
                      (a table column named like a stream column, read qualified)
        big_tiers     id, tier: every order LEFT JOIN customers ON customer = name AND
                      amount > 300 (a condition of ON on the stream alone: an order of 300
                      or less gets a null, known customer or not)
        unmatched_big id: the orders LEFT ANTI JOIN customers likewise (the orders of 300
                      or less, and those of unknown customers)
        dead_letters  the late joined rows (id, epoch): an order of c3 twice
      Every table must hold exactly those rows.

Prints one JSON object; exits 0 when the tables match, 1 when they differ.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, lit, table_path  # noqa: E402
from epoch_files import main  # noqa: E402
from event_time_tool import SEC, read_dir, watermarks, write_join  # noqa: E402

CUSTOMERS = [("c0", "gold", 900), ("c1", "silver", 500), ("c2", "bronze", 100),
             ("c3", "gold", 800), ("c3", "silver", 400), ("c4", "silver", 450),
             ("c5", "bronze", 120), ("c6", "gold", 990)]
MINUTE = 60 * SEC


def write(args) -> dict:
    out = write_join(args)
    os.makedirs(os.path.join(args.dir, "customers"), exist_ok=True)
    with open(os.path.join(args.dir, "customers", "part-00000.jsonl"), "w") as f:
        f.write("\n".join(json.dumps({"name": n, "tier": t, "credit": c, "id": i})
                          for i, (n, t, c) in enumerate(CUSTOMERS)) + "\n")
    out["customers"] = len(CUSTOMERS)
    return out


def check(args) -> dict:
    epochs = read_dir(os.path.join(args.dir, "orders"))
    tiers: dict = {}
    for name, tier, _ in CUSTOMERS:
        tiers.setdefault(name, []).append(tier)
    marks = watermarks(epochs, 30 * SEC)
    enriched, strangers, windows, late = [], [], {}, []
    rich_gold, big_orders, numbered, big_tiers, unmatched_big = [], [], [], [], []
    for e, rows in enumerate(epochs):
        bound = marks[e][0]
        for o in rows:
            rich = [c for n, t, c in CUSTOMERS if n == o["customer"] and t == "gold" and c > 850]
            rich_gold.extend((o["id"], c) for c in rich or [None])
            big_orders.extend((o["id"], t) for n, t, c in CUSTOMERS
                              if n == o["customer"] and o["amount"] > 200 and c > o["amount"])
            numbered.extend((o["id"], i) for i, (n, _, _) in enumerate(CUSTOMERS)
                            if n == o["customer"] and i > 2 and i * 100 < o["id"])
            big = o["amount"] is not None and o["amount"] > 300
            matched = [t for n, t, _ in CUSTOMERS if big and n == o["customer"]]
            big_tiers.extend((o["id"], t) for t in matched or [None])
            if not matched:
                unmatched_big.append((o["id"],))
            found = tiers.get(o["customer"], [])
            enriched.extend((o["id"], o["customer"], o["amount"], t) for t in found or [None])
            if not found:
                strangers.append((o["id"],))
                continue
            start = o["t"] // MINUTE * MINUTE
            if bound is not None and start + MINUTE <= bound:
                # Each joined row is a record of the window's: late once per match.
                late.extend((o["id"], e) for _ in found)
                continue
            for t in found:
                n, total = windows.get((start, t), (0, 0))
                windows[(start, t)] = (n + 1, total + o["amount"])
    want = {
        "enriched": sorted(enriched, key=lambda r: tuple((x is None, x) for x in r)),
        "tier_minutes": sorted((s, t, n, total) for (s, t), (n, total) in windows.items()),
        "strangers": sorted(strangers),
        "dead_letters": sorted(late),
        "rich_gold": sorted(rich_gold, key=lambda r: tuple((x is None, x) for x in r)),
        "big_orders": sorted(big_orders),
        "numbered": sorted(numbered),
        "big_tiers": sorted(big_tiers, key=lambda r: tuple((x is None, x) for x in r)),
        "unmatched_big": sorted(unmatched_big),
    }
    queries = {
        "enriched": "SELECT id, customer, amount, tier FROM {t}",
        "tier_minutes": "SELECT epoch_us(window_start), tier, n, total FROM {t}",
        "strangers": "SELECT id FROM {t}",
        "dead_letters": "SELECT CAST(json_extract(payload, '$.id') AS BIGINT), epoch FROM {t} "
                        "WHERE reason = 'late'",
        "rich_gold": "SELECT id, credit FROM {t}",
        "big_orders": "SELECT id, tier FROM {t}",
        "numbered": "SELECT id, number FROM {t}",
        "big_tiers": "SELECT id, tier FROM {t}",
        "unmatched_big": "SELECT id FROM {t}",
    }
    con = connect()
    result, problems = {}, []
    for table, wanted in want.items():
        sql = queries[table].format(t=f"delta_scan({lit(table_path(args.out, table))})")
        have = sorted(con.execute(sql).fetchall(), key=lambda r: tuple((x is None, x) for x in r))
        result[table] = {"rows_expected": len(wanted), "rows": len(have)}
        if have != wanted:
            result[table].update(missing=[r for r in wanted if r not in have][:5],
                                 unexpected=[r for r in have if r not in wanted][:5])
            problems.append(f"{table} differs from the oracle")
    if not (late and strangers and any(len(v) > 1 for v in tiers.values())):
        problems.append("the input must hold late orders, orders of no customer and a "
                        "customer of two rows")
    # The conditions of ON must decide something: an order of a known customer with a
    # null, and orders over 200 of a customer who matched with too little credit.
    known = {n for n, _, _ in CUSTOMERS}
    orders = {o["id"]: o for rows in epochs for o in rows}
    if not any(t is None and orders[i]["customer"] in known for i, t in big_tiers):
        problems.append("no known customer's order lost its match to the stream's condition")
    if not any(c is None and orders[i]["customer"] in known for i, c in rich_gold):
        problems.append("no known customer's order lost its match to the table's conditions")
    if not any(o["amount"] > 200 and o["customer"] in known and (o["id"], t) not in big_orders
               for o in orders.values() for n, t, _ in CUSTOMERS if n == o["customer"]):
        problems.append("no order over 200 lost a match to the condition on both sides")
    result["conditions"] = {"rich_gold_matched": sum(c is not None for _, c in rich_gold),
                            "big_orders": len(big_orders)}
    result.update(ok=not problems, problems=problems)
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], write, check))
