"""A Delta table with nested columns written without delta-rs, and DuckDB's view of what
sluice read from it.

    nested_tool.py write --table T --rows N --seed S
        Writes N seeded rows, `id BIGINT, s STRUCT(a INTEGER, b VARCHAR),
        tags VARCHAR[], attrs MAP(VARCHAR, BIGINT)`, some of each null, as two Parquet
        files by pyarrow, and a Delta log written here by hand (protocol 1/2, the
        schema, two `add` actions), so that no part of sluice's Delta stack made it.

    nested_tool.py check --table T --bronze B --silver S
        DuckDB's delta_scan of T against sluice's bronze B (the same nested values,
        EXCEPT ALL both ways) and silver S (its columns `a`, `b`, `n_tags`, `first_tag`
        and `k1`, computed by sluice's SQL, against DuckDB's own `s.a`, `s.b`,
        `len(tags)`, `tags[1]` and `attrs['k1']`).

    nested_tool.py check-declared --table T --read R
        R, what a SQL job declaring `tags ARRAY<STRING>, id BIGINT` read from T with
        `SELECT *`: exactly those columns in that order, then the rows' coordinates
        (`source`, `partition`, `offset`), and T's values of them.

Every subcommand prints one JSON line; exit status 1 when the check fails.
"""

import argparse
import json
import os
import random
import sys
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from delta_checks import connect, lit  # noqa: E402  (loads the Delta extension offline)

ARROW_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("s", pa.struct([("a", pa.int32()), ("b", pa.string())])),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("attrs", pa.map_(pa.string(), pa.int64())),
    ]
)


def field(name, type_, nullable=True):
    return {"name": name, "type": type_, "nullable": nullable, "metadata": {}}


DELTA_SCHEMA = {
    "type": "struct",
    "fields": [
        field("id", "long", False),
        field(
            "s",
            {"type": "struct", "fields": [field("a", "integer"), field("b", "string")]},
        ),
        field("tags", {"type": "array", "elementType": "string", "containsNull": True}),
        field(
            "attrs",
            {"type": "map", "keyType": "string", "valueType": "long", "valueContainsNull": True},
        ),
    ],
}


def rows(n, seed):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s = None if i % 17 == 0 else {"a": None if i % 5 == 0 else rng.randint(-1000, 1000), "b": f"b{rng.randint(0, 99)}"}
        tags = None if i % 13 == 0 else [f"t{rng.randint(0, 9)}" for _ in range(rng.randint(0, 4))]
        attrs = None if i % 11 == 0 else [(k, rng.randint(0, 10**12)) for k in rng.sample(["k1", "k2", "k3"], rng.randint(0, 3))]
        out.append({"id": i, "s": s, "tags": tags, "attrs": attrs})
    return out


def write(args):
    os.makedirs(os.path.join(args.table, "_delta_log"), exist_ok=True)
    data = rows(args.rows, args.seed)
    half = len(data) // 2
    now = int(time.time() * 1000)
    actions = [
        {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
        {
            "metaData": {
                "id": str(uuid.UUID(int=args.seed)),
                "format": {"provider": "parquet", "options": {}},
                "schemaString": json.dumps(DELTA_SCHEMA),
                "partitionColumns": [],
                "configuration": {},
                "createdTime": now,
            }
        },
    ]
    for i, part in enumerate([data[:half], data[half:]]):
        name = f"part-{i:05}.parquet"
        path = os.path.join(args.table, name)
        pq.write_table(pa.Table.from_pylist(part, schema=ARROW_SCHEMA), path)
        actions.append(
            {
                "add": {
                    "path": name,
                    "partitionValues": {},
                    "size": os.path.getsize(path),
                    "modificationTime": now,
                    "dataChange": True,
                    "stats": json.dumps({"numRecords": len(part)}),
                }
            }
        )
    with open(os.path.join(args.table, "_delta_log", f"{0:020}.json"), "w") as f:
        for a in actions:
            f.write(json.dumps(a) + "\n")
    print(json.dumps({"ok": True, "rows": len(data)}))
    return True


def check(args):
    con = connect()
    t, b, s = (f"delta_scan({lit(p)})" for p in (args.table, args.bronze, args.silver))
    result = {}
    for name, left, right in [
        ("bronze", f"SELECT id, s, tags, attrs FROM {t}", f"SELECT id, s, tags, attrs FROM {b}"),
        (
            "silver",
            f"SELECT id, s.a, s.b, len(tags), tags[1], attrs['k1'] FROM {t}",
            f"SELECT id, a, b, n_tags, first_tag, k1 FROM {s}",
        ),
    ]:
        n = con.sql(f"SELECT count(*) FROM ({left})").fetchone()[0]
        only_t = con.sql(f"SELECT count(*) FROM ({left} EXCEPT ALL {right})").fetchone()[0]
        only_s = con.sql(f"SELECT count(*) FROM ({right} EXCEPT ALL {left})").fetchone()[0]
        result[name] = {"rows": n, "only_in_table": only_t, "only_in_sluice": only_s}
        if only_t or only_s:
            result[name]["examples"] = [
                str(r) for r in con.sql(f"({left} EXCEPT ALL {right}) LIMIT 3").fetchall()
            ] + [str(r) for r in con.sql(f"({right} EXCEPT ALL {left}) LIMIT 3").fetchall()]
    result["types"] = {
        r[0]: r[1] for r in con.sql(f"DESCRIBE SELECT * FROM {b}").fetchall()
    }
    result["ok"] = all(
        v["rows"] > 0 and v["only_in_table"] == 0 and v["only_in_sluice"] == 0
        for k, v in result.items()
        if k in ("bronze", "silver")
    )
    print(json.dumps(result))
    return result["ok"]


def check_declared(args):
    con = connect()
    t, r = (f"delta_scan({lit(p)})" for p in (args.table, args.read))
    columns = [row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {r}").fetchall()]
    left, right = f"SELECT tags, id FROM {t}", f"SELECT tags, id FROM {r}"
    n = con.sql(f"SELECT count(*) FROM ({left})").fetchone()[0]
    only_t = con.sql(f"SELECT count(*) FROM ({left} EXCEPT ALL {right})").fetchone()[0]
    only_r = con.sql(f"SELECT count(*) FROM ({right} EXCEPT ALL {left})").fetchone()[0]
    result = {"columns": columns, "rows": n, "only_in_table": only_t, "only_in_sluice": only_r}
    expected = ["tags", "id", "source", "partition", "offset"]
    result["ok"] = columns == expected and n > 0 and only_t == 0 and only_r == 0
    print(json.dumps(result))
    return result["ok"]


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--table", required=True)
    w.add_argument("--rows", type=int, required=True)
    w.add_argument("--seed", type=int, required=True)
    c = sub.add_parser("check")
    c.add_argument("--table", required=True)
    c.add_argument("--bronze", required=True)
    c.add_argument("--silver", required=True)
    d = sub.add_parser("check-declared")
    d.add_argument("--table", required=True)
    d.add_argument("--read", required=True)
    args = ap.parse_args()
    ok = {"write": write, "check": check, "check-declared": check_declared}[args.cmd](args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
