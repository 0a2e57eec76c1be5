"""Time travel checked independently of sluice.

    time_travel_tool.py check --table T --version K --read R

Copies table T, deletes its log entries newer than K (commits, checkpoints and
_last_checkpoint), so the copy is T as of version K, and reads it with DuckDB's
delta_scan. R is the bronze table sluice wrote from `source.delta: {path: T,
version-as-of: K}`; its columns `upstream_source`, `upstream_partition` and
`upstream_offset` are T's `source`, `partition` and `offset`, and its own coordinate
columns are dropped. The two row multisets must be equal (EXCEPT ALL both ways).
"""

import argparse
import glob
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect, multiset_diff  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["check"])
    ap.add_argument("--table", required=True)
    ap.add_argument("--version", type=int, required=True)
    ap.add_argument("--read", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="time-travel-")
    copy = os.path.join(work, "t")
    shutil.copytree(args.table, copy)
    for f in glob.glob(os.path.join(copy, "_delta_log", "*")):
        name = os.path.basename(f)
        if name.startswith("_last_checkpoint") or (name[:20].isdigit() and int(name[:20]) > args.version):
            os.remove(f)
    con = connect()
    con.execute(f"CREATE TABLE want AS SELECT * FROM delta_scan('{copy}')")
    con.execute(f"CREATE TABLE got0 AS SELECT * FROM delta_scan('{args.read}')")
    cols = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE want)").fetchall()]
    renamed = {"source": "upstream_source", "partition": "upstream_partition", "offset": "upstream_offset"}
    select = ", ".join(f'"{renamed.get(c, c)}" AS "{c}"' for c in cols)
    con.execute(f"CREATE TABLE got AS SELECT {select} FROM got0")
    diff = multiset_diff(con, "SELECT * FROM want", "SELECT * FROM got")
    ok = diff["rows_expected"] > 0 and diff["missing"] == 0 and diff["unexpected"] == 0
    print(json.dumps({"check": "time-travel", "version": args.version, **diff, "ok": ok}))
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
