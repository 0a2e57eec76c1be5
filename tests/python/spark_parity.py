"""Spark parity of SQL expressions: each expression of EXPRESSIONS is evaluated by PySpark
and by a sluice SQL job over the same rows (a JSON file), and their values compared.

    spark_parity.py --sluice target/debug/sluice [--work DIR]

Run it with a Python that has PySpark and DuckDB's delta extension (`benches/python-env`
makes one). PySpark's values are computed here, not stored: the check is independent of
sluice. It prints each expression whose values differ, or that only one engine accepts,
and exits 1 when any differs other than as KNOWN says. Not part of `scripts/test` (it
starts a JVM); run it after changing expressions.
"""
from __future__ import annotations

import argparse
import datetime
import decimal
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import connect  # noqa: E402

ROWS = [
    {"id": 1, "s": "Hello World", "n": 7, "x": 2.55, "y": -1.25,
     "ts": "2024-02-29T13:45:10.123456Z", "t2": "a,b,,c"},
    {"id": 2, "s": "  padded  ", "n": -3, "x": 1.0e7, "y": 0.0,
     "ts": "2023-12-31T23:59:59Z", "t2": ""},
    {"id": 3, "s": None, "n": None, "x": None, "y": None,
     "ts": "2025-07-06T05:00:00Z", "t2": None},
]
SCHEMA = "id BIGINT, s STRING, n INT, x DOUBLE, y DOUBLE, ts TIMESTAMP, t2 STRING"

EXPRESSIONS = """
log(x)
ln(y)
log10(x)
log(2, x)
ceil(x)
floor(y)
round(x, 1)
sign(y)
sqrt(x)
greatest(n, 5)
nvl2(s, 'yes', 'no')
nullif(n, 7)
isnull(s)
isnan(x)
concat_ws('-', s, 'z', NULL)
concat(s, '|', x)
CAST(x AS STRING)
CAST(y * 1e10 AS STRING)
CAST(n AS STRING)
CAST(ts AS STRING)
initcap(concat(s, ' a_b c-d'))
upper(s)
trim(s)
lpad(s, 4, 'x')
reverse(s)
substring(s, 0, 3)
substring(s, -3)
substring_index(t2, ',', 2)
instr(s, 'o')
replace(s, 'l', 'L')
regexp_replace(s, '[aeiou]', '*')
regexp_extract(s, '(l+)o', 1)
translate(s, 'lo', '01')
split(t2, ',')
size(split(t2, ','))
array_contains(split(t2, ','), 'b')
sort_array(array(3, n, 1))
sequence(1, n)
struct(n, s)
to_json(named_struct('a', n, 'b', s, 't', ts))
to_json(map('k', s))
length(s)
levenshtein(s, 'hello')
startswith(s, 'He')
sha1(s)
sha2(s, 256)
md5(s)
crc32(s)
xxhash64(s, n)
pmod(n, 4)
n % 4
n / 2
date_part('dow', ts)
extract(DOW FROM ts)
dayofweek(ts)
weekofyear(ts)
date_format(ts, 'yyyy-MM-dd HH:mm')
date_format(ts, 'E, MMM d')
CAST(date_trunc('HOUR', ts) AS STRING)
CAST(ts + INTERVAL 90 MINUTES AS STRING)
datediff(CAST(ts AS DATE), DATE '2024-01-01')
CAST(next_day(CAST(ts AS DATE), 'MON') AS STRING)
CAST(last_day(CAST(ts AS DATE)) AS STRING)
CAST(add_months(CAST(ts AS DATE), 1) AS STRING)
unix_timestamp(ts)
from_unixtime(n * 3600, 'yyyy-MM-dd HH')
CAST(timestamp_seconds(n) AS STRING)
CAST(trunc(ts, 'MM') AS STRING)
CAST(trunc(CAST(ts AS DATE), 'WEEK') AS STRING)
parse_url('https://a.example.com/p?k=v', 'HOST')
try_element_at(split(t2, ','), 3)
element_at(split(t2, ','), -1)
element_at(map('k', s, 'n', CAST(n AS STRING)), 'n')
element_at(map('k', s), 'absent')
hash(s)
hash(n)
hash(id)
hash(x)
hash(ts)
hash(CAST(ts AS DATE))
hash(id, s, n)
hash(array(n, 1))
hash(array(n, n))
hash(struct(n, s))
pmod(hash(s), 16)
bround(x, 1)
bround(y)
bround(n, -1)
months_between(ts, TIMESTAMP '2024-01-31 10:00:00')
months_between(ts, CAST(ts AS DATE), false)
format_number(x, 2)
format_number(n * 1000, 0)
format_number(y * 1e10, 1)
""".strip().splitlines()

# Differences kept on purpose, with why.
KNOWN = {
    "hash(array(n, 1))": "an integer literal is a BIGINT here (DataFusion's) and an INT in "
                         "Spark, so the array is of BIGINTs, each hashed as a long; "
                         "hash(array(n, n)) agrees",
}


def norm(v):
    """A value as both engines' readers can agree on it (an integer and a double kept
    apart: `ceil` of a double is a BIGINT in Spark)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return f"int:{v}"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else round(v, 9)
    if isinstance(v, decimal.Decimal):
        return round(float(v), 9)
    if isinstance(v, datetime.datetime):
        return v.replace(tzinfo=None).isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if hasattr(v, "asDict"):  # a Spark Row (a tuple), before tuples
        return {k: norm(x) for k, x in v.asDict().items()}
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    return v


def spark_values(data: str) -> dict:
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.read.schema(SCHEMA).json(data).createOrReplaceTempView("src")
    out = {}
    for e in EXPRESSIONS:
        try:
            rows = spark.sql(f"SELECT id, {e} AS v FROM src ORDER BY id").collect()
            out[e] = {r[0]: norm(r[1]) for r in rows}
        except Exception as ex:  # noqa: BLE001 - Spark's refusal is a result here
            out[e] = "refused: " + str(ex).splitlines()[0][:120]
    spark.stop()
    return out


def sluice_values(binary: str, data: str, work: str) -> dict:
    con = connect()
    out = {}
    for i, e in enumerate(EXPRESSIONS):
        job = os.path.join(work, f"j{i}.sql")
        dest = os.path.join(work, f"o{i}")
        with open(job, "w", encoding="utf-8") as f:
            f.write(f"SET 'output.dir' = '{dest}';\n"
                    f"CREATE TABLE src ({SCHEMA}) WITH ('connector' = 'files', "
                    f"'path' = '{data}', 'format' = 'json', 'bounded' = 'true');\n"
                    "CREATE TABLE out WITH ('connector' = 'delta');\n"
                    f"INSERT INTO out SELECT id, {e} AS v FROM src;\n")
        run = subprocess.run([binary, "run", job], capture_output=True, text=True)
        if run.returncode != 0:
            err = [l for l in run.stderr.splitlines() if l.startswith("error")]
            out[e] = "refused: " + (err[0] if err else run.stderr[-120:])[:160]
            continue
        table = os.path.join(dest, "tables", "out")
        rows = con.execute(f"SELECT id, v FROM delta_scan('{table}') ORDER BY id").fetchall()
        out[e] = {r[0]: norm(r[1]) for r in rows}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--work")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="spark-parity-")
    data = os.path.join(work, "in")
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(data, "rows.json"), "w", encoding="utf-8") as f:
        for row in ROWS:
            f.write(json.dumps(row) + "\n")
    theirs = spark_values(data)
    ours = sluice_values(os.path.abspath(args.sluice), data, work)
    differ = 0
    for e in EXPRESSIONS:
        if ours[e] == theirs[e]:
            continue
        known = KNOWN.get(e)
        print(f"{'known' if known else 'DIFFERS'}: {e}\n  sluice: {ours[e]}\n  spark:  {theirs[e]}"
              + (f"\n  ({known})" if known else ""))
        differ += 0 if known else 1
    same = sum(1 for e in EXPRESSIONS if ours[e] == theirs[e])
    print(json.dumps({"expressions": len(EXPRESSIONS), "same": same, "differ": differ}))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
