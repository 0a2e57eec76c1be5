# Prometheus: the Debian package `prometheus`, unpacked (not installed: no root service,
# nothing started at boot) into ~/.cache/sluice-tools/prometheus, on
# 127.0.0.1:${SLUICE_PROMETHEUS_PORT:-19090}. It scrapes every second the targets that tests
# drop as JSON files into $SLUICE_PROMETHEUS_TARGETS (file service discovery), so a test
# registers its job's metrics endpoint without restarting Prometheus. See
# scripts/services/README.md for the contract.
# shellcheck shell=bash
# shellcheck source=scripts/services/common.bash
source "$ROOT/scripts/services/common.bash"

PROMETHEUS_DIR="$HOME/.cache/sluice-tools/prometheus"
PROMETHEUS_BIN="$PROMETHEUS_DIR/usr/bin/prometheus"

prometheus_install() {
    if [[ ! -x $PROMETHEUS_BIN ]]; then
        command -v apt-get >/dev/null || die "prometheus: needs apt-get (Debian) to fetch the package"
        local tmp
        tmp=$(mktemp -d)
        chmod 755 "$tmp" # apt-get download runs as _apt
        echo "prometheus: downloading the Debian package into $tmp"
        # A fresh machine may have no package lists yet.
        if ! (cd "$tmp" && apt-get download prometheus); then
            apt-get update -qq || die "prometheus: apt-get update failed"
            (cd "$tmp" && apt-get download prometheus) ||
                die "prometheus: apt-get download prometheus failed"
        fi
        rm -rf "$PROMETHEUS_DIR.partial"
        dpkg-deb -x "$tmp"/prometheus_*.deb "$PROMETHEUS_DIR.partial" ||
            die "prometheus: unpacking the package failed"
        rm -rf "$tmp" "$PROMETHEUS_DIR"
        mv "$PROMETHEUS_DIR.partial" "$PROMETHEUS_DIR"
    fi
    [[ -x $PROMETHEUS_BIN ]] || die "prometheus: $PROMETHEUS_BIN is missing after the install"
    echo "$("$PROMETHEUS_BIN" --version 2>&1 | head -n 1): $PROMETHEUS_BIN"
}

# Healthy when /-/ready answers 200.
prometheus_healthy() {
    curl -sf --max-time 2 "http://127.0.0.1:$1/-/ready" >/dev/null
}

prometheus_start() {
    local port=${SLUICE_PROMETHEUS_PORT:-19090}
    local targets="$SLUICE_SERVICES_DIR/prometheus-targets"
    local config="$SLUICE_SERVICES_DIR/prometheus.yml"
    mkdir -p "$targets"
    cat >"$config" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sluice-tests
    file_sd_configs:
      - files: ["$targets/*.json"]
        refresh_interval: 1s
YAML
    svc_start prometheus "$port" "--web.listen-address=127.0.0.1:$port" 60 prometheus_healthy \
        "$PROMETHEUS_BIN" --config.file="$config" \
        --storage.tsdb.path="$SLUICE_SERVICES_DIR/prometheus-data" \
        --storage.tsdb.retention.time=1d \
        --web.listen-address="127.0.0.1:$port"
    export SLUICE_PROMETHEUS_URL="http://127.0.0.1:$port"
    export SLUICE_PROMETHEUS_TARGETS="$targets"
    export SLUICE_PROMTOOL="$PROMETHEUS_DIR/usr/bin/promtool"
    echo "SLUICE_PROMETHEUS_URL=$SLUICE_PROMETHEUS_URL SLUICE_PROMETHEUS_TARGETS=$targets"
}

prometheus_stop() {
    svc_stop prometheus "--web.listen-address=127.0.0.1"
}
