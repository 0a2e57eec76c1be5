#!/usr/bin/env python3
"""DuckDB baseline of the batch-etl job (config/batch-etl.yaml), for one process date.

    batch_etl_duckdb.py --data D --out O --date 2024-01-01 [--threads N] [--memory-limit 8GB]

Reads, like the job, the sales Parquet files of the one date (hive partition pruning on
D/sales/process_date=*/), the customers Delta table (delta_scan, the duckdb-ext-delta
extension loaded offline) and D/products/products.json; applies the rules in order
(quantity_positive, price_present quarantine; customer_present warns, max 1%), joins
(left) customers and products, computes revenue, discount and final_revenue and writes
under O (which it empties first):

    O/enriched_sales/process_date=.../product_category=.../*.parquet
    O/daily_summary/daily_summary.parquet
    O/customer_metrics/customer_metrics.parquet
    O/dlq/dlq.parquet          (the quarantined rows, their reason and source file)

DuckDB cannot write Delta tables (its delta extension reads only), so the outputs are
plain Parquet: the comparison with sluice leaves out Delta's commit (a JSON log entry per
table). customer_metrics covers this one date only (sluice's accumulates over the dates
it has processed; for a first run they are the same).

Prints one JSON line: {"engine": "duckdb", "seconds": ..., "rows": ..., ...}, the time
of the whole job (reads, joins, aggregates and writes), `rows` being the sales rows read.
Uses all cores unless --threads says otherwise (DuckDB's default `threads`).
"""

import argparse
import json
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
from delta_checks import connect, lit  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--date", required=True, help="the process date, YYYY-MM-DD")
    ap.add_argument("--threads", type=int, default=None, help="default: DuckDB's (all cores)")
    ap.add_argument("--memory-limit", default=None, help="e.g. 8GB (default: DuckDB's, 80%% of RAM)")
    args = ap.parse_args()
    data, out = os.path.abspath(args.data), os.path.abspath(args.out)
    shutil.rmtree(out, ignore_errors=True)
    for sub in ("daily_summary", "customer_metrics", "dlq"):
        os.makedirs(os.path.join(out, sub))

    con = connect()  # the Delta extension, loaded offline
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")
    if args.memory_limit:
        con.execute(f"SET memory_limit = {lit(args.memory_limit)}")
    # Row order is irrelevant to every output: let DuckDB write in parallel without keeping it.
    con.execute("SET preserve_insertion_order = false")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]

    start = time.perf_counter()
    con.execute(
        f"""CREATE TEMP TABLE sales AS
            SELECT transaction_id, customer_id, product_id, quantity, unit_price, sale_time,
                   process_date, filename AS source, file_row_number AS "offset",
                   CASE WHEN (quantity > 0) IS NOT TRUE THEN 'rule:quantity_positive'
                        WHEN (unit_price IS NOT NULL AND unit_price >= 0) IS NOT TRUE
                             THEN 'rule:price_present'
                   END AS reason
            FROM read_parquet({lit(os.path.join(data, 'sales', '*', '*.parquet'))},
                              hive_partitioning = true, hive_types = {{'process_date': VARCHAR}},
                              filename = true, file_row_number = true)
            WHERE process_date = {lit(args.date)}"""
    )
    rows, null_customers = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE customer_id IS NULL) FROM sales").fetchone()
    if rows and null_customers / rows > 0.01:
        print(f"rule customer_present: {null_customers / rows:.2%} of rows break it, above 1%",
              file=sys.stderr)
        return 1
    con.execute(
        f"""COPY (SELECT reason, source, 0 AS "partition", "offset",
                         to_json(struct_pack(transaction_id, customer_id, product_id, quantity,
                                             unit_price, sale_time, process_date))::VARCHAR AS payload
                  FROM sales WHERE reason IS NOT NULL)
            TO {lit(os.path.join(out, 'dlq', 'dlq.parquet'))} (FORMAT parquet)"""
    )
    con.execute(
        f"""CREATE TEMP TABLE enriched AS
            WITH joined AS (
                SELECT s.transaction_id, s.customer_id, s.product_id, s.quantity, s.unit_price,
                       s.sale_time, s.process_date, c.customer_tier, c.region,
                       p.product_name, p.product_category,
                       s.quantity * s.unit_price AS revenue
                FROM sales s
                LEFT JOIN (SELECT customer_id, customer_tier, region
                           FROM delta_scan({lit(os.path.join(data, 'customers'))})) c
                       ON c.customer_id = s.customer_id
                LEFT JOIN read_json({lit(os.path.join(data, 'products', 'products.json'))},
                                    format = 'newline_delimited',
                                    columns = {{product_id: 'BIGINT', product_name: 'VARCHAR',
                                               product_category: 'VARCHAR', list_price: 'DOUBLE'}}) p
                       ON p.product_id = s.product_id
                WHERE s.reason IS NULL
            ), d AS (
                SELECT *, CASE WHEN customer_tier = 'premium' THEN revenue * 0.1::DOUBLE
                               ELSE 0.0::DOUBLE END AS discount
                FROM joined
            )
            SELECT *, revenue - discount AS final_revenue FROM d"""
    )
    con.execute(
        f"""COPY enriched TO {lit(os.path.join(out, 'enriched_sales'))}
            (FORMAT parquet, PARTITION_BY (process_date, product_category))"""
    )
    con.execute(
        f"""COPY (SELECT process_date, product_category, customer_tier,
                         count(*) AS transaction_count, sum(quantity)::BIGINT AS total_quantity,
                         sum(revenue) AS total_revenue, sum(discount) AS total_discount,
                         sum(final_revenue) AS total_final_revenue,
                         sum(final_revenue) / count(*) AS avg_final_revenue
                  FROM enriched GROUP BY ALL)
            TO {lit(os.path.join(out, 'daily_summary', 'daily_summary.parquet'))} (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT customer_id, sum(final_revenue) AS total_spent,
                         count(*) AS transaction_count, max(sale_time) AS last_purchase
                  FROM enriched WHERE customer_id IS NOT NULL GROUP BY ALL)
            TO {lit(os.path.join(out, 'customer_metrics', 'customer_metrics.parquet'))} (FORMAT parquet)"""
    )
    seconds = time.perf_counter() - start

    enriched, dead = con.execute(
        "SELECT (SELECT count(*) FROM enriched), (SELECT count(*) FROM sales WHERE reason IS NOT NULL)"
    ).fetchone()
    print(json.dumps({
        "engine": "duckdb", "seconds": round(seconds, 3), "rows": rows,
        "enriched_rows": enriched, "dead_letters": dead, "threads": threads,
        "duckdb": con.execute("SELECT version()").fetchone()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
