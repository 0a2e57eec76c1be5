"""A seeded change feed for the MERGE tests, and its expected final state from DuckDB.

    merge_tool.py feed --dir D --files F --keys K --seed S
        Writes D/0001.jsonl ... F files of changes (I/U/D) over K customer ids, in the
        schema of config/delta-merge.yaml; about 1 line in 60 has an unknown op.
    merge_tool.py check --feed D --table T
        Computes, with DuckDB over the JSON files alone, the last change per customer
        (file name, then line order) among lines with a known op, drops keys whose last
        change is a delete, and compares that with T (delta_scan) row for row.
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, multiset_diff  # noqa: E402


def feed(args):
    rng = random.Random(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    alive = set()
    for f in range(1, args.files + 1):
        with open(os.path.join(args.dir, f"{f:04d}.jsonl"), "w") as out:
            for i in range(rng.randrange(40, 120)):
                cid = rng.randrange(args.keys)
                if rng.random() < 1 / 60:
                    op = "X"
                elif cid in alive and rng.random() < 0.25:
                    op = "D"
                else:
                    op = "U" if cid in alive else "I"
                if op == "D":
                    alive.discard(cid)
                elif op != "X":
                    alive.add(cid)
                line = {
                    "customer_id": cid,
                    "name": f"name-{cid}-{f}-{i}",
                    "tier": rng.choice(["bronze", "silver", "gold", "platinum"]),
                    "email": None if rng.random() < 0.1 else f"c{cid}@example.com",
                    "op": op,
                    "changed_at": f"2026-01-{1 + f % 28:02d}T{i % 24:02d}:00:00Z",
                }
                out.write(json.dumps(line) + "\n")
    print(f"wrote {args.files} change files over {args.keys} keys")


def check(args):
    con = connect()
    con.execute(
        f"""CREATE TABLE feed AS SELECT *, filename AS file, row_number() OVER () AS n
            FROM read_json('{args.feed}/*.jsonl', filename = true, format = 'newline_delimited',
                 columns = {{customer_id: 'BIGINT', name: 'VARCHAR', tier: 'VARCHAR', email: 'VARCHAR',
                            op: 'VARCHAR', changed_at: 'VARCHAR'}})"""
    )
    con.execute(
        """CREATE TABLE want AS SELECT customer_id, name, tier, email, op FROM (
               SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY file DESC, n DESC) AS r
               FROM feed WHERE op IN ('I', 'U', 'D'))
           WHERE r = 1 AND op <> 'D'"""
    )
    con.execute(f"CREATE TABLE got AS SELECT customer_id, name, tier, email, op FROM delta_scan('{args.table}')")
    diff = multiset_diff(con, "SELECT * FROM want", "SELECT * FROM got")
    ok = diff["rows_expected"] > 0 and diff["missing"] == 0 and diff["unexpected"] == 0
    print(json.dumps({"check": "merge", **diff, "ok": ok}))
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("feed")
    f.add_argument("--dir", required=True)
    f.add_argument("--files", type=int, default=12)
    f.add_argument("--keys", type=int, default=300)
    f.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("check")
    c.add_argument("--feed", required=True)
    c.add_argument("--table", required=True)
    args = ap.parse_args()
    feed(args) if args.cmd == "feed" else check(args)


if __name__ == "__main__":
    main()
