#!/usr/bin/env bash
# Nexmark queries (benches/nexmark/*.sql) on the built-in generator, rows to a blackhole
# sink, with 1 and 2 workers: events/s per core, the median of R runs, counting every
# event the source generates (persons, auctions and bids) as the benchmark does.
#
#   benches/nexmark.sh [EVENTS] [RUNS] [QUERIES...]     (default 10000000 3 q0 q1 q2 q5_count)
#
# Builds the release binary first (not timed); measure on a quiet machine. The Spark
# comparison the issue asks for is not here yet.
set -euo pipefail
N="${1:-10000000}"
R="${2:-3}"
shift $(( $# > 2 ? 2 : $# )) || true
QUERIES=("$@")
[[ ${#QUERIES[@]} -gt 0 ]] || QUERIES=(q0 q1 q2 q5_count)
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
                --set "source.nexmark.events=$N" --set "workers=$w" >/dev/null
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
