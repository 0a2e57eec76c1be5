"""Files for the file-source end-to-end tests: a writer independent of sluice (pyarrow,
fastavro, and CSV and JSON lines written by hand) and a checker reading sluice's Delta
tables with DuckDB's delta_scan.

    files_tool.py write --dir D --case CASE [--seed S]
        Writes D/data/... and D/expected.json (what bronze, silver and the dead-letter
        table must hold). Cases:
          parquet | orc | avro | csv | json
              seeded rows under date=YYYY-MM-DD/ directories, two files per partition, and
              the format's bad records: CSV rows with the wrong field count or a value that
              does not convert, JSON lines that do not parse or do not convert, and (for
              the columnar formats) a file whose `qty` is a 64-bit column with values out of
              the declared int's range.
          broken-parquet | broken-orc | not-avro | truncated-avro | broken-first-parquet
              a good file, then a file that cannot be read at all (the second in path
              order; the first for broken-first-parquet). expected.json names it.
          prune
              Parquet under date=.../region=.../ with truncated files in directories the
              partition filter of the test prunes.
          csv-infer
              CSV whose `amount` is an integer in the first records and `1.5` later, and
              timestamps without a zone: the inferred and the declared schema differ.
          json-infer
              JSON lines whose `code` is a number on some lines and a string on others.

    files_tool.py check --dir D --out OUT [--expected D/expected.json] [--variant V]
        Reads OUT/tables/{bronze,silver,dlq} with delta_scan and compares them with
        expected.json: columns and types, every row's values and coordinates (source,
        partition, offset) in bronze and silver, the dead letters (reason, file, line or
        row, payload, error). Prints one JSON line; exit status 1 when something differs.

    files_tool.py repair --dir D
        Replaces the unreadable file of a broken case with a good one holding the rows
        expected.json lists for it (expected.json then describes the whole input).
"""

import argparse
import csv
import datetime as dt
import io
import json
import os
import random
import sys
import time
from collections import Counter

BASE_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
DAY_US = 86_400_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
DATES = ["2024-01-01", "2024-01-02", "2024-01-03"]
FILES_PER_PARTITION = 2

# name, job type, DuckDB type once in Delta
FIELDS = [
    ("id", "long", "BIGINT"),
    ("name", "string", "VARCHAR"),
    ("amount", "double", "DOUBLE"),
    ("qty", "int", "INTEGER"),
    ("active", "boolean", "BOOLEAN"),
    ("ts", "timestamp", "TIMESTAMP WITH TIME ZONE"),
    ("day", "date", "DATE"),
]
NAMES = [
    "plain",
    "with, comma",
    'with "quotes"',
    "ünïcødé ✓",
    "  padded  ",
    "semi;colon",
    "x" * 40,
]
RULE = ("qty_non_negative", "qty >= 0")
OVERFLOW = 3_000_000_000


# --------------------------------------------------------------------------- rows


def make_rows(rng, n, first_id, date_index, text_names=True):
    rows = []
    for i in range(n):
        name = None if rng.random() < 0.1 else rng.choice(NAMES)
        if text_names and name is not None and rng.random() < 0.03:
            name = "two\nlines"
        amount = None
        if rng.random() >= 0.05:
            kind = rng.random()
            if kind < 0.1:
                amount = float(rng.randrange(-500, 500))
            elif kind < 0.15:
                amount = rng.choice([1e-7, -2.5e-12, 6.02e23, 123456789.125])
            else:
                amount = round(rng.uniform(-1000, 1000), rng.choice([1, 2, 6]))
        qty = rng.randrange(-50, 1000) if rng.random() < 0.08 else rng.randrange(0, 1000)
        active = None if rng.random() < 0.1 else rng.random() < 0.5
        ts = None
        if rng.random() >= 0.05:
            ts = BASE_US + date_index * DAY_US + rng.randrange(DAY_US)
            if rng.random() < 0.2:
                ts -= ts % 1000  # whole milliseconds, for epoch-millis JSON values
        day = None if rng.random() < 0.05 else (dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(60))).isoformat()
        rows.append(
            {"id": first_id + i, "name": name, "amount": amount, "qty": qty, "active": active, "ts": ts, "day": day}
        )
    return rows


def ts_text(us):
    """RFC 3339 with a Z and microseconds."""
    t = EPOCH + dt.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ts_datetime(us):
    return EPOCH + dt.timedelta(microseconds=us)


def arrow_table(rows, order=None, qty_type=None, extra=False):
    import pyarrow as pa

    types = {
        "id": pa.int64(),
        "name": pa.string(),
        "amount": pa.float64(),
        "qty": qty_type or pa.int32(),
        "active": pa.bool_(),
        "ts": pa.timestamp("us", tz="UTC"),
        "day": pa.date32(),
    }
    cols = {}
    for name in order or [f[0] for f in FIELDS]:
        values = [r[name] for r in rows]
        if name == "day":
            values = [None if v is None else dt.date.fromisoformat(v) for v in values]
        cols[name] = pa.array(values, types[name])
    if extra:
        cols["extra"] = pa.array([f"extra-{r['id']}" for r in rows], pa.string())
    return pa.table(cols)


AVRO_SCHEMA = {
    "type": "record",
    "name": "Row",
    "namespace": "sluice.test",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": ["null", "string"], "default": None},
        {"name": "amount", "type": ["null", "double"], "default": None},
        {"name": "qty", "type": "int"},
        {"name": "active", "type": ["null", "boolean"], "default": None},
        {"name": "ts", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}], "default": None},
        {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}], "default": None},
    ],
}


def avro_records(rows):
    out = []
    for r in rows:
        out.append(
            dict(
                r,
                ts=None if r["ts"] is None else ts_datetime(r["ts"]),
                day=None if r["day"] is None else dt.date.fromisoformat(r["day"]),
            )
        )
    return out


def write_avro(path, rows, codec="null", qty_long=False):
    import fastavro

    schema = json.loads(json.dumps(AVRO_SCHEMA))
    if qty_long:
        schema["fields"][3]["type"] = "long"
    with open(path, "wb") as f:
        # A small sync interval: several blocks per file.
        fastavro.writer(f, fastavro.parse_schema(schema), avro_records(rows), codec=codec, sync_interval=2048)


# --------------------------------------------------------------------------- text formats


class TextFile:
    """Text written line by line, remembering the 1-based line each record starts on."""

    def __init__(self, newline="\n"):
        self.buf = io.StringIO()
        self.line = 1
        self.newline = newline

    def add(self, text):
        """Adds one record (which may span lines); returns (line, raw text)."""
        start = self.line
        self.buf.write(text + self.newline)
        self.line += text.count("\n") + 1
        return start, text

    def save(self, path):
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(self.buf.getvalue())


def csv_record(values):
    out = io.StringIO()
    # The line terminator must be set for fields holding one to be quoted.
    csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow(values)
    return out.getvalue()[:-1]


def csv_value(name, v):
    if v is None:
        return ""
    if name == "amount":
        return repr(v)
    if name == "active":
        return "true" if v else "false"
    if name == "ts":
        return ts_text(v)
    return str(v)


CSV_BAD = [
    # (description, mutate(values by name) -> list of fields or None, field named in the error)
    ("too few fields", lambda d, order: [d["id"], "short"], None),
    ("too many fields", lambda d, order: [d[k] for k in order] + ["surplus"], None),
    ("qty is not a number", lambda d, order: [dict(d, qty="seven")[k] for k in order], "qty"),
    ("amount is not a number", lambda d, order: [dict(d, amount="1.2.3")[k] for k in order], "amount"),
    ("ts is not a time", lambda d, order: [dict(d, ts="yesterday")[k] for k in order], "ts"),
    ("active is not a boolean", lambda d, order: [dict(d, active="maybe")[k] for k in order], "active"),
    ("day is not a date", lambda d, order: [dict(d, day="2024-02-30")[k] for k in order], "day"),
    ("id is missing", lambda d, order: [dict(d, id="")[k] for k in order], "id"),
]


def json_line(rng, r):
    obj = {}
    keys = [f[0] for f in FIELDS]
    if rng.random() < 0.3:
        rng.shuffle(keys)
    for k in keys:
        v = r[k]
        if v is None:
            if rng.random() < 0.5:
                continue  # a missing nullable key reads as null
            obj[k] = None
        elif k == "ts":
            obj[k] = v // 1000 if v % 1000 == 0 and rng.random() < 0.5 else ts_text(v)
        else:
            obj[k] = v
    return json.dumps(obj, ensure_ascii=rng.random() < 0.5)


JSON_BAD = [
    ("truncated object", lambda r: json.dumps(r)[:20], None),
    ("an array, not an object", lambda r: "[1, 2, 3]", None),
    ("qty is a string", lambda r: json.dumps(dict(r, qty="seven", ts=None)), "qty"),
    ("amount is a string", lambda r: json.dumps(dict(r, amount="abc", ts=None)), "amount"),
    ("ts is not a time", lambda r: json.dumps(dict(r, ts="yesterday")), "ts"),
    ("id is missing", lambda r: json.dumps({k: v for k, v in dict(r, ts=None).items() if k != "id"}), "id"),
    ("trailing garbage", lambda r: json.dumps(dict(r, ts=None)) + " x", None),
]


# --------------------------------------------------------------------------- cases


class Expect:
    """What the tables must hold."""

    def __init__(self, partition_keys, columns):
        self.partition_keys = partition_keys
        self.columns = columns  # [(name, duckdb type)] of the data columns
        self.good = []  # rows: data values + partition values + source + offset
        self.dead = []  # {source, offset, payload?, payload_id?, error_has?, what}
        self.files = {}

    def add_good(self, rel, parts, offset, row):
        self.good.append(dict(row, _source=rel, _offset=offset, _parts=parts))

    def save(self, d, **extra):
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(
                dict(
                    partition_keys=self.partition_keys,
                    columns=self.columns,
                    good=self.good,
                    dead=self.dead,
                    rule=list(RULE),
                    **extra,
                ),
                f,
                indent=1,
            )


def declared_columns():
    return [[n, t] for n, _, t in FIELDS]


def write_format(d, fmt, seed):
    import pyarrow as pa

    rng = random.Random(f"{fmt}-{seed}")
    exp = Expect(["date"], declared_columns())
    ext = {"parquet": "parquet", "orc": "orc", "avro": "avro", "csv": "csv", "json": "jsonl"}[fmt]
    next_id = 1
    order = [f[0] for f in FIELDS]
    for di, date in enumerate(DATES):
        folder = os.path.join(d, "data", f"date={date}")
        os.makedirs(folder, exist_ok=True)
        for fi in range(FILES_PER_PARTITION):
            rel = f"date={date}/part-{fi}.{ext}"
            path = os.path.join(d, "data", rel)
            rows = make_rows(rng, rng.randrange(150, 260), next_id, di, text_names=fmt == "csv")
            next_id += len(rows) + 100
            # The second file of each partition has its columns in another order (and the
            # columnar ones an extra column the job does not declare).
            shuffled = fi == 1
            cols = order[:]
            if shuffled:
                rng.shuffle(cols)
            # One columnar file stores qty as a 64-bit column, with values out of range.
            overflow = fmt in ("parquet", "orc", "avro") and di == 1 and fi == 1
            bad_at = set()
            if overflow:
                bad_at = set(rng.sample(range(len(rows)), 3))
                for i in bad_at:
                    rows[i]["qty"] = OVERFLOW + i
            if fmt in ("parquet", "orc"):
                table = arrow_table(rows, order=cols, qty_type=pa.int64() if overflow else None, extra=shuffled)
                if fmt == "parquet":
                    import pyarrow.parquet as pq

                    pq.write_table(table, path, row_group_size=64)
                else:
                    import pyarrow.orc as orc

                    orc.write_table(table, path)
            elif fmt == "avro":
                write_avro(path, rows, codec="deflate" if fi == 1 else "null", qty_long=overflow)
            if fmt in ("parquet", "orc", "avro"):
                for i, r in enumerate(rows):
                    if i in bad_at:
                        exp.dead.append(
                            dict(source=rel, offset=i, payload_id=r["id"], error_has="qty", what="qty out of int range")
                        )
                    else:
                        exp.add_good(rel, [date], i, r)
                continue
            text = TextFile(newline="\r\n" if (fmt == "json" and di == 2) else "\n")
            bad_kinds = CSV_BAD if fmt == "csv" else JSON_BAD
            # Bad records go into the first file of the second partition and the last file.
            inject = (di == 1 and fi == 0) or (di == len(DATES) - 1 and fi == FILES_PER_PARTITION - 1)
            slots = sorted(rng.sample(range(1, len(rows)), len(bad_kinds))) if inject else []
            pending = list(zip(slots, bad_kinds))
            if fmt == "csv":
                text.add(csv_record(cols))
            for i, r in enumerate(rows):
                while pending and pending[0][0] == i:
                    _, (what, mutate, field) = pending.pop(0)
                    bad_id = next_id
                    next_id += 1
                    src = dict(r, id=bad_id, name="bad row")
                    if fmt == "csv":
                        values = {k: csv_value(k, src[k]) for k in order}
                        line, raw = text.add(csv_record(mutate(values, cols)))
                    else:
                        line, raw = text.add(mutate(dict(src, ts=None if src["ts"] is None else ts_text(src["ts"]))))
                    exp.dead.append(dict(source=rel, offset=line, payload=raw, error_has=field, what=what))
                if fmt == "json" and rng.random() < 0.02:
                    text.add("")  # blank lines are skipped but counted
                if fmt == "csv":
                    line, _ = text.add(csv_record([csv_value(k, r[k]) for k in cols]))
                else:
                    line, _ = text.add(json_line(rng, r))
                exp.add_good(rel, [date], line, r)
            text.save(path)
    exp.save(d, format=fmt)
    return exp


def write_broken(d, case, seed):
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    rng = random.Random(f"{case}-{seed}")
    exp = Expect(["date"], declared_columns())
    fmt = {"broken-parquet": "parquet", "broken-first-parquet": "parquet", "broken-orc": "orc"}.get(case, "avro")
    ext = fmt
    files = []
    for di, date in enumerate(DATES[:2]):
        os.makedirs(os.path.join(d, "data", f"date={date}"), exist_ok=True)
        rel = f"date={date}/part-0.{ext}"
        rows = make_rows(rng, 300, 1 + di * 1000, di, text_names=False)
        for i, r in enumerate(rows):
            exp.add_good(rel, [date], i, r)
        files.append((rel, rows))
    bad_index = 0 if case == "broken-first-parquet" else 1
    for index, (rel, rows) in enumerate(files):
        path = os.path.join(d, "data", rel)
        if fmt == "parquet":
            pq.write_table(arrow_table(rows), path, row_group_size=100)
        elif fmt == "orc":
            orc.write_table(arrow_table(rows), path)
        else:
            write_avro(path, rows, codec="null")
        if index != bad_index:
            continue
        with open(path, "rb") as f:
            data = f.read()
        if case == "not-avro":
            # Not an object container file: a JSON text with an .avro name.
            broken = json.dumps(avro_records(rows[:2]), default=str).encode()
        elif case == "truncated-avro":
            # A valid header and first blocks, then a block cut short.
            broken = data[: len(data) * 2 // 3]
        else:
            broken = data[: len(data) // 2]
        with open(path, "wb") as f:
            f.write(broken)
    exp.save(d, format=fmt, broken=files[bad_index][0], case=case)


def repair(args):
    """Writes the broken file of a broken case again, whole."""
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    with open(os.path.join(args.dir, "expected.json")) as f:
        exp = json.load(f)
    rel = exp["broken"]
    rows = [
        {k: r[k] for k, _ in exp["columns"]}
        for r in sorted(exp["good"], key=lambda r: r["_offset"])
        if r["_source"] == rel
    ]
    path = os.path.join(args.dir, "data", rel)
    if exp["format"] == "parquet":
        pq.write_table(arrow_table(rows), path, row_group_size=100)
    elif exp["format"] == "orc":
        orc.write_table(arrow_table(rows), path)
    else:
        write_avro(path, rows)
    print(f"repaired {rel} ({len(rows)} rows)")


def write_prune(d, seed):
    import pyarrow.parquet as pq

    rng = random.Random(f"prune-{seed}")
    exp = Expect(["date", "region"], declared_columns())
    keep = lambda date, region: date >= "2024-01-02" and region == "eu"  # noqa: E731
    next_id = 1
    for di, date in enumerate(DATES):
        for region in ["eu", "us"]:
            folder = os.path.join(d, "data", f"date={date}", f"region={region}")
            os.makedirs(folder, exist_ok=True)
            rel = f"date={date}/region={region}/part-0.parquet"
            rows = make_rows(rng, rng.randrange(100, 200), next_id, di, text_names=False)
            next_id += 1000
            path = os.path.join(d, "data", rel)
            pq.write_table(arrow_table(rows), path, row_group_size=50)
            if keep(date, region):
                for i, r in enumerate(rows):
                    exp.add_good(rel, [date, region], i, r)
            elif (date, region) in [("2024-01-01", "eu"), ("2024-01-03", "us")]:
                # Unreadable, but pruned: never opened, not even to infer the schema
                # (2024-01-01/eu is the first file in path order).
                with open(path, "rb") as f:
                    data = f.read()
                with open(path, "wb") as f:
                    f.write(data[: len(data) // 3])
    exp.save(d, format="parquet")


def write_csv_infer(d, seed):
    """Two CSV files; `amount` holds integers only in the first 50 records, then 1.5."""
    rng = random.Random(f"csv-infer-{seed}")
    inferred = Expect(["date"], [
        ["id", "BIGINT"], ["name", "VARCHAR"], ["amount", "BIGINT"], ["score", "DOUBLE"],
        ["active", "BOOLEAN"], ["day", "DATE"], ["ts", "TIMESTAMP"],
    ])
    declared = Expect(["date"], [
        ["id", "BIGINT"], ["name", "VARCHAR"], ["amount", "DOUBLE"], ["score", "DOUBLE"],
        ["active", "BOOLEAN"], ["day", "DATE"], ["ts", "TIMESTAMP WITH TIME ZONE"],
    ])
    header = [c for c, _ in inferred.columns]
    next_id = 1
    for di, date in enumerate(DATES[:2]):
        os.makedirs(os.path.join(d, "data", f"date={date}"), exist_ok=True)
        rel = f"date={date}/data.csv"
        text = TextFile()
        text.add(csv_record(header))
        for i in range(120):
            ts = BASE_US + di * DAY_US + rng.randrange(DAY_US)
            row = {
                "id": next_id,
                "name": rng.choice(NAMES),
                "amount": rng.randrange(-1000, 1000),
                "score": round(rng.uniform(0, 100), 3),
                "active": rng.random() < 0.5,
                "day": (dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(60))).isoformat(),
                "ts": ts,
            }
            next_id += 1
            amount_text = str(row["amount"])
            fraction = di == 0 and i == 80
            if fraction:
                row["amount"] = 1.5
                amount_text = "1.5"
            # No zone: CSV inference makes it a timestamp without a time zone; the declared
            # `timestamp` reads it as UTC.
            t = (EPOCH + dt.timedelta(microseconds=ts)).strftime("%Y-%m-%dT%H:%M:%S.%f")
            values = [str(row["id"]), row["name"], amount_text, repr(row["score"]),
                      "true" if row["active"] else "false", row["day"], t]
            line, raw = text.add(csv_record(values))
            declared.add_good(rel, [date], line, row)
            if fraction:
                inferred.dead.append(dict(source=rel, offset=line, payload=raw, error_has="amount",
                                          what="1.5 in a column inferred as Int64"))
            else:
                inferred.add_good(rel, [date], line, row)
        text.save(os.path.join(d, "data", rel))
    inferred.save(d, format="csv")
    os.rename(os.path.join(d, "expected.json"), os.path.join(d, "expected-inferred.json"))
    declared.save(d, format="csv")
    os.rename(os.path.join(d, "expected.json"), os.path.join(d, "expected-declared.json"))


def write_json_infer(d, seed):
    """JSON lines whose `code` is a number on some lines and a string on others: inferred
    as text, every line must be read, numbers as their JSON text."""
    rng = random.Random(f"json-infer-{seed}")
    exp = Expect(["date"], [["id", "BIGINT"], ["code", "VARCHAR"], ["score", "DOUBLE"], ["ok", "BOOLEAN"], ["at", "VARCHAR"]])
    os.makedirs(os.path.join(d, "data", "date=2024-01-01"), exist_ok=True)
    rel = "date=2024-01-01/data.jsonl"
    text = TextFile()
    for i in range(200):
        code = rng.randrange(1000) if i % 3 else f"C-{rng.randrange(1000)}"
        row = {"id": i + 1, "code": code, "score": round(rng.uniform(0, 10), 2), "ok": rng.random() < 0.5,
               "at": ts_text(BASE_US + rng.randrange(DAY_US))}
        line, _ = text.add(json.dumps(row))
        exp.add_good(rel, ["2024-01-01"], line, dict(row, code=str(code)))
    text.save(os.path.join(d, "data", rel))
    exp.save(d, format="json")


def write(args):
    os.makedirs(args.dir, exist_ok=True)
    case = args.case
    if case in ("parquet", "orc", "avro", "csv", "json"):
        exp = write_format(args.dir, case, args.seed)
        print(f"wrote {len(exp.good)} good and {len(exp.dead)} bad {case} records")
    elif case in ("broken-parquet", "broken-first-parquet", "broken-orc", "not-avro", "truncated-avro"):
        write_broken(args.dir, case, args.seed)
        print(f"wrote {case}")
    elif case == "prune":
        write_prune(args.dir, args.seed)
        print("wrote prune")
    elif case == "csv-infer":
        write_csv_infer(args.dir, args.seed)
        print("wrote csv-infer")
    elif case == "json-infer":
        write_json_infer(args.dir, args.seed)
        print("wrote json-infer")
    else:
        sys.exit(f"unknown case {case}")


# --------------------------------------------------------------------------- check


def check(args):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from delta_checks import connect  # loads the Delta extension offline

    with open(args.expected or os.path.join(args.dir, "expected.json")) as f:
        exp = json.load(f)
    con = connect()
    tables = os.path.join(os.path.abspath(args.out), "tables")
    failures = []

    def scan(t):
        return f"delta_scan('{tables}/{t}')"

    def q(c):
        return '"' + c + '"'

    keys = exp["partition_keys"]
    data_cols = [c for c, _ in exp["columns"]]
    want_types = [(c, t) for c, t in exp["columns"]] + [(k, "VARCHAR") for k in keys] + [
        ("source", "VARCHAR"), ("partition", "INTEGER"), ("offset", "BIGINT")]

    def select(table):
        parts = []
        for c, t in exp["columns"]:
            if t.startswith("TIMESTAMP"):
                parts.append(f"epoch_us({q(c)})")
            elif t == "DATE":
                parts.append(f"{q(c)}::VARCHAR")
            else:
                parts.append(q(c))
        parts += [q(k) for k in keys] + ['"source"', '"partition"', '"offset"']
        return f"SELECT {', '.join(parts)} FROM {scan(table)}"

    def expected_tuple(r):
        return tuple(r[c] for c in data_cols) + tuple(r["_parts"]) + (r["_source"], 0, r["_offset"])

    def compare(table, want_rows):
        got_types = [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {scan(table)}").fetchall()]
        if table == "bronze" and got_types != want_types:
            failures.append(f"{table}: columns {got_types}, expected {want_types}")
        if table != "bronze":
            missing = [c for c in want_types if c not in got_types]
            if missing:
                failures.append(f"{table}: lacks columns {missing}; has {got_types}")
                return 0
        got = Counter(con.execute(select(table)).fetchall())
        want = Counter(expected_tuple(r) for r in want_rows)
        extra = got - want
        lost = want - got
        if extra or lost:
            failures.append(
                f"{table}: {sum(got.values())} rows, expected {sum(want.values())}; "
                f"{sum(lost.values())} expected rows missing, e.g. {sorted(lost, key=str)[:3]}; "
                f"{sum(extra.values())} unexpected rows, e.g. {sorted(extra, key=str)[:3]}"
            )
        return sum(got.values())

    bronze = compare("bronze", exp["good"])
    rule_name, _ = exp["rule"]
    check_rule = args.variant != "no-rule" and "qty" in data_cols
    silver_rows = [r for r in exp["good"] if not check_rule or r["qty"] >= 0]
    silver = compare("silver", silver_rows)

    dead = con.execute(
        f'SELECT reason, source, "partition", "offset", payload, error FROM {scan("dlq")}'
    ).fetchall()
    parse = [r for r in dead if r[0] == "parse_error"]
    rules = Counter((r[1], r[2], r[3]) for r in dead if r[0] == f"rule:{rule_name}")
    other = [r for r in dead if r[0] != "parse_error" and r[0] != f"rule:{rule_name}"]
    if other:
        failures.append(f"dlq: unexpected reasons {Counter(r[0] for r in other)}")
    want_rules = Counter((r["_source"], 0, r["_offset"]) for r in exp["good"] if check_rule and r["qty"] < 0)
    if rules != want_rules:
        failures.append(
            f"dlq: {sum(rules.values())} rule:{rule_name} rows, expected {sum(want_rules.values())}; "
            f"missing {sorted(want_rules - rules)[:3]}, unexpected {sorted(rules - want_rules)[:3]}"
        )
    got_parse = Counter((r[1], r[2], r[3]) for r in parse)
    want_parse = Counter((d["source"], 0, d["offset"]) for d in exp["dead"])
    if got_parse != want_parse:
        failures.append(
            f"dlq: parse_error at {sorted(got_parse)[:8]} ({sum(got_parse.values())} rows), expected at "
            f"{sorted(want_parse)[:8]} ({sum(want_parse.values())}): missing {sorted(want_parse - got_parse)[:5]}, "
            f"unexpected {sorted(got_parse - want_parse)[:5]}"
        )
    by_coord = {(r[1], r[3]): r for r in parse}
    for d in exp["dead"]:
        row = by_coord.get((d["source"], d["offset"]))
        if row is None:
            continue
        _, _, _, _, payload, error = row
        label = f"dead letter {d['source']}:{d['offset']} ({d['what']})"
        if not error:
            failures.append(f"{label}: no error text")
        elif d.get("error_has") and d["error_has"] not in error:
            failures.append(f"{label}: error {error!r} does not name field {d['error_has']!r}")
        if "payload" in d and payload != d["payload"]:
            failures.append(f"{label}: payload {payload!r}, expected the record's text {d['payload']!r}")
        if "payload_id" in d:
            try:
                obj = json.loads(payload)
                if obj.get("id") != d["payload_id"]:
                    failures.append(f"{label}: payload {payload[:80]!r} is not the row with id {d['payload_id']}")
            except (TypeError, ValueError):
                failures.append(f"{label}: payload {payload!r} is not the row as a JSON object")
    report = {
        "check": "files",
        "out": args.out,
        "bronze": bronze,
        "silver": silver,
        "parse_errors": len(parse),
        "rule_violations": sum(rules.values()),
        "expected_bronze": len(exp["good"]),
        "expected_parse_errors": len(exp["dead"]),
        "ok": not failures,
        "failures": failures[:12],
    }
    print(json.dumps(report))
    if failures:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--dir", required=True)
    w.add_argument("--case", required=True)
    w.add_argument("--seed", type=int, default=7)
    c = sub.add_parser("check")
    c.add_argument("--dir", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--expected")
    c.add_argument("--variant", default="")
    r = sub.add_parser("repair")
    r.add_argument("--dir", required=True)
    args = ap.parse_args()
    start = time.time()
    {"write": write, "check": check, "repair": repair}[args.cmd](args)
    print(f"{args.cmd} took {time.time() - start:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
