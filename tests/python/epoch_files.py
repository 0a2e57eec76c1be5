"""What the file-based oracle tools share: event times as the jobs read them, one JSON-lines
file per epoch under DIR/in, and a `write` / `check` command line.

A tool's `write(args)` returns a summary, its `check(args)` a verdict with `ok`; `main`
prints either as one JSON object and exits 1 when the check failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os

SEC = 1_000_000
MINUTE = 60 * SEC
BASE_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def ts_text(us: int) -> str:
    """An RFC 3339 UTC timestamp of `us` microseconds since the epoch."""
    t = EPOCH + dt.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_epochs(d: str, epochs: list[list[str]]) -> None:
    """Writes each epoch's JSON lines as DIR/in/part-NNNNN.jsonl."""
    os.makedirs(os.path.join(d, "in"), exist_ok=True)
    for e, lines in enumerate(epochs):
        with open(os.path.join(d, "in", f"part-{e:05d}.jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")


def read_rows(d: str, **loads) -> list[dict]:
    """Every row of DIR/in, in file order, parsed by `json.loads(line, **loads)`, with its
    `ts` as microseconds in `t` and its file's (epoch's) index in `epoch`."""
    rows = []
    for epoch, path in enumerate(sorted(glob.glob(os.path.join(d, "in", "*.jsonl")))):
        with open(path) as f:
            for line in f:
                row = json.loads(line, **loads)
                row["epoch"] = epoch
                stamp = dt.datetime.strptime(row["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
                row["t"] = (stamp.replace(tzinfo=dt.timezone.utc) - EPOCH) \
                    // dt.timedelta(microseconds=1)
                rows.append(row)
    return rows


def main(argv, write, check) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--dir", required=True)
    w.add_argument("--seed", type=int, default=7)
    c = sub.add_parser("check")
    c.add_argument("--dir", required=True)
    c.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    result = write(args) if args.cmd == "write" else check(args)
    print(json.dumps(result, default=str))
    return 0 if result.get("ok", True) else 1
