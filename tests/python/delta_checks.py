#!/usr/bin/env python3
"""Independent checks of the Delta tables that `sluice demo` writes.

The tables are read with DuckDB's own Delta reader (`delta_scan` from the
`duckdb-ext-delta` package, which wraps delta-kernel-rs), not with the
deltalake crate that wrote them. The extension is loaded offline from the
installed package; nothing is downloaded.

Every subcommand prints one JSON object to stdout. Exit codes:
  0  the check passed ("ok": true)
  1  the check ran and failed ("ok": false); the JSON says what differs
  2  the check could not run (missing table, column or extension); the
     message is on stderr and in the JSON "error" field

Subcommands:
  gold-vs-silver DIR
  accounting DIR N P
  same-tables DIR_A DIR_B [--tables t1,t2,...] [--float-rel R] [--ignore-columns c1,...]
  counts DIR
  doctor

The extension path can be overridden with SLUICE_DUCKDB_DELTA_EXT.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import decimal
import glob
import importlib.metadata
import json
import math
import os
import sys
import traceback
from typing import Any

try:
    import duckdb
except ImportError as _e:  # exit 2: the check cannot run
    print(json.dumps({"ok": False, "error": f"cannot import duckdb: {_e}"}))
    print(
        f"delta_checks: cannot import duckdb in {sys.executable}: {_e}\n"
        "fix: run scripts/test (it creates the venv), or point SLUICE_PYTHON at "
        "$HOME/.cache/sluice-venv/bin/python",
        file=sys.stderr,
    )
    sys.exit(2)

MINUTE_US = 60 * 1_000_000
WINDOW_SIZE_US = 5 * MINUTE_US
WINDOW_SLIDE_US = MINUTE_US
WINDOWS_PER_EVENT = WINDOW_SIZE_US // WINDOW_SLIDE_US  # 5
EXAMPLES = 5

ALL_TABLES = ["bronze", "silver", "gold_user_activity", "dlq"]
TABLE_COLUMNS = {
    "bronze": [
        "event_id", "user_id", "event_type", "event_time", "value", "source",
        "partition", "offset",
    ],
    "silver": [
        "event_id", "user_id", "event_type", "event_time", "value", "source",
        "partition", "offset", "event_date",
    ],
    "gold_user_activity": [
        "window_start", "window_end", "user_id", "event_type", "event_count",
        "total_value", "avg_value",
    ],
    "dlq": [
        "reason", "error", "source", "partition", "offset", "payload", "event_id",
        "watermark", "windows_missed", "epoch",
    ],
}
FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL"}


class CheckError(Exception):
    """The check could not run (exit code 2)."""


# --------------------------------------------------------------------------- output


def _jsonable(v: Any) -> Any:
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time, _dt.timedelta)):
        return str(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return str(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def rows_as_dicts(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    """Rows of a (small) query as dicts; temporal values become strings.

    Fetching TIMESTAMPTZ into Python needs pytz, so cast those in SQL instead.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE __examples AS {sql}")
    desc = con.execute("DESCRIBE __examples").fetchall()
    names = [r[0] for r in desc]
    sel = ", ".join(
        f"{q(n)}::VARCHAR AS {q(n)}" if ("TIME" in t.upper() or "DATE" in t.upper()) else q(n)
        for n, t in ((r[0], r[1]) for r in desc)
    )
    rows = con.execute(f"SELECT {sel} FROM __examples").fetchall()
    con.execute("DROP TABLE __examples")
    return [dict(zip(names, row)) for row in rows]


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> Any:
    return con.execute(sql, params or []).fetchone()[0]


def multiset_diff(con: duckdb.DuckDBPyConnection, want: str, got: str) -> dict:
    """Row counts of queries `want` and `got`, and how many rows each has that the other
    lacks, as multisets (EXCEPT ALL both ways)."""
    count = lambda sql: con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]  # noqa: E731
    return {
        "rows_expected": count(want),
        "rows": count(got),
        "missing": count(f"{want} EXCEPT ALL {got}"),
        "unexpected": count(f"{got} EXCEPT ALL {want}"),
    }


def q(name: str) -> str:
    """Quote an identifier ("partition" and "offset" are SQL keywords)."""
    return '"' + name.replace('"', '""') + '"'


def lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# --------------------------------------------------------------------------- duckdb


def delta_extension_path() -> str:
    override = os.environ.get("SLUICE_DUCKDB_DELTA_EXT")
    if override:
        if not os.path.isfile(override):
            raise CheckError(f"SLUICE_DUCKDB_DELTA_EXT={override} does not exist")
        return override
    version = duckdb.__version__
    try:
        dist = importlib.metadata.distribution("duckdb-ext-delta")
    except importlib.metadata.PackageNotFoundError as e:
        raise CheckError(
            "the PyPI package duckdb-ext-delta is not installed in this Python "
            f"({sys.executable}); run scripts/test (it creates the venv) or "
            f"`pip install duckdb=={version} duckdb-ext-delta`"
        ) from e
    wanted = f"duckdb_ext/extensions/v{version}/"
    candidates = [
        str(dist.locate_file(f))
        for f in (dist.files or [])
        if str(f).startswith(wanted) and str(f).endswith("delta.duckdb_extension")
    ]
    if not candidates:
        # Fall back to a glob, in case the RECORD lists paths differently.
        root = str(dist.locate_file(wanted))
        candidates = glob.glob(os.path.join(root, "*", "delta.duckdb_extension"))
    candidates = [c for c in candidates if os.path.isfile(c)]
    if not candidates:
        raise CheckError(
            f"duckdb-ext-delta {dist.version} has no delta.duckdb_extension for "
            f"duckdb v{version}; install matching versions (duckdb==1.4.4 with "
            "duckdb-ext-delta==1.4.4.*)"
        )
    return sorted(candidates)[0]


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
    )
    path = delta_extension_path()
    try:
        con.execute(f"LOAD {lit(path)}")
    except duckdb.Error as e:
        raise CheckError(f"could not LOAD the delta extension from {path}: {e}") from e
    con.execute("SET TimeZone = 'UTC'")
    return con


def table_path(d: str, table: str) -> str:
    return os.path.join(os.path.abspath(d), "tables", table)


def table_exists(d: str, table: str) -> bool:
    return os.path.isdir(os.path.join(table_path(d, table), "_delta_log"))


def delta_versions(d: str, table: str) -> list[int]:
    log = os.path.join(table_path(d, table), "_delta_log")
    out = []
    for f in os.listdir(log):
        stem, ext = os.path.splitext(f)
        if ext == ".json" and stem.isdigit():
            out.append(int(stem))
    return sorted(out)


def load(con: duckdb.DuckDBPyConnection, d: str, table: str, alias: str) -> list[tuple[str, str]]:
    """Materialise one Delta table as a temp table; return its (column, type) list."""
    if not table_exists(d, table):
        raise CheckError(f"no Delta table at {table_path(d, table)} (missing _delta_log/)")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {q(alias)} AS "
            f"SELECT * FROM delta_scan({lit(table_path(d, table))})"
        )
    except duckdb.Error as e:
        raise CheckError(f"delta_scan failed on {table_path(d, table)}: {e}") from e
    cols = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {q(alias)}").fetchall()]
    expected = TABLE_COLUMNS.get(table)
    if expected:
        names = {c for c, _ in cols}
        missing = [c for c in expected if c not in names]
        if missing:
            raise CheckError(
                f"table {table_path(d, table)} lacks columns {missing}; it has "
                f"{[c for c, _ in cols]}"
            )
    return cols


def micros(col: str) -> str:
    """Microseconds since the Unix epoch of a TIMESTAMP or TIMESTAMPTZ column."""
    return f"epoch_us({col})"


def floor_to(expr: str, unit: int) -> str:
    """floor(expr / unit) * unit for integers, also right for negative values."""
    return f"(({expr}) - ((({expr}) % {unit}) + {unit}) % {unit})"


# --------------------------------------------------------------------------- checks


def check_gold_vs_silver(args) -> dict:
    con = connect()
    d = args.dir
    load(con, d, "silver", "silver")
    load(con, d, "dlq", "dlq")
    load(con, d, "gold_user_activity", "gold")
    rel = args.float_rel

    con.execute(
        f"""
        CREATE TEMP TABLE late AS
        SELECT {q('partition')} AS p, {q('offset')} AS o,
               {micros('watermark')} AS wm, windows_missed
        FROM dlq WHERE reason = 'late'
        """
    )
    late_rows = scalar(con, "SELECT count(*) FROM late")
    late_dup = scalar(con, "SELECT count(*) FROM (SELECT p, o FROM late GROUP BY ALL HAVING count(*) > 1)")
    late_null_wm = scalar(con, "SELECT count(*) FROM late WHERE wm IS NULL")

    # Every windows of every silver event, tagged with whether the event's dlq
    # `late` row says the window was already closed (end <= watermark).
    con.execute(
        f"""
        CREATE TEMP TABLE windows AS
        WITH s AS (
            SELECT {q('partition')} AS p, {q('offset')} AS o, user_id, event_type, value,
                   {micros('event_time')} AS t
            FROM silver
        ), late1 AS (
            SELECT p, o, max(wm) AS wm FROM late GROUP BY ALL
        )
        SELECT s.p, s.o, s.user_id, s.event_type, s.value,
               {floor_to('s.t', WINDOW_SLIDE_US)} - k.k * {WINDOW_SLIDE_US} AS ws,
               late1.wm AS wm,
               (late1.wm IS NOT NULL
                AND {floor_to('s.t', WINDOW_SLIDE_US)} - k.k * {WINDOW_SLIDE_US}
                    + {WINDOW_SIZE_US} <= late1.wm) AS closed
        FROM s
        CROSS JOIN range(0, {WINDOWS_PER_EVENT}) AS k(k)
        LEFT JOIN late1 ON s.p = late1.p AND s.o = late1.o
        """
    )
    left_out = scalar(con, "SELECT count(*) FROM windows WHERE closed")

    # Consistency of the late rows themselves: each is in silver, missed >= 1
    # window, and windows_missed equals the windows with end <= watermark.
    late_not_in_silver = rows_as_dicts(
        con,
        f"""
        SELECT l.p AS "partition", l.o AS "offset", l.wm FROM late l
        ANTI JOIN silver s ON s.{q('partition')} = l.p AND s.{q('offset')} = l.o
        LIMIT {EXAMPLES}
        """,
    )
    late_not_in_silver_n = scalar(
        con,
        f"""SELECT count(*) FROM late l ANTI JOIN silver s
            ON s.{q('partition')} = l.p AND s.{q('offset')} = l.o""",
    )
    missed_sql = """
        SELECT l.p AS "partition", l.o AS "offset", l.windows_missed,
               w.missed AS windows_with_end_le_watermark
        FROM late l
        JOIN (SELECT p, o, count(*) FILTER (WHERE closed) AS missed FROM windows
              WHERE wm IS NOT NULL GROUP BY ALL) w ON w.p = l.p AND w.o = l.o
        WHERE w.missed = 0 OR l.windows_missed IS DISTINCT FROM w.missed
    """
    bad_missed_n = scalar(con, f"SELECT count(*) FROM ({missed_sql})")
    bad_missed = rows_as_dicts(con, f"{missed_sql} LIMIT {EXAMPLES}")

    # A stream stopped mid-way has emitted (append mode) exactly the windows that end at or
    # before the last committed epoch's watermark.
    emitted = ""
    if getattr(args, "emitted_until_ms", None) is not None:
        emitted = f"AND ws + {WINDOW_SIZE_US} <= {int(args.emitted_until_ms) * 1000}"
    con.execute(
        f"""
        CREATE TEMP TABLE expected AS
        SELECT ws, ws + {WINDOW_SIZE_US} AS we, user_id, event_type,
               count(*) AS cnt, sum(value) AS total, avg(value) AS avg
        FROM windows WHERE NOT closed {emitted}
        GROUP BY ws, user_id, event_type
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE actual AS
        SELECT {micros('window_start')} AS ws, {micros('window_end')} AS we, user_id,
               event_type, event_count AS cnt, total_value AS total, avg_value AS avg
        FROM gold
        """
    )
    gold_dup_n = scalar(
        con,
        "SELECT count(*) FROM (SELECT ws, user_id, event_type FROM actual GROUP BY ALL HAVING count(*) > 1)",
    )
    gold_dup = rows_as_dicts(
        con,
        f"""SELECT to_timestamp(ws / 1e6) AS window_start, user_id, event_type, count(*) AS copies
            FROM actual GROUP BY ALL HAVING count(*) > 1 LIMIT {EXAMPLES}""",
    )
    bad_shape_n = scalar(con, f"SELECT count(*) FROM actual WHERE we - ws <> {WINDOW_SIZE_US} OR ws % {WINDOW_SLIDE_US} <> 0")

    def close(a: str, b: str) -> str:
        return (
            f"(({a} IS NULL AND {b} IS NULL) OR {a} = {b} "
            f"OR (isnan({a}) AND isnan({b})) "
            f"OR abs({a} - {b}) <= {rel!r} * greatest(abs({a}), abs({b})))"
        )

    join = """
        FROM expected e FULL OUTER JOIN actual a
        ON e.ws = a.ws AND e.we = a.we
           AND e.user_id IS NOT DISTINCT FROM a.user_id
           AND e.event_type IS NOT DISTINCT FROM a.event_type
    """
    cols = """to_timestamp(coalesce(e.ws, a.ws) / 1e6) AS window_start,
              coalesce(e.user_id, a.user_id) AS user_id,
              coalesce(e.event_type, a.event_type) AS event_type,
              e.cnt AS expected_count, a.cnt AS gold_count,
              e.total AS expected_total, a.total AS gold_total,
              e.avg AS expected_avg, a.avg AS gold_avg"""
    conds = {
        "missing_in_gold": "a.ws IS NULL",
        "extra_in_gold": "e.ws IS NULL",
        "count_mismatches": "e.ws IS NOT NULL AND a.ws IS NOT NULL AND e.cnt <> a.cnt",
        "value_mismatches": (
            "e.ws IS NOT NULL AND a.ws IS NOT NULL AND e.cnt = a.cnt AND NOT "
            f"({close('e.total', 'a.total')} AND {close('e.avg', 'a.avg')})"
        ),
    }
    result: dict[str, Any] = {
        "check": "gold-vs-silver",
        "dir": os.path.abspath(d),
        "float_rel": rel,
        "silver_rows": scalar(con, "SELECT count(*) FROM silver"),
        "late_rows": late_rows,
        "late_windows_left_out": left_out,
        "expected_rows": scalar(con, "SELECT count(*) FROM expected"),
        "gold_rows": scalar(con, "SELECT count(*) FROM actual"),
        "duplicate_gold_keys": gold_dup_n,
        "gold_windows_misshapen": bad_shape_n,
        "late_duplicate_coordinates": late_dup,
        "late_without_watermark": late_null_wm,
        "late_not_in_silver": late_not_in_silver_n,
        "late_windows_missed_wrong": bad_missed_n,
        "examples": {},
    }
    for name, cond in conds.items():
        result[name] = scalar(con, f"SELECT count(*) {join} WHERE {cond}")
        if result[name]:
            result["examples"][name] = rows_as_dicts(
                con, f"SELECT {cols} {join} WHERE {cond} ORDER BY 1, 2, 3 LIMIT {EXAMPLES}"
            )
    if gold_dup:
        result["examples"]["duplicate_gold_keys"] = gold_dup
    if late_not_in_silver:
        result["examples"]["late_not_in_silver"] = late_not_in_silver
    if bad_missed:
        result["examples"]["late_windows_missed_wrong"] = bad_missed
    failures = [
        k
        for k in (
            "missing_in_gold", "extra_in_gold", "count_mismatches", "value_mismatches",
            "duplicate_gold_keys", "gold_windows_misshapen", "late_duplicate_coordinates",
            "late_without_watermark", "late_not_in_silver", "late_windows_missed_wrong",
        )
        if result[k]
    ]
    result["failures"] = failures
    result["ok"] = not failures
    return result


def check_accounting(args) -> dict:
    con = connect()
    d, n, p = args.dir, args.events, args.partitions
    if n < 0 or p <= 0:
        raise CheckError(f"need N >= 0 and P > 0, got N={n} P={p}")
    load(con, d, "bronze", "bronze")
    load(con, d, "silver", "silver")
    load(con, d, "dlq", "dlq")
    load(con, d, "gold_user_activity", "gold")
    P, O = q("partition"), q("offset")
    if getattr(args, "coordinates", "columns") == "event-id":
        # Sources whose own coordinates differ from the generator's (Kinesis counts records
        # per shard): take the generator's (partition, offset) from event_id "<p>-<o>".
        P = "split_part(event_id, '-', 1)"
        O = "split_part(event_id, '-', 2)"

    con.execute(
        f"""
        CREATE TEMP TABLE generated AS
        SELECT p::BIGINT AS p, unnest(range(({n} // {p}) + CASE WHEN p < {n} % {p} THEN 1 ELSE 0 END)) AS o
        FROM range(0, {p}) AS t(p)
        """
    )
    con.execute(f"CREATE TEMP TABLE b AS SELECT {P}::BIGINT AS p, {O}::BIGINT AS o FROM bronze")
    con.execute(f"CREATE TEMP TABLE s AS SELECT {P}::BIGINT AS p, {O}::BIGINT AS o FROM silver")
    con.execute(f"CREATE TEMP TABLE pe AS SELECT {P}::BIGINT AS p, {O}::BIGINT AS o FROM dlq WHERE reason = 'parse_error'")
    con.execute(f"CREATE TEMP TABLE ru AS SELECT {P}::BIGINT AS p, {O}::BIGINT AS o FROM dlq WHERE reason LIKE 'rule:%'")
    con.execute(f"CREATE TEMP TABLE la AS SELECT {P}::BIGINT AS p, {O}::BIGINT AS o FROM dlq WHERE reason = 'late'")

    result: dict[str, Any] = {
        "check": "accounting",
        "dir": os.path.abspath(d),
        "events": n,
        "partitions": p,
        "counts": {
            "generated": scalar(con, "SELECT count(*) FROM generated"),
            "bronze": scalar(con, "SELECT count(*) FROM b"),
            "silver": scalar(con, "SELECT count(*) FROM s"),
            "dlq_parse_error": scalar(con, "SELECT count(*) FROM pe"),
            "dlq_rule": scalar(con, "SELECT count(*) FROM ru"),
            "dlq_late": scalar(con, "SELECT count(*) FROM la"),
            "dlq": scalar(con, "SELECT count(*) FROM dlq"),
            "gold": scalar(con, "SELECT count(*) FROM gold"),
        },
        "dlq_by_reason": {
            r: c
            for r, c in con.execute(
                "SELECT reason, count(*) FROM dlq GROUP BY ALL ORDER BY 1"
            ).fetchall()
        },
        "examples": {},
    }
    checks: dict[str, str] = {}

    # 1. generated coordinate -> exactly one of bronze / dlq parse_error.
    con.execute(
        """CREATE TEMP TABLE landed AS
           SELECT p, o, count(*) AS copies FROM
             (SELECT p, o FROM b UNION ALL SELECT p, o FROM pe) GROUP BY ALL"""
    )
    checks["generated_missing"] = (
        "SELECT g.p AS partition, g.o AS offset FROM generated g ANTI JOIN landed l USING (p, o)"
    )
    checks["generated_landed_more_than_once"] = (
        "SELECT p AS partition, o AS offset, copies FROM landed WHERE copies > 1"
    )
    checks["landed_not_generated"] = (
        "SELECT l.p AS partition, l.o AS offset FROM landed l ANTI JOIN generated g USING (p, o)"
    )
    # 2. bronze row -> exactly one of silver / dlq rule:*.
    con.execute(
        """CREATE TEMP TABLE refined AS
           SELECT p, o, count(*) AS copies FROM
             (SELECT p, o FROM s UNION ALL SELECT p, o FROM ru) GROUP BY ALL"""
    )
    checks["bronze_missing_from_silver_and_rules"] = (
        "SELECT b.p AS partition, b.o AS offset FROM b ANTI JOIN refined r USING (p, o)"
    )
    checks["bronze_in_silver_and_rules_more_than_once"] = (
        "SELECT p AS partition, o AS offset, copies FROM refined WHERE copies > 1"
    )
    checks["silver_or_rules_not_in_bronze"] = (
        "SELECT r.p AS partition, r.o AS offset FROM refined r ANTI JOIN b USING (p, o)"
    )
    # 3. late rows are silver rows too.
    checks["late_not_in_silver"] = (
        "SELECT l.p AS partition, l.o AS offset FROM la l ANTI JOIN s USING (p, o)"
    )
    # 4. no duplicates anywhere.
    for name, t in (("bronze", "b"), ("silver", "s"), ("dlq_parse_error", "pe"),
                    ("dlq_rule", "ru"), ("dlq_late", "la")):
        checks[f"{name}_duplicate_coordinates"] = (
            f"SELECT p AS partition, o AS offset, count(*) AS copies FROM {t} "
            "GROUP BY ALL HAVING count(*) > 1"
        )
    checks["gold_duplicate_keys"] = (
        "SELECT window_start, user_id, event_type, count(*) AS copies FROM gold "
        "GROUP BY ALL HAVING count(*) > 1"
    )
    # 5. every dlq reason is one we know.
    checks["dlq_unknown_reason"] = (
        f"SELECT reason, {P} AS partition, {O} AS offset FROM dlq WHERE reason IS NULL OR NOT "
        "(reason IN ('parse_error', 'late') OR reason LIKE 'rule:_%')"
    )

    failures = []
    for name, sql in checks.items():
        cnt = scalar(con, f"SELECT count(*) FROM ({sql})")
        result[name] = cnt
        if cnt:
            failures.append(name)
            result["examples"][name] = rows_as_dicts(con, f"{sql} ORDER BY ALL LIMIT {EXAMPLES}")
    result["failures"] = failures
    result["ok"] = not failures
    return result


def compare_table(con, a_dir: str, b_dir: str, table: str, rel: float | None,
                  ignore: tuple[str, ...] = ()) -> dict:
    cols_a = load(con, a_dir, table, "ta")
    cols_b = load(con, b_dir, table, "tb")
    for alias, cols in (("ta", cols_a), ("tb", cols_b)):
        for c in ignore:
            if any(name == c for name, _ in cols):
                con.execute(f"ALTER TABLE {q(alias)} DROP COLUMN {q(c)}")
        cols[:] = [(n, t) for n, t in cols if n not in ignore]
    return compare_loaded(con, cols_a, cols_b, rel)


def compare_loaded(con, cols_a: list, cols_b: list, rel: float | None) -> dict:
    """Compares the temp tables ta and tb (columns cols_a and cols_b) as multisets; with
    `rel`, float columns to that relative tolerance, matched by the other columns."""
    out: dict[str, Any] = {
        "rows_a": scalar(con, "SELECT count(*) FROM ta"),
        "rows_b": scalar(con, "SELECT count(*) FROM tb"),
    }
    if sorted(cols_a) != sorted(cols_b):
        out["schema_a"] = cols_a
        out["schema_b"] = cols_b
        out["failures"] = ["schema_differs"]
        out["ok"] = False
        return out
    names = [c for c, _ in cols_a]
    sel = ", ".join(q(c) for c in names)
    floats = [c for c, t in cols_a if t.upper() in FLOAT_TYPES]
    failures = []
    if rel is None or not floats:
        a_not_b = f"SELECT {sel} FROM ta EXCEPT ALL SELECT {sel} FROM tb"
        b_not_a = f"SELECT {sel} FROM tb EXCEPT ALL SELECT {sel} FROM ta"
        out["only_in_a"] = scalar(con, f"SELECT count(*) FROM ({a_not_b})")
        out["only_in_b"] = scalar(con, f"SELECT count(*) FROM ({b_not_a})")
        out["examples"] = {}
        if out["only_in_a"]:
            out["examples"]["only_in_a"] = rows_as_dicts(con, f"{a_not_b} ORDER BY ALL LIMIT {EXAMPLES}")
        if out["only_in_b"]:
            out["examples"]["only_in_b"] = rows_as_dicts(con, f"{b_not_a} ORDER BY ALL LIMIT {EXAMPLES}")
    else:
        # Key = every non-float column; floats compared with a relative tolerance.
        keys = [c for c in names if c not in floats]
        out["keys"] = keys
        out["float_columns"] = floats
        ksel = ", ".join(q(c) for c in keys)
        dup_a = scalar(con, f"SELECT count(*) FROM (SELECT {ksel} FROM ta GROUP BY ALL HAVING count(*) > 1)")
        dup_b = scalar(con, f"SELECT count(*) FROM (SELECT {ksel} FROM tb GROUP BY ALL HAVING count(*) > 1)")
        out["duplicate_keys_a"] = dup_a
        out["duplicate_keys_b"] = dup_b
        if dup_a:
            failures.append("duplicate_keys_a")
        if dup_b:
            failures.append("duplicate_keys_b")
        on = " AND ".join(f"a.{q(k)} IS NOT DISTINCT FROM b.{q(k)}" for k in keys)
        join = (
            "FROM (SELECT *, true AS __in_a FROM ta) a "
            f"FULL OUTER JOIN (SELECT *, true AS __in_b FROM tb) b ON {on}"
        )
        present_a = "a.__in_a IS NOT NULL"
        present_b = "b.__in_b IS NOT NULL"
        close = " AND ".join(
            f"((a.{q(f)} IS NULL AND b.{q(f)} IS NULL) OR a.{q(f)} = b.{q(f)} "
            f"OR (isnan(a.{q(f)}) AND isnan(b.{q(f)})) "
            f"OR abs(a.{q(f)} - b.{q(f)}) <= {rel!r} * greatest(abs(a.{q(f)}), abs(b.{q(f)})))"
            for f in floats
        )
        shown = ", ".join(
            [f"coalesce(a.{q(k)}, b.{q(k)}) AS {q(k)}" for k in keys]
            + [f"a.{q(f)} AS {q(f + '_a')}, b.{q(f)} AS {q(f + '_b')}" for f in floats]
        )
        conds = {
            "only_in_a": f"{present_a} AND NOT {present_b}",
            "only_in_b": f"{present_b} AND NOT {present_a}",
            "float_mismatches": f"{present_a} AND {present_b} AND NOT coalesce({close}, false)",
        }
        out["examples"] = {}
        for name, cond in conds.items():
            out[name] = scalar(con, f"SELECT count(*) {join} WHERE {cond}")
            if out[name]:
                out["examples"][name] = rows_as_dicts(
                    con, f"SELECT {shown} {join} WHERE {cond} ORDER BY ALL LIMIT {EXAMPLES}"
                )
    for k in ("only_in_a", "only_in_b", "float_mismatches"):
        if out.get(k):
            failures.append(k)
    if out["rows_a"] != out["rows_b"]:
        failures.append("row_counts_differ")
    if not out["examples"]:
        del out["examples"]
    out["failures"] = failures
    out["ok"] = not failures
    return out


def check_same_tables(args) -> dict:
    con = connect()
    tables = [t for t in args.tables.split(",") if t] if args.tables else ALL_TABLES
    result: dict[str, Any] = {
        "check": "same-tables",
        "dir_a": os.path.abspath(args.dir_a),
        "dir_b": os.path.abspath(args.dir_b),
        "float_rel": args.float_rel,
        "tables": {},
    }
    for t in tables:
        ignore = tuple(c for c in (args.ignore_columns or "").split(",") if c)
        result["tables"][t] = compare_table(con, args.dir_a, args.dir_b, t, args.float_rel, ignore)
    result["failures"] = [t for t, r in result["tables"].items() if not r["ok"]]
    result["ok"] = not result["failures"]
    return result


def check_counts(args) -> dict:
    con = connect()
    root = os.path.join(os.path.abspath(args.dir), "tables")
    if not os.path.isdir(root):
        raise CheckError(f"no tables/ folder under {os.path.abspath(args.dir)}")
    tables = sorted(
        t for t in os.listdir(root) if os.path.isdir(os.path.join(root, t, "_delta_log"))
    )
    result: dict[str, Any] = {"check": "counts", "dir": os.path.abspath(args.dir),
                              "tables": {}, "versions": {}}
    for t in tables:
        result["tables"][t] = scalar(con, f"SELECT count(*) FROM delta_scan({lit(os.path.join(root, t))})")
        v = delta_versions(args.dir, t)
        result["versions"][t] = v[-1] if v else None
    if "dlq" in tables:
        result["dlq_by_reason"] = {
            r: c
            for r, c in con.execute(
                f"SELECT reason, count(*) FROM delta_scan({lit(os.path.join(root, 'dlq'))}) "
                "GROUP BY ALL ORDER BY 1"
            ).fetchall()
        }
    result["ok"] = True
    return result


def check_doctor(args) -> dict:
    """Loads the extension and reads a tiny Delta table if one is given."""
    con = connect()
    res: dict[str, Any] = {
        "check": "doctor",
        "python": sys.executable,
        "duckdb": duckdb.__version__,
        "duckdb_ext_delta": importlib.metadata.version("duckdb-ext-delta"),
        "extension": delta_extension_path(),
        "loaded": [r[0] for r in con.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded ORDER BY 1").fetchall()],
    }
    if "delta" not in res["loaded"]:
        raise CheckError(f"the delta extension did not load: {res}")
    res["ok"] = True
    return res


# --------------------------------------------------------------------------- main


def summary(res: dict) -> str:
    fails = res.get("failures") or []
    return f"{res.get('check')}: FAILED ({', '.join(map(str, fails))})"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="delta_checks.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser("gold-vs-silver", help="recompute gold from silver + dlq late rows")
    g.add_argument("dir")
    g.add_argument("--float-rel", type=float, default=1e-9)
    g.add_argument("--emitted-until-ms", type=int, default=None,
                   help="for a stream stopped mid-way: only windows ending at or before this "
                        "watermark (ms) are expected in gold")
    g.set_defaults(func=check_gold_vs_silver)

    a = sub.add_parser("accounting", help="every record lands exactly once")
    a.add_argument("dir")
    a.add_argument("events", type=int)
    a.add_argument("partitions", type=int)
    a.add_argument("--coordinates", choices=["columns", "event-id"], default="columns",
                   help="take generator coordinates from partition/offset (default) or event_id")
    a.set_defaults(func=check_accounting)

    s = sub.add_parser("same-tables", help="tables hold the same multisets of rows")
    s.add_argument("dir_a")
    s.add_argument("dir_b")
    s.add_argument("--tables", default=None, help="comma-separated (default: all four)")
    s.add_argument("--float-rel", type=float, default=None,
                   help="compare float columns with this relative tolerance, by key")
    s.add_argument("--ignore-columns", default=None,
                   help="comma-separated columns left out of the comparison (where present)")
    s.set_defaults(func=check_same_tables)

    c = sub.add_parser("counts", help="row counts and latest Delta version per table")
    c.add_argument("dir")
    c.set_defaults(func=check_counts)

    dr = sub.add_parser("doctor", help="load the delta extension offline and report versions")
    dr.set_defaults(func=check_doctor)

    args = ap.parse_args(argv)
    try:
        res = args.func(args)
    except CheckError as e:
        print(json.dumps({"check": args.cmd, "ok": False, "error": str(e)}))
        print(f"delta_checks {args.cmd}: cannot run: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a crash is "could not run", not "failed"
        traceback.print_exc()
        msg = f"{type(e).__name__}: {e}"
        print(json.dumps({"check": args.cmd, "ok": False, "error": msg}))
        print(f"delta_checks {args.cmd}: crashed: {msg}", file=sys.stderr)
        return 2
    print(json.dumps(_jsonable(res), sort_keys=False))
    if not res.get("ok"):
        print(summary(res), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
