#!/usr/bin/env python3
"""Spark Structured Streaming baseline of benches/windows.yaml: the demo's gold windows.

    windows_spark.py --data D --out O [--master local[2]] [--files-per-trigger 1]

Reads the JSON-lines files of `sluice demo-data events` under D as a stream, one file per
micro-batch (maxFilesPerTrigger, Trigger.AvailableNow so the query ends when every file is
read), with the job's schema; keeps the rows the job's rules keep (user_id not null,
value >= 0, a known event_type; malformed lines parse to null columns and are dropped with
them, as sluice sends them to its dead-letter table); and counts 5-minute windows sliding
by 1 minute per (user_id, event_type) with a 10-minute watermark, in append mode, into
Parquet under O/gold (checkpoint O/checkpoint).

Prints one JSON line: {"engine": "spark", "seconds": ..., "rows": ..., "batches": ...,
"startup_seconds": ...}: `seconds` runs from the query's start to its end, without the JVM
and session start-up (`startup_seconds`); `rows` counts the gold rows written.
"""

import argparse
import json
import shutil
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--shuffle-partitions", type=int, default=2)
    ap.add_argument("--files-per-trigger", type=int, default=1)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master(args.master)
        .appName("sluice-windows-baseline")
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    startup = time.perf_counter() - t0
    shutil.rmtree(args.out, ignore_errors=True)

    schema = ("event_id STRING, user_id STRING, event_type STRING, "
              "event_time TIMESTAMP, value DOUBLE")
    start = time.perf_counter()
    events = (
        spark.readStream.schema(schema)
        .option("maxFilesPerTrigger", args.files_per_trigger)
        .json(args.data)
    )
    kept = events.where(
        F.col("event_time").isNotNull()
        & F.col("user_id").isNotNull()
        & (F.col("value") >= 0)
        & F.col("event_type").isin("click", "view", "add_to_cart", "purchase", "search")
    )
    gold = (
        kept.withWatermark("event_time", "10 minutes")
        .groupBy(F.window("event_time", "5 minutes", "1 minute"), "user_id", "event_type")
        .agg(F.count(F.lit(1)).alias("event_count"), F.sum("value").alias("total_value"),
             F.avg("value").alias("avg_value"))
        .select(F.col("window.start").alias("window_start"), F.col("window.end").alias("window_end"),
                "user_id", "event_type", "event_count", "total_value", "avg_value")
    )
    query = (
        gold.writeStream.outputMode("append").format("parquet")
        .option("path", f"{args.out}/gold")
        .option("checkpointLocation", f"{args.out}/checkpoint")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    seconds = time.perf_counter() - start
    batches = len(query.recentProgress)
    rows = spark.read.parquet(f"{args.out}/gold").count()
    spark.stop()
    print(json.dumps({
        "engine": "spark", "seconds": round(seconds, 3), "rows": rows, "batches": batches,
        "startup_seconds": round(startup, 3), "master": args.master,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
