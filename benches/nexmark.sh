#!/usr/bin/env bash
# Nexmark queries (benches/nexmark/*.sql) on the built-in generator, rows to a blackhole
# sink, with 1 and 2 workers: events/s per core, the median of R runs, counting every
# event the source generates (persons, auctions and bids) as the benchmark does.
#
#   benches/nexmark.sh [EVENTS] [RUNS] [QUERIES...]   (default 10000000 3 q0 q1 q2 q3 q5 q5_count q5_join q7 q8)
#
# With SLUICE_BENCH_SPARK=1 it then compares with Spark Structured Streaming (`local[2]`,
# benches/nexmark_spark.py, from benches/python-env) on the same bids from files: the
# generator's bids of EVENTS events exported once as Parquet, read 2 files per micro-batch
# by both engines (sluice with 2 workers, the query's rows to a blackhole; Spark into its
# `noop` sink, its JVM start-up not counted), and prints the medians and Spark/sluice.
# Each timed sluice run follows an untimed one of the same query, as Spark's timed query
# follows its untimed start-up: neither engine is timed on the memory the other just freed
# (the kernel then zeroes and maps fresh pages for the first process to touch them).
# sluice decodes only the columns each query reads there (`source-columns=used`), as
# Spark's Parquet reader does; SLUICE_BENCH_SOURCE_COLUMNS=all decodes every column.
# Spark's driver gets SLUICE_BENCH_SPARK_MEMORY (default 12g): q7 keeps every bid of a
# 10-second window in its join state, in memory, and ran out of 4g.
#
# Builds the release binary first (not timed); measure on a quiet machine.
set -euo pipefail
N="${1:-10000000}"
R="${2:-3}"
shift $(( $# > 2 ? 2 : $# )) || true
QUERIES=("$@")
[[ ${#QUERIES[@]} -gt 0 ]] || QUERIES=(q0 q1 q2 q3 q5 q5_count q5_join q7 q8)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice-target}"
cargo build --release -p sluice --manifest-path "$ROOT/Cargo.toml" >&2
BIN="$CARGO_TARGET_DIR/release/sluice"
printf '%-10s %7s %12s %14s   %s\n' query workers "median s" "events/s/core" "runs (s)"
for q in "${QUERIES[@]}"; do
    for w in 1 2; do
        times=()
        for _ in $(seq 1 "$R"); do
            dir="$(mktemp -d)"
            start=$(date +%s.%N)
            "$BIN" run "$ROOT/benches/nexmark/$q.sql" --set "output.dir=$dir" \
                --set "source.nexmark.events=$N" --param "events=$N" --set "workers=$w" \
                >/dev/null
            end=$(date +%s.%N)
            rm -rf "$dir"
            times+=("$(echo "$end - $start" | bc -l)")
        done
        median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        rate=$(echo "$N / $median / $w" | bc -l)
        printf '%-10s %7s %12.2f %14.0f   %s\n' "$q" "$w" "$median" "$rate" \
            "$(printf '%.2f ' "${times[@]}")"
    done
done

[[ ${SLUICE_BENCH_SPARK:-0} == 1 ]] || exit 0
PY="$("$ROOT/benches/python-env")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "== exporting the bids of $N events as Parquet" >&2
sed -e "s/^CREATE TABLE q0 .*/CREATE TABLE bids WITH ('connector' = 'delta');/" \
    -e "s/^INSERT INTO q0 SELECT .*/INSERT INTO bids SELECT auction, bidder, price, channel, url, date_time, extra FROM bid;/" \
    -e "s/'job-id' = 'nexmark-q0'/'job-id' = 'nexmark-export'/" \
    "$ROOT/benches/nexmark/q0.sql" > "$WORK/export.sql"
"$BIN" run "$WORK/export.sql" --set "output.dir=$WORK/export" --set "source.nexmark.events=$N" \
    --set "trigger.records-per-epoch=$(( N / 10 ))" --set workers=2 >&2
mkdir -p "$WORK/bids"
find "$WORK/export/tables/bids" -path '*/_delta_log' -prune -o -name '*.parquet' -exec cp {} "$WORK/bids/" \;
echo "   $(ls "$WORK/bids" | wc -l) files, $(du -sh "$WORK/bids" | cut -f1)" >&2
printf '\n%-10s %14s %14s %10s\n' query "sluice s" "spark s" "spark/sluice"
for q in "${QUERIES[@]}"; do
    # The Spark script runs the queries over bids alone: q0, q1, q2, q5 (as Flink's join of
    # the counts with their maximum), q5's counts and q7; q3 and q8 read persons and
    # auctions too.
    [[ $q == q3 || $q == q8 ]] && continue
    sed -e "s|WITH ('connector' = 'nexmark'.*|WITH ('connector' = 'files', 'path' = '$WORK/bids', 'format' = 'parquet', 'max-files-per-epoch' = '2', 'bounded' = 'true');|" \
        "$ROOT/benches/nexmark/$q.sql" > "$WORK/$q-files.sql"
    ours=(); theirs=()
    for _ in $(seq 1 "$R"); do
        dir="$(mktemp -d)"
        "$BIN" run "$WORK/$q-files.sql" --set "output.dir=$dir/warm-up" --set workers=2 \
            --set "source-columns=${SLUICE_BENCH_SOURCE_COLUMNS:-used}" >/dev/null
        start=$(date +%s.%N)
        "$BIN" run "$WORK/$q-files.sql" --set "output.dir=$dir/timed" --set workers=2 \
            --set "source-columns=${SLUICE_BENCH_SOURCE_COLUMNS:-used}" >/dev/null
        end=$(date +%s.%N)
        rm -rf "$dir"
        ours+=("$(echo "$end - $start" | bc -l)")
        # q5_join is q5 as Flink writes it, which is how the Spark script writes q5.
        theirs+=("$("$PY" "$ROOT/benches/nexmark_spark.py" --data "$WORK/bids" --query "${q/q5_join/q5}" \
            --driver-memory "${SLUICE_BENCH_SPARK_MEMORY:-12g}" \
            | sed -E 's/.*"seconds": ([0-9.]+).*/\1/')")
    done
    a=$(printf '%s\n' "${ours[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    b=$(printf '%s\n' "${theirs[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '%-10s %14.2f %14.2f %10.1f   sluice: %s spark: %s\n' "$q" "$a" "$b" \
        "$(echo "$b / $a" | bc -l)" "$(printf '%.2f ' "${ours[@]}")" "$(printf '%.2f ' "${theirs[@]}")"
done
