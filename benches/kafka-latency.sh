#!/usr/bin/env bash
# Kafka produce-to-Delta-visible latency, side by side (release builds, local tansu broker).
#
#   [WARMUP=S] benches/kafka-latency.sh [RUNS] [RATE] [SECS] [TRIGGERS]
#
# For each trigger interval in TRIGGERS (default "1s 200ms") and each variant, RUNS times
# (default 3), alternating variants within a round: the job (config/kafka-events-to-delta.yaml)
# runs unbounded while `sluice produce --rate RATE` (default 5000 events/s) offers a steady
# load for SECS seconds (default 20). Each bronze row's latency is the commit time of the
# Delta version that added its file (commitInfo.timestamp) minus its Kafka CreateTime.
# p50 and p99 are over the rows produced after the first WARMUP seconds (default 2): the
# steady state, without the producer's and the job's start-up (the first epoch connects the
# consumers and writes the first files; a producer queues its first records while it
# connects). The p99 over every row is printed beside it. Prints both per run, then the
# medians per variant and trigger.
#
# Variants:
#   new         this checkout's release binary, default settings (3 epochs in flight)
#   new-serial  the same binary with trigger.max-epochs-in-flight=1
#   base        $BASE_BIN, if set: a release binary of another commit (the baseline)
set -euo pipefail
RUNS="${1:-3}"
RATE="${2:-5000}"
SECS="${3:-20}"
TRIGGERS="${4:-1s 200ms}"
WARMUP="${WARMUP:-2}"
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

variants=(new new-serial)
if [[ -n ${BASE_BIN:-} ]]; then
    [[ -x $BASE_BIN ]] || die "BASE_BIN=$BASE_BIN is not an executable"
    variants+=(base)
fi

# One run: prints "p50 p99 rows" for variant $1, trigger $2, into $3.
measure() {
    local variant=$1 trigger=$2 out=$3 bin=$BIN
    local extra=()
    case $variant in
        new-serial) extra=(--set trigger.max-epochs-in-flight=1) ;;
        base) bin=$BASE_BIN ;;
    esac
    local topic="lat-$$-$(date +%s%N)"
    "$BIN" produce --topic "$topic" --events 1 --partitions 8 --create-only >&2
    SLUICE_LOG=warn "$bin" run "$JOB" --set "source.kafka.brokers=$SLUICE_KAFKA_BROKERS" \
        --set "source.kafka.topics=[$topic]" --set "output.dir=$out" \
        --set "source.kafka.metadata-columns=[timestamp]" --set "trigger.interval=$trigger" \
        "${extra[@]}" >"$out.log" 2>&1 &
    local job=$!
    sleep 3
    "$BIN" produce --topic "$topic" --events $((RATE * SECS)) --partitions 8 --rate "$RATE" \
        >/dev/null 2>&1
    sleep 5
    kill "$job" 2>/dev/null || true
    wait "$job" 2>/dev/null || true
    "$PY" - "$out/tables/bronze" "$WARMUP" <<'PYEOF'
import json, os, sys
import pyarrow.parquet as pq
table = sys.argv[1]
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
            lat.append((v // 1000, commit_ms - v // 1000))
if not lat:
    sys.exit("no rows committed")
first = min(t for t, _ in lat)
warm = sorted(l for t, l in lat if t - first >= float(sys.argv[2]) * 1000)
every = sorted(l for _, l in lat)
if not warm:
    sys.exit("no rows produced after the warm-up")
q = lambda lat, p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(q(warm, 0.5), q(warm, 0.99), len(warm), q(every, 0.99))
PYEOF
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A p50s p99s p99alls
for trigger in $TRIGGERS; do
    for run in $(seq 1 "$RUNS"); do
        for variant in "${variants[@]}"; do
            read -r p50 p99 rows p99all < <(measure "$variant" "$trigger" "$WORK/$variant-$trigger-$run")
            echo "trigger $trigger run $run $variant: p50 $p50 ms, p99 $p99 ms ($rows rows after ${WARMUP}s); p99 of every row $p99all ms" >&2
            p50s[$variant/$trigger]+="$p50 "
            p99s[$variant/$trigger]+="$p99 "
            p99alls[$variant/$trigger]+="$p99all "
            rm -rf "$WORK/$variant-$trigger-$run"
        done
    done
done
echo "medians of $RUNS runs, $RATE events/s offered for ${SECS}s, rows after the first ${WARMUP}s (target: p99 <= trigger + 250 ms):"
for trigger in $TRIGGERS; do
    for variant in "${variants[@]}"; do
        # shellcheck disable=SC2086
        echo "  trigger $trigger  $variant: p50 $(median ${p50s[$variant/$trigger]}) ms, p99 $(median ${p99s[$variant/$trigger]}) ms (every row: p99 $(median ${p99alls[$variant/$trigger]}) ms)"
    done
done
