#!/usr/bin/env bash
# The seed's batch ETL (config/batch-etl.yaml) at scale: sluice against DuckDB and Spark on
# the same data, in the same run (release build).
#
#   benches/batch-etl.sh [ROWS] [RUNS]
#
# 1. `sluice demo-data batch --rows ROWS (default 10000000) --days 1 --seed 42`: sales
#    Parquet for one date, a Delta customers table (100,000 rows at 10M) and JSON products.
# 2. RUNS times (default 3), one after another on the same data, each into an empty output
#    directory:
#    - sluice: `sluice run config/batch-etl.yaml --batch` for the date (2 workers, writes
#      four Delta tables);
#    - sluice-keyed: the same with both joins `strategy: keyed` (shuffle hash joins);
#    - DuckDB: benches/batch_etl_duckdb.py, the same job in SQL (all cores, Parquet outputs);
#    - Spark: benches/batch_etl_spark.py, the same job in PySpark `local[2]` (Parquet
#      outputs; its JVM start-up is excluded from its time).
#    Each time is the job's wall time: reads, joins, aggregates and writes.
# 3. Prints every run, the medians and the ratios sluice/DuckDB and Spark/sluice.
#
# The Python baselines come from benches/python-env (DuckDB 1.4.4, pyspark, Java 17).
set -euo pipefail
ROWS="${1:-10000000}"
RUNS="${2:-3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice-target}"
PY="$("$ROOT/benches/python-env")"
cargo build --release -p sluice >&2
BIN="$CARGO_TARGET_DIR/release/sluice"
WORK="${SLUICE_BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
[[ -n ${SLUICE_BENCH_DIR:-} ]] || trap 'rm -rf "$WORK"' EXIT
DATA="$WORK/data"
DATE=2024-01-01
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

echo "== generating $ROWS sales rows under $DATA" >&2
"$BIN" demo-data batch --dir "$DATA" --rows "$ROWS" --days 1 --seed 42 --force >&2

now() { date +%s%N; }
for run in $(seq 1 "$RUNS"); do
    out="$WORK/sluice-$run"
    rm -rf "$out"
    start=$(now)
    RUST_LOG=warn "$BIN" run config/batch-etl.yaml --batch \
        --param "process-date=$DATE" --param "data=$DATA" --param "out=$out" 2> "$WORK/sluice-$run.log" \
        || { tail -20 "$WORK/sluice-$run.log" >&2; exit 1; }
    end=$(now)
    ms=$(( (end - start) / 1000000 ))
    secs=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    echo "{\"engine\":\"sluice\",\"run\":$run,\"seconds\":$secs}" | tee -a "$RESULTS"
    rm -rf "$out"

    # The same job with both joins keyed (shuffle hash joins against arrangements) instead
    # of broadcast: the cost of not copying the tables to every worker.
    start=$(now)
    RUST_LOG=warn "$BIN" run config/batch-etl.yaml --batch \
        --param "process-date=$DATE" --param "data=$DATA" --param "out=$out" \
        --set joins.0.strategy=keyed --set joins.1.strategy=keyed 2> "$WORK/sluice-keyed-$run.log" \
        || { tail -20 "$WORK/sluice-keyed-$run.log" >&2; exit 1; }
    end=$(now)
    ms=$(( (end - start) / 1000000 ))
    secs=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    echo "{\"engine\":\"sluice-keyed\",\"run\":$run,\"seconds\":$secs}" | tee -a "$RESULTS"
    rm -rf "$out"

    line=$("$PY" benches/batch_etl_duckdb.py --data "$DATA" --out "$WORK/duckdb-$run" --date "$DATE" | tail -1)
    echo "$line" | "$PY" -c "import json,sys; d=json.loads(sys.stdin.read()); d['run']=$run; print(json.dumps(d))" | tee -a "$RESULTS"
    rm -rf "$WORK/duckdb-$run"

    line=$("$PY" benches/batch_etl_spark.py --data "$DATA" --out "$WORK/spark-$run" --date "$DATE" 2>"$WORK/spark-$run.log" | tail -1) \
        || { tail -20 "$WORK/spark-$run.log" >&2; exit 1; }
    echo "$line" | "$PY" -c "import json,sys; d=json.loads(sys.stdin.read()); d['run']=$run; print(json.dumps(d))" | tee -a "$RESULTS"
    rm -rf "$WORK/spark-$run"
done

"$PY" - "$RESULTS" "$ROWS" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {}
for engine in ("sluice", "sluice-keyed", "duckdb", "spark"):
    times = [r["seconds"] for r in rows if r["engine"] == engine]
    med[engine] = statistics.median(times)
    print(f"{engine:12s} runs: " + ", ".join(f"{t:.2f}s" for t in times) + f"   median {med[engine]:.2f}s"
          f"   ({int(sys.argv[2]) / med[engine]:,.0f} rows/s)")
print(f"sluice / DuckDB = {med['sluice'] / med['duckdb']:.2f}  (target <= 1.5)")
print(f"Spark / sluice  = {med['spark'] / med['sluice']:.2f}  (target >= 10)")
print(f"keyed / broadcast joins = {med['sluice-keyed'] / med['sluice']:.2f}")
PYEOF
