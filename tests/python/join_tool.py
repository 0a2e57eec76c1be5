"""Broadcast joins checked with DuckDB.

    join_tool.py data --dir D --seed S
        Writes D/sales/*.jsonl (sale_id, customer_id, product_id, amount; some customer
        ids null or unknown, some products unknown), D/customers/customers.parquet
        (customer_id, tier, region; one customer listed twice) and D/products/*.jsonl
        (product_id, category), plus D/products/zz-bad.jsonl with two rows that do not
        decode (a text product id, a line that is not JSON).
    join_tool.py check --dir D --tables T --kind left|inner|left-anti
        Computes the same join in DuckDB from the raw files and compares it with
        T/silver (delta_scan) as row multisets. When the job joined products, the
        dead-letter table T/dlq must hold exactly the two bad product rows, as parse
        errors at lines 1 and 2 of zz-bad.jsonl, in epoch 0.
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, multiset_diff  # noqa: E402


def data(args):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(args.seed)
    for sub in ("sales", "customers", "products"):
        os.makedirs(os.path.join(args.dir, sub), exist_ok=True)
    ids = list(range(1, 81))
    customers = [(c, rng.choice(["bronze", "silver", "gold"]), rng.choice(["eu", "us", None])) for c in ids]
    customers.append((7, "platinum", "eu"))  # a duplicate key: two rows per sale of customer 7
    pq.write_table(
        pa.table({
            "customer_id": pa.array([c[0] for c in customers], pa.int64()),
            "tier": [c[1] for c in customers],
            "region": [c[2] for c in customers],
        }),
        os.path.join(args.dir, "customers", "customers.parquet"),
    )
    with open(os.path.join(args.dir, "products", "products.jsonl"), "w") as f:
        for p in range(1, 21):
            f.write(json.dumps({"product_id": p, "category": rng.choice(["books", "games", "tools"])}) + "\n")
    with open(os.path.join(args.dir, "products", "zz-bad.jsonl"), "w") as f:
        f.write(json.dumps({"product_id": "not-a-number", "category": "books"}) + "\n")
        f.write("{not json\n")
    sale = 0
    for part in range(3):
        with open(os.path.join(args.dir, "sales", f"part-{part}.jsonl"), "w") as f:
            for _ in range(400):
                sale += 1
                r = rng.random()
                cid = None if r < 0.05 else (rng.randrange(81, 90) if r < 0.15 else rng.choice(ids))
                f.write(json.dumps({
                    "sale_id": sale,
                    "customer_id": cid,
                    "product_id": rng.randrange(1, 23),
                    "amount": round(rng.uniform(1, 500), 2),
                }) + "\n")
    print("wrote sales, customers and products")


def check(args):
    con = connect()
    d = args.dir
    con.execute(f"CREATE TABLE sales AS SELECT * FROM read_json('{d}/sales/*.jsonl', columns = {{sale_id: 'BIGINT', customer_id: 'BIGINT', product_id: 'BIGINT', amount: 'DOUBLE'}})")
    con.execute(f"CREATE TABLE customers AS SELECT * FROM read_parquet('{d}/customers/*.parquet')")
    con.execute(f"CREATE TABLE products AS SELECT * FROM read_json('{d}/products/products.jsonl', columns = {{product_id: 'BIGINT', category: 'VARCHAR'}})")
    if args.kind == "left-anti":
        want = "SELECT s.sale_id, s.amount FROM sales s WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = s.customer_id)"
        got = f"SELECT sale_id, amount FROM delta_scan('{args.tables}/silver')"
    else:
        join = "LEFT JOIN" if args.kind == "left" else "JOIN"
        want = (f"SELECT s.sale_id, s.amount, c.tier, c.region, p.category FROM sales s {join} customers c "
                "ON c.customer_id = s.customer_id JOIN products p ON p.product_id = s.product_id")
        got = f"SELECT sale_id, amount, tier, region, category FROM delta_scan('{args.tables}/silver')"
    diff = multiset_diff(con, want, got)
    ok = diff["rows_expected"] > 0 and diff["missing"] == 0 and diff["unexpected"] == 0
    dead = None
    if args.kind != "left-anti":
        dead = con.sql(
            f"SELECT reason, \"offset\", epoch FROM delta_scan('{args.tables}/dlq') "
            "WHERE source LIKE '%zz-bad.jsonl' ORDER BY \"offset\""
        ).fetchall()
        ok = ok and [(r[0], r[1], r[2]) for r in dead] == [("parse_error", 1, 0), ("parse_error", 2, 0)]
        dead = [list(r) for r in dead]
    print(json.dumps({"check": "join", "kind": args.kind, **diff, "bad_product_dead_letters": dead, "ok": ok}))
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("data")
    a.add_argument("--dir", required=True)
    a.add_argument("--seed", type=int, default=3)
    c = sub.add_parser("check")
    c.add_argument("--dir", required=True)
    c.add_argument("--tables", required=True)
    c.add_argument("--kind", required=True)
    args = ap.parse_args()
    data(args) if args.cmd == "data" else check(args)


if __name__ == "__main__":
    main()
