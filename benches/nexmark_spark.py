#!/usr/bin/env python3
"""Spark Structured Streaming baseline of benches/nexmark/*.sql, over bids in Parquet files.

    nexmark_spark.py --data D --query q0|q1|q2|q5_count|q5|q7 [--master local[2]]
                     [--files-per-trigger 2]

Reads the Parquet files under D (the bids `benches/nexmark.sh` exports) as a stream,
`--files-per-trigger` files per micro-batch, Trigger.AvailableNow, and runs the query as
Flink's Nexmark SQL writes it (q1: price * 0.908; q2: auction % 123 = 0; q5_count: bids
per auction in 10-second windows sliding by 2 seconds, a 4-second watermark, append mode;
q5: those counts joined with their maximum per window, as Flink writes q5; q7: the bids
joined with the highest price of their 10-second tumbling window, bounded by its end) into
the `noop` sink, Spark's blackhole. q5 and q7 chain stateful operators (an aggregation
into an aggregation and a join, an aggregation into a join), which Spark runs in append
mode since 3.4. Spark does not close the last windows when the input ends, where sluice
does (a bounded stream ends every window), so Spark emits a few rows fewer.

Prints one JSON line: {"engine": "spark", "query": ..., "seconds": ..., "rows_in": ...,
"startup_seconds": ...}; `seconds` runs from the query's start to its end, without the JVM
and session start-up.
"""

import argparse
import json
import shutil
import tempfile
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--query", required=True)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--files-per-trigger", type=int, default=2)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master(args.master)
        .appName("sluice-nexmark-baseline")
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    startup = time.perf_counter() - t0
    schema = ("auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING, "
              "date_time TIMESTAMP, extra STRING")
    start = time.perf_counter()
    bid = (spark.readStream.schema(schema)
           .option("maxFilesPerTrigger", args.files_per_trigger).parquet(args.data))
    if args.query == "q0":
        out = bid.select("auction", "bidder", "price", "date_time", "extra")
    elif args.query == "q1":
        out = bid.select("auction", "bidder", (F.lit(0.908) * F.col("price")).alias("price"),
                         "date_time", "extra")
    elif args.query == "q2":
        out = bid.where(F.col("auction") % 123 == 0).select("auction", "price")
    elif args.query == "q5_count":
        out = (bid.withWatermark("date_time", "4 seconds")
               .groupBy(F.window("date_time", "10 seconds", "2 seconds"), "auction")
               .agg(F.count(F.lit(1)).alias("num"))
               .select("auction", "num", F.col("window.start").alias("starttime"),
                       F.col("window.end").alias("endtime")))
    elif args.query == "q5":
        counts = (bid.withWatermark("date_time", "4 seconds")
                  .groupBy(F.window("date_time", "10 seconds", "2 seconds"), "auction")
                  .agg(F.count(F.lit(1)).alias("num")))
        maxes = counts.groupBy("window").agg(F.max("num").alias("maxn"))
        out = (counts.alias("C")
               .join(maxes.alias("M"), F.expr("C.window = M.window AND C.num >= M.maxn"))
               .select("C.auction", "C.num"))
    elif args.query == "q7":
        bids = bid.withWatermark("date_time", "4 seconds")
        maxes = (bids.groupBy(F.window("date_time", "10 seconds"))
                 .agg(F.max("price").alias("maxprice"))
                 .select(F.col("window.end").alias("window_end"), "maxprice"))
        out = (bids.alias("B")
               .join(maxes.alias("B1"),
                     F.expr("B.price = B1.maxprice AND B.date_time BETWEEN "
                            "B1.window_end - INTERVAL 10 SECONDS AND B1.window_end"))
               .select("B.auction", "B.price", "B.bidder", "B.date_time", "B.extra"))
    else:
        raise SystemExit(f"unknown query {args.query}")
    # Spark's checkpoint (its state store: 0.5 GB for q7) is removed once the run is
    # timed, not left in /tmp by every run of the comparison.
    checkpoint = tempfile.mkdtemp(prefix=f"nexmark-spark-ck-{args.query}-")
    try:
        query = (out.writeStream.format("noop").outputMode("append")
                 .option("checkpointLocation", checkpoint)
                 .trigger(availableNow=True).start())
        query.awaitTermination()
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(checkpoint, ignore_errors=True)
    rows_in = sum(p["numInputRows"] for p in query.recentProgress)
    print(json.dumps({"engine": "spark", "query": args.query, "seconds": round(seconds, 3),
                      "rows_in": rows_in, "startup_seconds": round(startup, 3)}))
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
