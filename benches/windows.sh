#!/usr/bin/env bash
# The demo's gold windows over files: sluice against Spark Structured Streaming and DuckDB
# on the same events, in the same run (release build).
#
#   benches/windows.sh [EVENTS] [RUNS] [FILES]
#
# 1. `sluice demo-data events --events EVENTS (default 1000000) --files FILES (default 10)`:
#    the generator's demo events as JSON lines, malformed and late ones included.
# 2. RUNS times (default 3), one engine after another on the same files:
#    - sluice-stream: `sluice run benches/windows.yaml` (2 workers, one file per epoch):
#      rules, silver rows and gold windows into Delta;
#    - spark-stream: benches/windows_spark.py, Structured Streaming `local[2]`,
#      maxFilesPerTrigger=1, the same rules and windows into Parquet (its JVM start-up is
#      excluded from its time);
#    - sluice-batch: the same job with `--batch` (every file in one epoch, 2 workers);
#    - duckdb: benches/windows_duckdb.py, the rules and windows as one query (2 threads).
#    Each time is the job's wall time, from the first read to the last write.
# 3. Checks parity: every window Spark emitted is in sluice's streaming table, equal.
# 4. Prints every run, the medians, events/s per engine and the ratios Spark/sluice
#    (streaming, target >= 20) and sluice/DuckDB (batch, target <= 1), with the gold row
#    counts (Spark emits no window its watermark has not closed when its input ends; DuckDB
#    has no watermark and counts late events).
#
# The Python baselines come from benches/python-env (DuckDB 1.4.4, pyspark, Java 17).
set -euo pipefail
EVENTS="${1:-1000000}"
RUNS="${2:-3}"
FILES="${3:-10}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice-target}"
PY="$("$ROOT/benches/python-env")"
cargo build --release -p sluice >&2
BIN="$CARGO_TARGET_DIR/release/sluice"
WORK="${SLUICE_BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
[[ -n ${SLUICE_BENCH_DIR:-} ]] || trap 'rm -rf "$WORK"' EXIT
DATA="$WORK/events"
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

echo "== generating $EVENTS events in $FILES files under $DATA" >&2
"$BIN" demo-data events --dir "$DATA" --events "$EVENTS" --files "$FILES" --force >&2

now() { date +%s%N; }
seconds_since() {
    local ms=$(( ($(now) - $1) / 1000000 ))
    printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}
# sluice_run ENGINE RUN [flags...]: runs the job into a fresh directory and records its
# time and gold rows (read back by DuckDB's Delta reader).
sluice_run() {
    local engine=$1 run=$2 out="$WORK/$1-$2"
    shift 2
    rm -rf "$out"
    local start
    start=$(now)
    RUST_LOG=warn "$BIN" run benches/windows.yaml --param "data=$DATA" --param "out=$out" "$@" \
        > "$WORK/$engine-$run.log" 2>&1 || { tail -20 "$WORK/$engine-$run.log" >&2; exit 1; }
    local secs rows
    secs=$(seconds_since "$start")
    rows=$("$PY" tests/python/delta_checks.py counts "$out" \
        | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())["tables"]["gold_user_activity"])')
    echo "{\"engine\":\"$engine\",\"run\":$run,\"seconds\":$secs,\"rows\":$rows}" | tee -a "$RESULTS"
    [[ $run == "$RUNS" ]] || rm -rf "$out"
}
# py_run ENGINE RUN SCRIPT: runs a Python baseline and records its JSON line.
py_run() {
    local engine=$1 run=$2 script=$3 line
    line=$("$PY" "$script" --data "$DATA" --out "$WORK/$engine-$run" 2> "$WORK/$engine-$run.log" | tail -1) \
        || { tail -20 "$WORK/$engine-$run.log" >&2; exit 1; }
    echo "$line" | "$PY" -c "import json,sys; d=json.loads(sys.stdin.read()); d['engine']='$engine'; d['run']=$run; print(json.dumps(d))" \
        | tee -a "$RESULTS"
    [[ $run == "$RUNS" ]] || rm -rf "$WORK/$engine-$run"
}

for run in $(seq 1 "$RUNS"); do
    sluice_run sluice-stream "$run"
    py_run spark-stream "$run" benches/windows_spark.py
    sluice_run sluice-batch "$run" --batch
    py_run duckdb "$run" benches/windows_duckdb.py
done

# Same results: every window Spark emitted (those its final watermark closed) must be in
# sluice's streaming gold table with the same count and, to 1e-9 relative, the same sum and
# average (DESIGN section 2, parity with Spark); sluice emits more windows only because its
# bounded input ends with a watermark of +infinity.
"$PY" - "$WORK/sluice-stream-$RUNS" "$WORK/spark-stream-$RUNS" <<'PYEOF'
import sys
sys.path.insert(0, "tests/python")
from delta_checks import connect, lit
sluice, spark = sys.argv[1], sys.argv[2]
con = connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"""CREATE VIEW a AS SELECT epoch_ms(window_start::TIMESTAMPTZ) AS ws, user_id, event_type,
    event_count, total_value, avg_value FROM delta_scan({lit(sluice + '/tables/gold_user_activity')})""")
con.execute(f"""CREATE VIEW b AS SELECT epoch_ms(window_start::TIMESTAMPTZ) AS ws, user_id, event_type,
    event_count, total_value, avg_value FROM read_parquet({lit(spark + '/gold/*.parquet')})""")
close = lambda x, y: f"abs({x} - {y}) <= 1e-9 * greatest(abs({x}), abs({y}), 1e-300)"
spark_rows = con.execute("SELECT count(*) FROM b").fetchone()[0]
missing = con.execute("""SELECT count(*) FROM b LEFT JOIN a USING (ws, user_id, event_type)
    WHERE a.event_count IS NULL""").fetchone()[0]
differ = con.execute(f"""SELECT count(*) FROM b JOIN a USING (ws, user_id, event_type)
    WHERE a.event_count <> b.event_count OR NOT ({close('a.total_value', 'b.total_value')})
       OR NOT ({close('a.avg_value', 'b.avg_value')})""").fetchone()[0]
print(f"parity with Spark: {spark_rows} Spark windows, {missing} missing from sluice, {differ} different"
      + ("" if missing == differ == 0 else "  <-- MISMATCH"))
PYEOF
rm -rf "$WORK/sluice-stream-$RUNS" "$WORK/spark-stream-$RUNS" "$WORK/sluice-batch-$RUNS" "$WORK/duckdb-$RUNS"

"$PY" - "$RESULTS" "$EVENTS" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
events = int(sys.argv[2])
med = {}
for engine in ("sluice-stream", "spark-stream", "sluice-batch", "duckdb"):
    runs = [r for r in rows if r["engine"] == engine]
    med[engine] = statistics.median(r["seconds"] for r in runs)
    print(f"{engine:14s} runs: " + ", ".join(f"{r['seconds']:.2f}s" for r in runs)
          + f"   median {med[engine]:.2f}s ({events / med[engine]:,.0f} events/s)"
          + f"   gold rows {runs[-1]['rows']}")
print(f"streaming: Spark / sluice = {med['spark-stream'] / med['sluice-stream']:.2f}  (target >= 20)")
print(f"batch: sluice / DuckDB    = {med['sluice-batch'] / med['duckdb']:.2f}  (target <= 1)")
PYEOF
