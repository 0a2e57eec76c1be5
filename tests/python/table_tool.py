"""Independent checks for `sluice table ...`, reading Delta tables with DuckDB's delta_scan.

    table_tool.py copy-at-version --table T --version K --to C
        Copies the table directory T to C and deletes from C/_delta_log every entry of a
        version newer than K (commits, checkpoints, checksums) and `_last_checkpoint`: C is
        then the table as it was at version K, to read with any Delta reader.

    table_tool.py same --a A --b B
        Whether the tables at A and B hold the same rows: same columns and types, same row
        count, and the same multiset of rows (EXCEPT ALL both ways).

    table_tool.py compare-stats --a DIR_A --b DIR_B --tables t1,t2,...
        Per table under DIR/tables/: the row count and the exact sum of every numeric
        column (integers summed by DuckDB, doubles with math.fsum, which does not depend on
        the order of the rows). Equal in both directories, or exit status 1.

Every subcommand prints one JSON line; exit status 1 when the check fails.
"""

import argparse
import json
import math
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from delta_checks import connect, lit, q  # noqa: E402  (loads the Delta extension offline)

VERSIONED = re.compile(r"^(\d{20})\.")
INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}


def copy_at_version(args):
    if os.path.exists(args.to):
        shutil.rmtree(args.to)
    shutil.copytree(args.table, args.to)
    log = os.path.join(args.to, "_delta_log")
    deleted, kept = [], []
    for name in sorted(os.listdir(log)):
        m = VERSIONED.match(name)
        if name == "_last_checkpoint" or (m and int(m.group(1)) > args.version):
            path = os.path.join(log, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            deleted.append(name)
        elif m and name.endswith(".json") and name[:20].isdigit() and len(name) == 25:
            kept.append(int(m.group(1)))
    ok = bool(kept) and max(kept) == args.version
    print(json.dumps({"check": "copy-at-version", "to": args.to, "version": args.version,
                      "latest_kept": max(kept) if kept else None, "deleted": deleted, "ok": ok}))
    return ok


def columns(con, path):
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM delta_scan({lit(path)})").fetchall()]


def same(args):
    con = connect()
    a, b = os.path.abspath(args.a), os.path.abspath(args.b)
    cols_a, cols_b = columns(con, a), columns(con, b)
    out = {"check": "same", "a": a, "b": b}
    failures = []
    if cols_a != cols_b:
        failures.append(f"columns differ: {cols_a} vs {cols_b}")
    else:
        sel = ", ".join(q(c) for c, _ in cols_a)
        ta = f"SELECT {sel} FROM delta_scan({lit(a)})"
        tb = f"SELECT {sel} FROM delta_scan({lit(b)})"
        out["rows_a"] = con.execute(f"SELECT count(*) FROM ({ta})").fetchone()[0]
        out["rows_b"] = con.execute(f"SELECT count(*) FROM ({tb})").fetchone()[0]
        out["only_in_a"] = con.execute(f"SELECT count(*) FROM ({ta} EXCEPT ALL {tb})").fetchone()[0]
        out["only_in_b"] = con.execute(f"SELECT count(*) FROM ({tb} EXCEPT ALL {ta})").fetchone()[0]
        if out["rows_a"] != out["rows_b"]:
            failures.append(f"{out['rows_a']} rows vs {out['rows_b']}")
        if out["only_in_a"] or out["only_in_b"]:
            failures.append(f"{out['only_in_a']} rows only in a, {out['only_in_b']} only in b")
        if out["rows_a"] == 0:
            failures.append("both tables are empty: nothing was compared")
    out["failures"] = failures
    out["ok"] = not failures
    print(json.dumps(out))
    return out["ok"]


def stats_of(con, path):
    cols = columns(con, path)
    scan = f"delta_scan({lit(path)})"
    out = {"rows": con.execute(f"SELECT count(*) FROM {scan}").fetchone()[0]}
    for c, t in cols:
        if t in INTEGER_TYPES:
            s = con.execute(f"SELECT sum({q(c)})::HUGEINT::VARCHAR FROM {scan}").fetchone()[0]
            out[f"sum({c})"] = s
        elif t in FLOAT_TYPES:
            values = [r[0] for r in con.execute(f"SELECT {q(c)} FROM {scan} WHERE {q(c)} IS NOT NULL").fetchall()]
            out[f"fsum({c})"] = repr(math.fsum(values))
    return out


def compare_stats(args):
    con = connect()
    result = {"check": "compare-stats", "tables": {}, "failures": []}
    for t in args.tables.split(","):
        sa = stats_of(con, os.path.join(os.path.abspath(args.a), "tables", t))
        sb = stats_of(con, os.path.join(os.path.abspath(args.b), "tables", t))
        result["tables"][t] = {"a": sa, "b": sb}
        if sa != sb:
            result["failures"].append(f"{t}: {sa} vs {sb}")
        if sa["rows"] == 0:
            result["failures"].append(f"{t}: empty, nothing was compared")
    result["ok"] = not result["failures"]
    print(json.dumps(result))
    return result["ok"]


def counts(args):
    """Named counts over a table: each --count NAME=SQL_PREDICATE gives
    count(*) FILTER (WHERE predicate); prints them as JSON with the total."""
    con = connect()
    named = [c.split("=", 1) for c in args.count]
    select = ", ".join(
        f"count(*) FILTER (WHERE {pred})" for _, pred in named
    )
    row = con.sql(
        f"SELECT count(*){', ' + select if select else ''} FROM delta_scan({lit(args.table)})"
    ).fetchone()
    result = {"rows": row[0]}
    for (name, _), value in zip(named, row[1:]):
        result[name] = value
    result["ok"] = True
    print(json.dumps(result))
    return True


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("copy-at-version")
    c.add_argument("--table", required=True)
    c.add_argument("--version", type=int, required=True)
    c.add_argument("--to", required=True)
    s = sub.add_parser("same")
    s.add_argument("--a", required=True)
    s.add_argument("--b", required=True)
    st = sub.add_parser("compare-stats")
    st.add_argument("--a", required=True)
    st.add_argument("--b", required=True)
    st.add_argument("--tables", required=True)
    n = sub.add_parser("counts")
    n.add_argument("--table", required=True)
    n.add_argument("--count", action="append", default=[], help="NAME=SQL predicate")
    args = ap.parse_args()
    ok = {
        "copy-at-version": copy_at_version,
        "same": same,
        "compare-stats": compare_stats,
        "counts": counts,
    }[args.cmd](args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
