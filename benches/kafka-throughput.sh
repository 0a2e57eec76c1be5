#!/usr/bin/env bash
# Kafka throughput and latency, against the local tansu broker (release build).
#
#   benches/kafka-throughput.sh [EVENTS] [RUNS] [RATE] [LATENCY_SECS]
#
# 1. Produces EVENTS (default 1000000) ~150-byte JSON events over 8 partitions.
# 2. RUNS times (default 3), side by side: the raw librdkafka consume rate of the topic
#    (`sluice consume-rate`, one BaseConsumer, same client settings as the source), then
#    sluice end to end on the same topic (`sluice run config/kafka-events-to-delta.yaml
#    --batch`: decode, rules, sliding windows, four Delta tables). Prints both medians and
#    their ratio.
# 3. Latency: the job runs unbounded with a 1 s trigger while `sluice produce --rate RATE`
#    (default 5000 events/s) offers a steady load for LATENCY_SECS (default 30) seconds.
#    Each bronze row's latency is its Delta commit time (commitInfo.timestamp of the version
#    that added its file) minus its Kafka CreateTime; prints p50/p99/max.
#
# Starts tansu through scripts/services/tansu.sh (SLUICE_KAFKA_STORAGE picks the storage).
set -euo pipefail
EVENTS="${1:-1000000}"
RUNS="${2:-3}"
RATE="${3:-5000}"
LATENCY_SECS="${4:-30}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source "$ROOT/scripts/lib.sh"
trap run_cleanups EXIT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice-target}"
export SLUICE_SERVICES_DIR="${SLUICE_SERVICES_DIR:-$CARGO_TARGET_DIR/services}"
mkdir -p "$SLUICE_SERVICES_DIR"
source "$ROOT/scripts/services/tansu.sh"
tansu_install
tansu_start
PY="$("$ROOT/scripts/python-env")"
cargo build --release -p sluice >&2
BIN="$CARGO_TARGET_DIR/release/sluice"
WORK="$(mktemp -d)"
on_exit rm -rf "$WORK"
JOB="$ROOT/config/kafka-events-to-delta.yaml"
topic="bench-$$-$(date +%s)"

echo "== producing $EVENTS events to $topic" >&2
"$BIN" produce --topic "$topic" --events "$EVENTS" --partitions 8 >&2

raw=()
e2e=()
for i in $(seq 1 "$RUNS"); do
    line="$("$BIN" consume-rate --topic "$topic")"
    echo "run $i raw:  $line" >&2
    raw+=("$(sed -E 's/.*: ([0-9]+) messages\/s.*/\1/' <<<"$line")")
    line="$("$BIN" run "$JOB" --batch --set "source.kafka.brokers=$SLUICE_KAFKA_BROKERS" \
        --set "source.kafka.topics=[$topic]" --set "output.dir=$WORK/run$i" | head -1)"
    echo "run $i e2e:  $line" >&2
    e2e+=("$(sed -E 's/.* ([0-9]+) events\/s.*/\1/' <<<"$line")")
    rm -rf "$WORK/run$i"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mr="$(median "${raw[@]}")"
me="$(median "${e2e[@]}")"
echo "raw consume median: $mr msgs/s; sluice end-to-end median: $me events/s; ratio: $(awk -v a="$me" -v b="$mr" 'BEGIN {printf "%.3f", a/b}')"

echo "== latency: $RATE events/s for ${LATENCY_SECS}s, trigger 1s" >&2
ltopic="$topic-latency"
events=$((RATE * LATENCY_SECS))
"$BIN" produce --topic "$ltopic" --events 1 --partitions 8 --create-only >&2
SLUICE_LOG=warn "$BIN" run "$JOB" --set "source.kafka.brokers=$SLUICE_KAFKA_BROKERS" \
    --set "source.kafka.topics=[$ltopic]" --set "output.dir=$WORK/latency" \
    --set "source.kafka.metadata-columns=[timestamp]" --set trigger.interval=1s \
    >"$WORK/latency.log" 2>&1 &
job=$!
sleep 3
"$BIN" produce --topic "$ltopic" --events "$events" --partitions 8 --rate "$RATE" >&2
sleep 5
kill "$job" 2>/dev/null || true
wait "$job" 2>/dev/null || true
"$PY" - "$WORK/latency/tables/bronze" "$events" <<'PYEOF'
import json, os, sys
import pyarrow.parquet as pq
table, expected = sys.argv[1], int(sys.argv[2])
log = os.path.join(table, "_delta_log")
lat = []
for name in sorted(f for f in os.listdir(log) if f.endswith(".json")):
    commit_ms, files = None, []
    for line in open(os.path.join(log, name)):
        a = json.loads(line)
        if "commitInfo" in a:
            commit_ms = a["commitInfo"].get("timestamp")
        if "add" in a:
            files.append(a["add"]["path"])
    for f in files:
        ts = pq.read_table(os.path.join(table, f), columns=["kafka_timestamp"]).column(0)
        for v in ts.cast("int64").to_pylist():
            lat.append(commit_ms - v // 1000)
lat.sort()
if not lat:
    sys.exit("no rows committed")
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"latency over {len(lat)} of {expected} rows: p50 {q(0.5)} ms, p99 {q(0.99)} ms, max {lat[-1]} ms")
PYEOF
