#!/usr/bin/env python3
"""DuckDB baseline of `sluice run benches/windows.yaml --batch`: the demo's gold windows
over the JSON-lines files of `sluice demo-data events`, as one query.

    windows_duckdb.py --data D --out O [--threads N]

Reads every D/*.json file with the job's schema (lines that do not parse are skipped, as
sluice sends them to its dead-letter table), keeps the rows the job's rules keep, expands
each row into the five 5-minute windows sliding by 1 minute that contain it, counts, sums
and averages per (window, user_id, event_type), and writes O/gold.parquet. As a batch it
has no watermark: late events count in their windows (sluice's batch mode drops rows later
than the watermark it would have had, so the row counts differ by those windows). DuckDB's
`ignore_errors` also drops a few well-formed lines next to broken ones (3 of the first
100,000 events), so its counts in a handful of windows are lower than sluice's, whose
silver rows account for every line (checked with Python's json module).

Prints one JSON line: {"engine": "duckdb", "seconds": ..., "rows": ...}, the whole query
(read, aggregate, write), `rows` the gold rows written.
"""

import argparse
import json
import os
import shutil
import time

import duckdb

QUERY = """
COPY (
  WITH events AS (
    SELECT * FROM read_json(
      '{data}/*.json', format = 'newline_delimited', ignore_errors = true,
      columns = {{event_id: 'VARCHAR', user_id: 'VARCHAR', event_type: 'VARCHAR',
                  event_time: 'TIMESTAMPTZ', value: 'DOUBLE'}})
  ), kept AS (
    SELECT * FROM events
    WHERE event_time IS NOT NULL AND user_id IS NOT NULL AND value >= 0
      AND event_type IN ('click', 'view', 'add_to_cart', 'purchase', 'search')
  ), windowed AS (
    SELECT unnest(generate_series(
             time_bucket(INTERVAL 1 MINUTE, event_time) - INTERVAL 4 MINUTE,
             time_bucket(INTERVAL 1 MINUTE, event_time), INTERVAL 1 MINUTE)) AS window_start,
           user_id, event_type, value
    FROM kept
  )
  SELECT window_start, window_start + INTERVAL 5 MINUTE AS window_end, user_id, event_type,
         count(*) AS event_count, sum(value) AS total_value, avg(value) AS avg_value
  FROM windowed GROUP BY ALL
) TO '{out}/gold.parquet' (FORMAT parquet)
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    start = time.perf_counter()
    con.execute(QUERY.format(data=args.data, out=args.out))
    seconds = time.perf_counter() - start
    rows = con.execute(f"SELECT count(*) FROM '{args.out}/gold.parquet'").fetchone()[0]
    print(json.dumps({"engine": "duckdb", "seconds": round(seconds, 3), "rows": rows,
                      "threads": con.execute("SELECT current_setting('threads')").fetchone()[0]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
