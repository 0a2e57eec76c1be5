#!/usr/bin/env python3
"""Spark baseline of the batch-etl job (config/batch-etl.yaml), for one process date.

    batch_etl_spark.py --data D --out O --date 2024-01-01 [--master local[2]] [--driver-memory 8g]

The same job as sluice's and benches/batch_etl_duckdb.py's, in PySpark (local mode):
  - sales: D/sales Parquet, filtered on the process_date partition column (Spark prunes
    the other directories; partition type inference is off so process_date stays a string);
  - customers: the Parquet data files of the Delta table D/customers, read directly: the
    files its JSON commits add (and do not remove), see delta_data_files. delta-spark would
    read the log itself, but its jars come from Maven, which this machine cannot reach; the
    generated table (unpartitioned, appended once, no checkpoint) needs no more than that;
  - products: D/products/products.json (JSON lines), broadcast-joined;
  - rules in order (quantity_positive, price_present quarantine; customer_present warns,
    max 1%), left joins, revenue, discount, final_revenue;
  - writes under O (overwritten): enriched_sales/ partitionBy(process_date,
    product_category), daily_summary/, customer_metrics/ and dlq/ as Parquet.
The classified sales rows are cached (MEMORY_AND_DISK) since four outputs read them.
customer_metrics covers this one date only (sluice's accumulates over the dates it has
processed; for a first run they are the same).

Prints one JSON line: {"engine": "spark", "seconds": ..., "rows": ..., "startup_seconds": ...}:
`seconds` is the job (reads, joins, aggregates, writes) without starting the JVM and the
session, which `startup_seconds` reports; `rows` is the sales rows read.
"""

import argparse
import glob
import json
import os
import sys
import time
from urllib.parse import unquote


def delta_data_files(table: str) -> list[str]:
    """The data files of a small Delta table: its JSON commits replayed (adds less removes).

    Stands in for delta-spark, whose jars cannot be fetched here. Good enough for the
    generated customers table (unpartitioned, a couple of commits, no checkpoint, no
    deletion vectors); anything else is refused rather than misread."""
    log = os.path.join(table, "_delta_log")
    if os.path.exists(os.path.join(log, "_last_checkpoint")) or glob.glob(os.path.join(log, "*.checkpoint*.parquet")):
        sys.exit(f"{table}: the Delta log has a checkpoint; read it with a Delta reader")
    commits = sorted(glob.glob(os.path.join(log, "[0-9]" * 20 + ".json")))
    if not commits:
        sys.exit(f"{table}: no Delta commit under {log}")
    files: dict[str, None] = {}
    for commit in commits:
        with open(commit) as f:
            for line in f:
                action = json.loads(line) if line.strip() else {}
                if "add" in action:
                    add = action["add"]
                    if add.get("deletionVector") or add.get("partitionValues"):
                        sys.exit(f"{table}: deletion vectors or partitions; read it with a Delta reader")
                    files[add["path"]] = None
                elif "remove" in action:
                    files.pop(action["remove"]["path"], None)
    if not files:
        sys.exit(f"{table}: the Delta table has no data file")
    return [os.path.join(table, unquote(p)) for p in files]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--date", required=True, help="the process date, YYYY-MM-DD")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument("--shuffle-partitions", type=int, default=4)
    args = ap.parse_args()
    data, out = os.path.abspath(args.data), os.path.abspath(args.out)

    t0 = time.perf_counter()
    from pyspark import StorageLevel
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    spark = (
        SparkSession.builder.master(args.master)
        .appName("batch-etl-baseline")
        # Driver settings must be set before the JVM starts, i.e. before getOrCreate.
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    startup = time.perf_counter() - t0

    start = time.perf_counter()
    steps: dict[str, float] = {}

    def step(name: str) -> None:
        steps[name] = round(time.perf_counter() - start - sum(steps.values()), 3)

    sales = (
        spark.read.parquet(os.path.join(data, "sales"))
        .where(F.col("process_date") == args.date)
        .select(
            "transaction_id", "customer_id", "product_id", "quantity", "unit_price", "sale_time",
            "process_date",
            F.col("_metadata.file_path").alias("source"),
            F.col("_metadata.row_index").alias("offset"),
        )
        # Rules in order; a NULL predicate counts as broken; the first broken rule wins.
        .withColumn(
            "reason",
            F.when(~F.coalesce(F.col("quantity") > 0, F.lit(False)), F.lit("rule:quantity_positive"))
            .when(~F.coalesce(F.col("unit_price").isNotNull() & (F.col("unit_price") >= 0), F.lit(False)),
                  F.lit("rule:price_present")),
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    rows, null_customers = sales.agg(
        F.count(F.lit(1)), F.sum(F.when(F.col("customer_id").isNull(), 1).otherwise(0))
    ).first()
    step("read_and_cache_sales")
    null_customers = null_customers or 0
    if rows and null_customers / rows > 0.01:
        print(f"rule customer_present: {null_customers / rows:.2%} of rows break it, above 1%",
              file=sys.stderr)
        spark.stop()
        return 1

    dead = sales.where(F.col("reason").isNotNull()).select(
        "reason", "source", F.lit(0).alias("partition"), "offset",
        F.to_json(F.struct("transaction_id", "customer_id", "product_id", "quantity", "unit_price",
                           "sale_time", "process_date")).alias("payload"),
    )
    dead.write.mode("overwrite").parquet(os.path.join(out, "dlq"))
    step("dlq")

    customer_files = delta_data_files(os.path.join(data, "customers"))
    customers = spark.read.parquet(*customer_files).select("customer_id", "customer_tier", "region")
    products_schema = StructType([
        StructField("product_id", LongType()), StructField("product_name", StringType()),
        StructField("product_category", StringType()), StructField("list_price", DoubleType()),
    ])
    products = spark.read.schema(products_schema).json(
        os.path.join(data, "products", "products.json")).select(
        "product_id", "product_name", "product_category")
    revenue = F.col("quantity") * F.col("unit_price")
    enriched = (
        sales.where(F.col("reason").isNull())
        .drop("reason", "source", "offset")
        .join(customers, "customer_id", "left")
        .join(F.broadcast(products), "product_id", "left")
        .withColumn("revenue", revenue.cast(DoubleType()))
        .withColumn("discount", F.when(F.col("customer_tier") == "premium", F.col("revenue") * F.lit(0.1))
                    .otherwise(F.lit(0.0)))
        .withColumn("final_revenue", F.col("revenue") - F.col("discount"))
        .select("transaction_id", "customer_id", "product_id", "quantity", "unit_price", "sale_time",
                "process_date", "customer_tier", "region", "product_name", "product_category",
                "revenue", "discount", "final_revenue")
    )
    enriched.write.mode("overwrite").partitionBy("process_date", "product_category").parquet(
        os.path.join(out, "enriched_sales"))
    step("enriched_sales")
    (
        enriched.groupBy("process_date", "product_category", "customer_tier")
        .agg(
            F.count(F.lit(1)).alias("transaction_count"),
            F.sum("quantity").cast(LongType()).alias("total_quantity"),
            F.sum("revenue").alias("total_revenue"),
            F.sum("discount").alias("total_discount"),
            F.sum("final_revenue").alias("total_final_revenue"),
        )
        .withColumn("avg_final_revenue", F.col("total_final_revenue") / F.col("transaction_count"))
        .write.mode("overwrite").parquet(os.path.join(out, "daily_summary"))
    )
    step("daily_summary")
    (
        enriched.where(F.col("customer_id").isNotNull())
        .groupBy("customer_id")
        .agg(
            F.sum("final_revenue").alias("total_spent"),
            F.count(F.lit(1)).alias("transaction_count"),
            F.max("sale_time").alias("last_purchase"),
        )
        .write.mode("overwrite").parquet(os.path.join(out, "customer_metrics"))
    )
    step("customer_metrics")
    seconds = time.perf_counter() - start
    dead_letters = sales.where(F.col("reason").isNotNull()).count()
    sales.unpersist()

    print(json.dumps({
        "engine": "spark", "seconds": round(seconds, 3), "rows": rows,
        "enriched_rows": rows - dead_letters, "dead_letters": dead_letters,
        "startup_seconds": round(startup, 3), "master": args.master,
        "driver_memory": args.driver_memory, "spark": spark.version, "steps": steps,
    }))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
