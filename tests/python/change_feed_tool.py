"""A change-data-feed table written without delta-rs, and the change feed it must give.

    change_feed_tool.py write --table T --rows N
        Writes rows `id BIGINT, v BIGINT` (id 0..N-1, v = 10 * id) as one Parquet file by
        pyarrow and a hand-written Delta log (protocol 1/4, delta.enableChangeDataFeed =
        true): version 0.

    change_feed_tool.py check --silver S --rows N --update-mod U --delete-mod D
        The test then updates `v = v + 1` where `id % U = 0` (version 1) and deletes where
        `id % D = 1` (version 2). The feed of versions 0..2 is computed here from those
        rules alone: every row inserted at 0, the updated rows' pre and post images at 1,
        the deleted rows (with their updated v) at 2. DuckDB reads sluice's silver S and
        compares (id, v, _change_type, _commit_version) as multisets: nothing missing,
        nothing twice.

Every subcommand prints one JSON line; exit status 1 when the check fails.
"""

import argparse
import json
import os
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from delta_checks import connect, lit  # noqa: E402  (loads the Delta extension offline)


def write(args):
    os.makedirs(os.path.join(args.table, "_delta_log"), exist_ok=True)
    ids = list(range(args.rows))
    table = pa.table(
        {"id": pa.array(ids, pa.int64()), "v": pa.array([10 * i for i in ids], pa.int64())}
    )
    name = "part-00000.parquet"
    path = os.path.join(args.table, name)
    pq.write_table(table, path)
    now = int(time.time() * 1000)
    schema = {
        "type": "struct",
        "fields": [
            {"name": "id", "type": "long", "nullable": True, "metadata": {}},
            {"name": "v", "type": "long", "nullable": True, "metadata": {}},
        ],
    }
    actions = [
        {"commitInfo": {"timestamp": now, "operation": "CREATE TABLE"}},
        {"protocol": {"minReaderVersion": 1, "minWriterVersion": 4}},
        {
            "metaData": {
                "id": "6f1c2a52-8f0e-4d59-9a53-1c1a5e0c0001",
                "format": {"provider": "parquet", "options": {}},
                "schemaString": json.dumps(schema),
                "partitionColumns": [],
                "configuration": {"delta.enableChangeDataFeed": "true"},
                "createdTime": now,
            }
        },
        {
            "add": {
                "path": name,
                "partitionValues": {},
                "size": os.path.getsize(path),
                "modificationTime": now,
                "dataChange": True,
                "stats": json.dumps({"numRecords": args.rows}),
            }
        },
    ]
    with open(os.path.join(args.table, "_delta_log", f"{0:020}.json"), "w") as f:
        for a in actions:
            f.write(json.dumps(a) + "\n")
    print(json.dumps({"ok": True, "rows": args.rows}))
    return True


def expected(rows, update_mod, delete_mod):
    out = []
    v = {i: 10 * i for i in range(rows)}
    out += [(i, v[i], "insert", 0) for i in range(rows)]
    for i in range(rows):
        if i % update_mod == 0:
            out.append((i, v[i], "update_preimage", 1))
            v[i] += 1
            out.append((i, v[i], "update_postimage", 1))
    out += [(i, v[i], "delete", 2) for i in range(rows) if i % delete_mod == 1]
    return out


def check(args):
    con = connect()
    want = expected(args.rows, args.update_mod, args.delete_mod)
    con.execute("CREATE TABLE want(id BIGINT, v BIGINT, change VARCHAR, version BIGINT)")
    con.executemany("INSERT INTO want VALUES (?, ?, ?, ?)", want)
    got = f"SELECT id, v, _change_type, _commit_version FROM delta_scan({lit(args.silver)})"
    missing = con.sql(f"SELECT count(*) FROM (FROM want EXCEPT ALL {got})").fetchone()[0]
    extra = con.sql(f"SELECT count(*) FROM ({got} EXCEPT ALL FROM want)").fetchone()[0]
    total = con.sql(f"SELECT count(*) FROM ({got})").fetchone()[0]
    by_type = dict(
        con.sql(f"SELECT _change_type, count(*) FROM ({got}) GROUP BY ALL ORDER BY 1").fetchall()
    )
    result = {
        "expected": len(want),
        "rows": total,
        "missing": missing,
        "extra": extra,
        "by_type": by_type,
    }
    result["ok"] = missing == 0 and extra == 0 and total == len(want)
    print(json.dumps(result))
    return result["ok"]


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--table", required=True)
    w.add_argument("--rows", type=int, required=True)
    c = sub.add_parser("check")
    c.add_argument("--silver", required=True)
    c.add_argument("--rows", type=int, required=True)
    c.add_argument("--update-mod", type=int, required=True)
    c.add_argument("--delete-mod", type=int, required=True)
    args = ap.parse_args()
    ok = {"write": write, "check": check}[args.cmd](args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
