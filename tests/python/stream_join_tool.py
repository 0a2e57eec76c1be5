"""A stream–table join that follows its Delta table, checked with DuckDB.

    stream_join_tool.py customers --dir D
        Writes D/customers-in/customers.jsonl: customers 1..30, every tier 'basic'.
    stream_join_tool.py sales --dir D --batch N --seed S
        Writes D/sales-N/sales.jsonl: 200 sales with ids N*1000.., customer ids 1..34
        (31..34 are unknown) and some null.
    stream_join_tool.py count --table T
        Prints the row count of the Delta table T (0 while it does not exist).
    stream_join_tool.py check --dir D --silver T --batches K
        The expected tier of each sale of batch N is the customers table as the test
        changed it before batch N was loaded: version 1 all 'basic'; before batch 2, the
        even ids became 'platinum'; before batch 3, the ids divisible by 3 'diamond'. A
        sale with a null or unknown customer has a null tier (left join). Compares the
        (sale_id, customer_id, tier) multiset of T (delta_scan) with it, and checks that
        no sale appears twice.
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, multiset_diff  # noqa: E402


def customers(args):
    os.makedirs(f"{args.dir}/customers-in", exist_ok=True)
    with open(f"{args.dir}/customers-in/customers.jsonl", "w") as f:
        for i in range(1, 31):
            f.write(json.dumps({"customer_id": i, "tier": "basic", "region": f"r{i % 4}"}) + "\n")
    print("wrote customers")


def sales(args):
    rng = random.Random(args.seed * 1000 + args.batch)
    d = f"{args.dir}/sales-{args.batch}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/sales.jsonl", "w") as f:
        for i in range(200):
            customer = None if i % 25 == 0 else rng.randrange(1, 35)
            f.write(json.dumps({
                "sale_id": args.batch * 1000 + i,
                "customer_id": customer,
                "amount": round(rng.uniform(1, 100), 2),
            }) + "\n")
    print(f"wrote sales batch {args.batch}")


def tiers_before(batch):
    tiers = {i: "basic" for i in range(1, 31)}
    if batch >= 2:
        tiers.update({i: "platinum" for i in tiers if i % 2 == 0})
    if batch >= 3:
        tiers.update({i: "diamond" for i in tiers if i % 3 == 0})
    return tiers


def count(args):
    con = connect()
    try:
        n = con.execute(f"SELECT count(*) FROM delta_scan('{args.table}')").fetchone()[0]
    except Exception:  # noqa: BLE001 - the table does not exist yet
        n = 0
    print(n)


def check(args):
    con = connect()
    con.execute("CREATE TABLE want (sale_id BIGINT, customer_id BIGINT, tier VARCHAR)")
    rows = []
    for batch in range(1, args.batches + 1):
        tiers = tiers_before(batch)
        with open(f"{args.dir}/sales-{batch}/sales.jsonl") as f:
            for line in f:
                s = json.loads(line)
                c = s["customer_id"]
                rows.append((s["sale_id"], c, tiers.get(c) if c is not None else None))
    con.executemany("INSERT INTO want VALUES (?, ?, ?)", rows)
    got = f"SELECT sale_id, customer_id, tier FROM delta_scan('{args.silver}')"
    diff = multiset_diff(con, "SELECT * FROM want", got)
    repeated = con.execute(
        f"SELECT count(*) FROM (SELECT sale_id FROM ({got}) GROUP BY sale_id HAVING count(*) > 1)"
    ).fetchone()[0]
    changed = con.execute(
        f"SELECT count(*) FROM ({got}) WHERE tier IN ('platinum', 'diamond')"
    ).fetchone()[0]
    ok = (diff["rows_expected"] == 200 * args.batches and diff["missing"] == 0
          and diff["unexpected"] == 0 and repeated == 0 and changed > 0)
    print(json.dumps({"check": "stream-table join", **diff, "repeated_sales": repeated,
                      "rows_with_updated_tiers": changed, "ok": ok}))
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("customers")
    c.add_argument("--dir", required=True)
    s = sub.add_parser("sales")
    s.add_argument("--dir", required=True)
    s.add_argument("--batch", type=int, required=True)
    s.add_argument("--seed", type=int, default=7)
    n = sub.add_parser("count")
    n.add_argument("--table", required=True)
    k = sub.add_parser("check")
    k.add_argument("--dir", required=True)
    k.add_argument("--silver", required=True)
    k.add_argument("--batches", type=int, required=True)
    args = ap.parse_args()
    {"customers": customers, "sales": sales, "count": count, "check": check}[args.cmd](args)


if __name__ == "__main__":
    main()
