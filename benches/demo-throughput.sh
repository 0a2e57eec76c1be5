#!/usr/bin/env bash
# Times `sluice demo` (release build) at N events, R runs, and prints each run's events/s
# and the median. Usage: benches/demo-throughput.sh [N] [R] [extra demo flags...]
set -euo pipefail
N="${1:-1000000}"
R="${2:-3}"
shift $(( $# > 2 ? 2 : $# )) || true
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice-target}"
cargo build --release -p sluice --manifest-path "$ROOT/Cargo.toml" >&2
BIN="$CARGO_TARGET_DIR/release/sluice"
rates=()
for i in $(seq 1 "$R"); do
    dir="$(mktemp -d)"
    line="$("$BIN" demo --dir "$dir" --events "$N" "$@" | head -1)"
    rm -rf "$dir"
    rate="$(sed -E 's/.* ([0-9]+) events\/s.*/\1/' <<<"$line")"
    echo "run $i: $line" >&2
    rates+=("$rate")
done
printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print "median events/s:", a[int((NR+1)/2)]}'
