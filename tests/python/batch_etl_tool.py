"""The batch-etl job (config/batch-etl.yaml) checked against DuckDB over the raw files.

    batch_etl_tool.py check --data D --out O --dates 2024-01-01,2024-01-02 [--float-rel R]

D is a dataset of `sluice demo-data batch` (D/sales/process_date=.../*.parquet, the Delta
table D/customers, D/products/products.json); O is the job's output directory, after it
ran once or more for each date of --dates (and for no other date). DuckDB computes, from
the raw files alone and without sluice's code, what the job's tables must hold for those
dates, and compares it with O/tables/<name> read with delta_scan:

  enriched_sales    the surviving sales rows, left-joined with customers and products,
                    with revenue, discount and final_revenue: every row, joined on
                    transaction_id (which must be unique: no duplicates from re-runs);
                    floats within R relative, everything else equal.
  dlq               the quarantined rows: (transaction_id, reason) as multisets, reason
                    being the first broken rule; each row's payload (the raw row as JSON)
                    has the raw values, its source names the right
                    process_date=<date>/part-*.parquet file, its offset the row's index
                    in that file and its partition is 0.
  daily_summary     per (process_date, product_category, customer_tier), NULL-safe:
                    counts and quantities equal, sums and the average within R relative.
  customer_metrics  per non-null customer_id over all the dates: total_spent within R
                    relative, transaction_count and last_purchase equal.

Column types are checked where the spec names them. Prints one JSON line (what was
compared, row counts, failures and a few example rows); the readable diff goes to stderr.
Exit status 0 when everything matches, 1 on any mismatch, 2 when the check cannot run.
"""

import argparse
import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delta_checks import (  # noqa: E402
    CheckError, _jsonable, connect, lit, multiset_diff, rows_as_dicts, scalar,
)

EXAMPLES = 5
QUANTITY_RULE = "rule:quantity_positive"
PRICE_RULE = "rule:price_present"

ENRICHED_COLUMNS = [
    ("transaction_id", "BIGINT"),
    ("customer_id", "BIGINT"),
    ("product_id", "BIGINT"),
    ("quantity", "INTEGER"),
    ("unit_price", "DOUBLE"),
    ("sale_time", "TIMESTAMP WITH TIME ZONE"),
    ("process_date", "VARCHAR"),
    ("customer_tier", "VARCHAR"),
    ("region", "VARCHAR"),
    ("product_name", "VARCHAR"),
    ("product_category", "VARCHAR"),
    ("revenue", "DOUBLE"),
    ("discount", "DOUBLE"),
    ("final_revenue", "DOUBLE"),
]
SUMMARY_COLUMNS = [
    ("process_date", "VARCHAR"),
    ("product_category", "VARCHAR"),
    ("customer_tier", "VARCHAR"),
    ("transaction_count", "BIGINT"),
    ("total_quantity", "BIGINT"),
    ("total_revenue", "DOUBLE"),
    ("total_discount", "DOUBLE"),
    ("total_final_revenue", "DOUBLE"),
    ("avg_final_revenue", "DOUBLE"),
]
METRICS_COLUMNS = [
    ("customer_id", "BIGINT"),
    ("total_spent", "DOUBLE"),
    ("transaction_count", "BIGINT"),
    ("last_purchase", "TIMESTAMP WITH TIME ZONE"),
]
DLQ_COLUMNS = [
    ("reason", "VARCHAR"),
    ("source", "VARCHAR"),
    ("partition", "INTEGER"),
    ("offset", "BIGINT"),
    ("payload", "VARCHAR"),
]
# A sales file's path from its process_date directory on: process_date=<date>/<file>.
SUFFIX = r"regexp_extract(replace(file, '\', '/'), '[^/]+/[^/]+$')"
RAW_WITH_SUFFIX = f"SELECT *, {SUFFIX} AS file_suffix FROM raw"

TABLE_COLUMNS = {
    "enriched_sales": ENRICHED_COLUMNS,
    "daily_summary": SUMMARY_COLUMNS,
    "customer_metrics": METRICS_COLUMNS,
    "dlq": DLQ_COLUMNS,
}


def qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------- expected


def load_expected(con, data: str, dates: list[str]) -> dict:
    """Temp tables raw (the dates' sales rows), dead (their quarantined rows), enriched,
    summary and metrics, computed from the raw files."""
    data = os.path.abspath(data)
    sales_glob = os.path.join(data, "sales", "*", "*.parquet")
    customers = os.path.join(data, "customers")
    products = os.path.join(data, "products", "products.json")
    for path, what in ((os.path.join(data, "sales"), "sales directory"),
                       (os.path.join(customers, "_delta_log"), "customers Delta log"),
                       (products, "products file")):
        if not os.path.exists(path):
            raise CheckError(f"no {what} at {path}")
    in_dates = ", ".join(lit(d) for d in dates)
    try:
        # process_date is the hive directory's value, kept a string as in the spec.
        con.execute(
            f"""CREATE TEMP TABLE raw AS
                SELECT transaction_id, customer_id, product_id, quantity, unit_price, sale_time,
                       process_date, filename AS file, file_row_number AS row_in_file
                FROM read_parquet({lit(sales_glob)}, hive_partitioning = true,
                                  hive_types = {{'process_date': VARCHAR}},
                                  filename = true, file_row_number = true)
                WHERE process_date IN ({in_dates})"""
        )
        con.execute(f"CREATE TEMP TABLE customers AS SELECT * FROM delta_scan({lit(customers)})")
        con.execute(
            f"""CREATE TEMP TABLE products AS SELECT * FROM read_json({lit(products)},
                format = 'newline_delimited',
                columns = {{product_id: 'BIGINT', product_name: 'VARCHAR',
                           product_category: 'VARCHAR', list_price: 'DOUBLE'}})"""
        )
    except Exception as e:  # duckdb.Error and IO errors alike: the input is not usable
        raise CheckError(f"cannot read the dataset under {data}: {e}") from e

    # The rules in order; a NULL predicate counts as broken; the first broken rule wins.
    con.execute(
        f"""CREATE TEMP TABLE classified AS
            SELECT *,
                   CASE WHEN (quantity > 0) IS NOT TRUE THEN {lit(QUANTITY_RULE)}
                        WHEN (unit_price IS NOT NULL AND unit_price >= 0) IS NOT TRUE
                             THEN {lit(PRICE_RULE)}
                   END AS reason
            FROM raw"""
    )
    con.execute("CREATE TEMP TABLE dead AS SELECT * FROM classified WHERE reason IS NOT NULL")
    con.execute(
        """CREATE TEMP TABLE enriched AS
           WITH joined AS (
               SELECT s.transaction_id, s.customer_id, s.product_id, s.quantity, s.unit_price,
                      s.sale_time, s.process_date, c.customer_tier, c.region,
                      p.product_name, p.product_category,
                      (s.quantity * s.unit_price)::DOUBLE AS revenue
               FROM classified s
               LEFT JOIN customers c ON c.customer_id = s.customer_id
               LEFT JOIN products p ON p.product_id = s.product_id
               WHERE s.reason IS NULL
           ), discounted AS (
               SELECT *, CASE WHEN customer_tier = 'premium' THEN revenue * 0.1::DOUBLE
                              ELSE 0.0::DOUBLE END AS discount
               FROM joined
           )
           SELECT *, revenue - discount AS final_revenue FROM discounted"""
    )
    con.execute(
        """CREATE TEMP TABLE summary AS
           SELECT process_date, product_category, customer_tier,
                  count(*)::BIGINT AS transaction_count,
                  sum(quantity)::BIGINT AS total_quantity,
                  sum(revenue) AS total_revenue,
                  sum(discount) AS total_discount,
                  sum(final_revenue) AS total_final_revenue,
                  sum(final_revenue) / count(*) AS avg_final_revenue
           FROM enriched GROUP BY ALL"""
    )
    con.execute(
        """CREATE TEMP TABLE metrics AS
           SELECT customer_id, sum(final_revenue) AS total_spent,
                  count(*)::BIGINT AS transaction_count, max(sale_time) AS last_purchase
           FROM enriched WHERE customer_id IS NOT NULL GROUP BY ALL"""
    )
    per_date = con.execute(
        """SELECT process_date, count(*), count(*) FILTER (WHERE customer_id IS NULL)
           FROM raw GROUP BY ALL ORDER BY 1"""
    ).fetchall()
    found = {d for d, _, _ in per_date}
    missing_dates = [d for d in dates if d not in found]
    if missing_dates:
        raise CheckError(f"no sales rows for {missing_dates} under {os.path.join(data, 'sales')}")
    return {
        "sales_rows": scalar(con, "SELECT count(*) FROM raw"),
        "null_customer_ratio": {d: round(nulls / n, 6) for d, n, nulls in per_date},
        "customers": scalar(con, "SELECT count(*) FROM customers"),
        "products": scalar(con, "SELECT count(*) FROM products"),
    }


# --------------------------------------------------------------------------- actual


def load_actual(con, out: str, table: str, alias: str) -> list[str]:
    """Materialises O/tables/<table> as `alias`; returns type problems (missing columns or
    columns of another type than the spec's)."""
    path = os.path.join(os.path.abspath(out), "tables", table)
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        raise CheckError(f"no Delta table at {path} (missing _delta_log/)")
    try:
        con.execute(f"CREATE TEMP TABLE {qi(alias)} AS SELECT * FROM delta_scan({lit(path)})")
    except Exception as e:
        raise CheckError(f"delta_scan failed on {path}: {e}") from e
    have = {r[0]: r[1] for r in con.execute(f"DESCRIBE {qi(alias)}").fetchall()}
    problems = []
    for name, want in TABLE_COLUMNS[table]:
        if name not in have:
            problems.append(f"{table}: no column {name} (it has {sorted(have)})")
        elif have[name].upper() != want:
            problems.append(f"{table}.{name}: type {have[name]}, want {want}")
    return problems


# --------------------------------------------------------------------------- comparing


def close(a: str, b: str, rel: float) -> str:
    """SQL: doubles a and b are equal within rel (NULL-safe; NaN equals NaN)."""
    return (f"(({a} IS NULL AND {b} IS NULL) OR {a} = {b} OR (isnan({a}) AND isnan({b})) "
            f"OR abs({a} - {b}) <= {rel!r} * greatest(abs({a}), abs({b})))")


def same(a: str, b: str, typ: str, rel: float) -> str:
    return f"coalesce({close(a, b, rel)}, false)" if typ == "DOUBLE" else f"{a} IS NOT DISTINCT FROM {b}"


def shown(col: str, typ: str) -> str:
    """A column as shown in the examples (timestamps as exact microsecond strings)."""
    if typ.startswith("TIMESTAMP"):
        return f"strftime({col} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')"
    return col


def keyed_compare(con, want: str, got: str, keys: list[tuple[str, str]],
                  values: list[tuple[str, str]], rel: float) -> dict:
    """Compares tables `want` and `got` joined NULL-safely on `keys` (unique on both sides
    is checked): rows only in one of them, and rows whose `values` differ."""
    kcols = ", ".join(qi(k) for k, _ in keys)
    res = {
        "rows_expected": scalar(con, f"SELECT count(*) FROM {want}"),
        "rows": scalar(con, f"SELECT count(*) FROM {got}"),
        "duplicate_keys_expected": scalar(
            con, f"SELECT count(*) FROM (SELECT {kcols} FROM {want} GROUP BY ALL HAVING count(*) > 1)"),
        "duplicate_keys": scalar(
            con, f"SELECT count(*) FROM (SELECT {kcols} FROM {got} GROUP BY ALL HAVING count(*) > 1)"),
    }
    examples = {}
    if res["duplicate_keys"]:
        examples["duplicate_keys"] = rows_as_dicts(
            con, f"""SELECT {kcols}, count(*) AS copies FROM {got} GROUP BY ALL
                     HAVING count(*) > 1 ORDER BY ALL LIMIT {EXAMPLES}""")
    on = " AND ".join(f"w.{qi(k)} IS NOT DISTINCT FROM g.{qi(k)}" for k, _ in keys)
    join = (f"FROM (SELECT *, true AS __w FROM {want}) w "
            f"FULL OUTER JOIN (SELECT *, true AS __g FROM {got}) g ON {on}")
    differs = " OR ".join(
        f"NOT {same(f'w.{qi(c)}', f'g.{qi(c)}', t, rel)}" for c, t in values) or "false"
    key_shown = ", ".join(f"{shown(f'coalesce(w.{qi(k)}, g.{qi(k)})', t)} AS {qi(k)}" for k, t in keys)
    conds = {
        "missing": ("w.__w AND g.__g IS NULL",
                    ", ".join(f"{shown(f'w.{qi(c)}', t)} AS {qi(c)}" for c, t in keys + values)),
        "unexpected": ("g.__g AND w.__w IS NULL",
                       ", ".join(f"{shown(f'g.{qi(c)}', t)} AS {qi(c)}" for c, t in keys + values)),
        "mismatched": (f"w.__w AND g.__g AND ({differs})", None),
    }
    for what, (cond, sel) in conds.items():
        res[what] = scalar(con, f"SELECT count(*) {join} WHERE {cond}")
        if not res[what]:
            continue
        if sel is None:
            # Each differing row: its key, and want/got of the columns that differ.
            pairs = ", ".join(
                f"CASE WHEN NOT {same(f'w.{qi(c)}', f'g.{qi(c)}', t, rel)} THEN "
                f"'want ' || coalesce({shown(f'w.{qi(c)}', t)}::VARCHAR, 'NULL') || ', got ' || "
                f"coalesce({shown(f'g.{qi(c)}', t)}::VARCHAR, 'NULL') END AS {qi(c)}"
                for c, t in values)
            rows = rows_as_dicts(
                con, f"SELECT {key_shown}, {pairs} {join} WHERE {cond} ORDER BY ALL LIMIT {EXAMPLES}")
            # The key, and only the columns that differ.
            keep = {k for k, _ in keys}
            examples[what] = [{k: v for k, v in r.items() if k in keep or v is not None} for r in rows]
        else:
            examples[what] = rows_as_dicts(con, f"SELECT {sel} {join} WHERE {cond} ORDER BY ALL LIMIT {EXAMPLES}")
    failures = [k for k in ("duplicate_keys", "missing", "unexpected", "mismatched") if res[k]]
    if res["rows"] != res["rows_expected"]:
        failures.append("row_counts_differ")
    if res["duplicate_keys_expected"]:
        failures.append("duplicate_keys_expected")
    if res["rows_expected"] == 0:
        failures.append("nothing_expected")
    res["failures"] = failures
    if examples:
        res["examples"] = examples
    return res


def compare_enriched(con, rel: float) -> dict:
    cols = ", ".join(
        (f"{qi(c)}::VARCHAR AS {qi(c)}" if c == "process_date" else qi(c)) for c, _ in ENRICHED_COLUMNS)
    con.execute(f"CREATE TEMP TABLE want_enriched AS SELECT {cols} FROM enriched")
    con.execute(f"CREATE TEMP TABLE got_enriched AS SELECT {cols} FROM got_enriched_raw")
    keys = ENRICHED_COLUMNS[:1]
    res = keyed_compare(con, "want_enriched", "got_enriched", keys,
                        ENRICHED_COLUMNS[1:], rel)
    res["null_transaction_ids"] = scalar(
        con, "SELECT count(*) FROM got_enriched WHERE transaction_id IS NULL")
    if res["null_transaction_ids"]:
        res["failures"].append("null_transaction_ids")
    # sluice keeps the rows' coordinates (source file, partition 0, row index in the
    # file) in the table; when it has them, they must be the raw row's.
    have = {r[0] for r in con.execute("DESCRIBE got_enriched_raw").fetchall()}
    if {"source", "offset"} <= have:
        bad = f"""SELECT g.transaction_id, g.source, g."offset", r.file_suffix AS want_source_suffix,
                         r.row_in_file AS want_offset
                  FROM got_enriched_raw g JOIN ({RAW_WITH_SUFFIX}) r USING (transaction_id)
                  WHERE NOT coalesce(ends_with('/' || replace(g.source, '\\', '/'), '/' || r.file_suffix), false)
                     OR g."offset" IS DISTINCT FROM r.row_in_file"""
        res["wrong_coordinates"] = scalar(con, f"SELECT count(*) FROM ({bad})")
        if res["wrong_coordinates"]:
            res["failures"].append("wrong_coordinates")
            res.setdefault("examples", {})["wrong_coordinates"] = rows_as_dicts(
                con, f"SELECT * FROM ({bad}) ORDER BY ALL LIMIT {EXAMPLES}")
    # The rows per partition of the table, for the summary.
    res["rows_by_date"] = dict(con.execute(
        "SELECT process_date, count(*) FROM got_enriched GROUP BY ALL ORDER BY 1").fetchall())
    return res


def compare_dlq(con) -> dict:
    """(transaction_id, reason) multisets, then each dead letter's coordinates and payload."""
    con.execute(
        """CREATE TEMP TABLE got_dead AS
           SELECT reason, source, "partition" AS part, "offset" AS off, payload,
                  TRY_CAST(json_extract(payload, '$.transaction_id') AS BIGINT) AS transaction_id
           FROM got_dlq_raw"""
    )
    res = multiset_diff(con, "SELECT transaction_id, reason FROM dead",
                        "SELECT transaction_id, reason FROM got_dead")
    res["by_reason_expected"] = dict(con.execute(
        "SELECT reason, count(*) FROM dead GROUP BY ALL ORDER BY 1").fetchall())
    res["by_reason"] = dict(con.execute(
        "SELECT reason, count(*) FROM got_dead GROUP BY ALL ORDER BY 1").fetchall())
    examples = {}
    checks = {
        # Rows in the table that are not quarantined rows of these dates (wrong reason,
        # a surviving transaction, another date, a copy from a re-run), and the reverse.
        "unexpected": """SELECT u.transaction_id, u.reason,
                                (SELECT any_value(payload) FROM got_dead g
                                 WHERE g.transaction_id IS NOT DISTINCT FROM u.transaction_id) AS payload
                         FROM (SELECT transaction_id, reason FROM got_dead
                               EXCEPT ALL SELECT transaction_id, reason FROM dead) u""",
        "missing": """SELECT m.transaction_id, m.reason, d.process_date, d.quantity, d.unit_price
                      FROM (SELECT transaction_id, reason FROM dead
                            EXCEPT ALL SELECT transaction_id, reason FROM got_dead) m
                      JOIN dead d USING (transaction_id)""",
        "duplicate_transaction_ids": """SELECT transaction_id, count(*) AS copies FROM got_dead
                                        GROUP BY ALL HAVING count(*) > 1""",
        "unparsable_payloads": """SELECT reason, source, off AS "offset", payload FROM got_dead
                                  WHERE transaction_id IS NULL""",
        # The row's source is the Parquet file it was read from (its path relative to the
        # source's directory, ending with process_date=<date>/<file>), its offset the
        # row's 0-based index in the file, its partition 0.
        "wrong_coordinates": f"""SELECT d.transaction_id, g.source, g.part AS "partition", g.off AS "offset",
                                       d.file_suffix AS want_source_suffix, d.row_in_file AS want_offset
                                FROM got_dead g
                                JOIN (SELECT *, {SUFFIX} AS file_suffix FROM dead) d USING (transaction_id)
                                WHERE NOT coalesce(ends_with('/' || replace(g.source, '\\', '/'), '/' || d.file_suffix)
                                                   AND starts_with(d.file_suffix, 'process_date=' || d.process_date || '/'),
                                                   false)
                                   OR g.off IS DISTINCT FROM d.row_in_file
                                   OR g.part IS DISTINCT FROM 0""",
        # The payload is the raw row as JSON (nulls left out).
        "wrong_payloads": """SELECT d.transaction_id, g.payload FROM got_dead g JOIN dead d USING (transaction_id)
                             WHERE TRY_CAST(json_extract(g.payload, '$.customer_id') AS BIGINT)
                                       IS DISTINCT FROM d.customer_id
                                OR TRY_CAST(json_extract(g.payload, '$.product_id') AS BIGINT)
                                       IS DISTINCT FROM d.product_id
                                OR TRY_CAST(json_extract(g.payload, '$.quantity') AS INTEGER)
                                       IS DISTINCT FROM d.quantity
                                OR TRY_CAST(json_extract(g.payload, '$.unit_price') AS DOUBLE)
                                       IS DISTINCT FROM d.unit_price""",
    }
    failures = []
    for what, sql in checks.items():
        res[what] = scalar(con, f"SELECT count(*) FROM ({sql})")
        if res[what]:
            failures.append(what)
            examples[what] = rows_as_dicts(con, f"SELECT * FROM ({sql}) ORDER BY ALL LIMIT {EXAMPLES}")
    if res["rows"] != res["rows_expected"]:
        failures.append("row_counts_differ")
    res["failures"] = failures
    if examples:
        res["examples"] = examples
    return res


def compare_summary(con, rel: float) -> dict:
    cols = ", ".join(
        (f"{qi(c)}::VARCHAR AS {qi(c)}" if c == "process_date" else qi(c)) for c, _ in SUMMARY_COLUMNS)
    con.execute(f"CREATE TEMP TABLE want_summary AS SELECT {cols} FROM summary")
    con.execute(f"CREATE TEMP TABLE got_summary AS SELECT {cols} FROM got_summary_raw")
    res = keyed_compare(con, "want_summary", "got_summary", SUMMARY_COLUMNS[:3],
                        SUMMARY_COLUMNS[3:], rel)
    # avg_final_revenue = total_final_revenue / transaction_count within the table itself.
    bad_avg = f"""SELECT * FROM got_summary
                  WHERE NOT coalesce({close('avg_final_revenue', 'total_final_revenue / transaction_count', rel)}, false)"""
    res["inconsistent_averages"] = scalar(con, f"SELECT count(*) FROM ({bad_avg})")
    if res["inconsistent_averages"]:
        res["failures"].append("inconsistent_averages")
        res.setdefault("examples", {})["inconsistent_averages"] = rows_as_dicts(
            con, f"{bad_avg} ORDER BY ALL LIMIT {EXAMPLES}")
    return res


def compare_metrics(con, rel: float) -> dict:
    cols = ", ".join(qi(c) for c, _ in METRICS_COLUMNS)
    con.execute(f"CREATE TEMP TABLE want_metrics AS SELECT {cols} FROM metrics")
    con.execute(f"CREATE TEMP TABLE got_metrics AS SELECT {cols} FROM got_metrics_raw")
    res = keyed_compare(con, "want_metrics", "got_metrics", METRICS_COLUMNS[:1],
                        METRICS_COLUMNS[1:], rel)
    res["null_customer_ids"] = scalar(con, "SELECT count(*) FROM got_metrics WHERE customer_id IS NULL")
    if res["null_customer_ids"]:
        res["failures"].append("null_customer_ids")
    return res


# --------------------------------------------------------------------------- main


def check(args) -> dict:
    dates = [d.strip() for d in args.dates.split(",") if d.strip()]
    if not dates:
        raise CheckError("--dates names no date")
    con = connect()
    result = {"check": "batch-etl", "data": os.path.abspath(args.data),
              "out": os.path.abspath(args.out), "dates": dates, "float_rel": args.float_rel}
    result["input"] = load_expected(con, args.data, dates)
    type_problems = []
    for table, alias in (("enriched_sales", "got_enriched_raw"), ("dlq", "got_dlq_raw"),
                         ("daily_summary", "got_summary_raw"), ("customer_metrics", "got_metrics_raw")):
        type_problems += load_actual(con, args.out, table, alias)
    missing_columns = [p for p in type_problems if ": no column " in p]
    if missing_columns:
        raise CheckError("; ".join(missing_columns))
    tables = {
        "enriched_sales": compare_enriched(con, args.float_rel),
        "dlq": compare_dlq(con),
        "daily_summary": compare_summary(con, args.float_rel),
        "customer_metrics": compare_metrics(con, args.float_rel),
    }
    result["tables"] = tables
    result["type_problems"] = type_problems
    failures = [f"{t}.{f}" for t, r in tables.items() for f in r["failures"]]
    if type_problems:
        failures.append("column_types")
    result["failures"] = failures
    result["ok"] = not failures
    return result


def readable(res: dict) -> str:
    """The failures and their example rows, for a human."""
    lines = [f"batch-etl check FAILED for dates {','.join(res['dates'])}: {', '.join(res['failures'])}"]
    for p in res.get("type_problems", []):
        lines.append(f"  {p}")
    for table, r in res["tables"].items():
        if not r["failures"]:
            continue
        counts = {k: r[k] for k in ("rows_expected", "rows", "missing", "unexpected", "mismatched",
                                    "duplicate_keys") if k in r}
        lines.append(f"  {table}: {', '.join(r['failures'])} {json.dumps(counts)}")
        for what, rows in r.get("examples", {}).items():
            lines.append(f"    {what} (first {len(rows)}):")
            for row in rows:
                lines.append("      " + json.dumps(_jsonable(row)))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="batch_etl_tool.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="compare the job's tables with DuckDB over the raw files")
    c.add_argument("--data", required=True, help="the dataset directory (sales/, customers/, products/)")
    c.add_argument("--out", required=True, help="the job's output directory (holding tables/)")
    c.add_argument("--dates", required=True, help="comma-separated process dates the job ran for")
    c.add_argument("--float-rel", type=float, default=1e-9, help="relative tolerance of doubles")
    args = ap.parse_args(argv)
    try:
        res = check(args)
    except CheckError as e:
        print(json.dumps({"check": "batch-etl", "ok": False, "error": str(e)}))
        print(f"batch_etl_tool check: cannot run: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a crash is "could not run", not "failed"
        traceback.print_exc()
        msg = f"{type(e).__name__}: {e}"
        print(json.dumps({"check": "batch-etl", "ok": False, "error": msg}))
        print(f"batch_etl_tool check: crashed: {msg}", file=sys.stderr)
        return 2
    print(json.dumps(_jsonable(res)))
    if not res["ok"]:
        print(readable(res), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
