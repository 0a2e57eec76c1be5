# Kafka API: the tansu broker from crates.io (pinned below), built with the dynostore and
# libsql storage engines (DESIGN section 6), on 127.0.0.1:${SLUICE_KAFKA_PORT:-19092},
# which it also advertises. One broker: node id 111 (fixed in tansu), cluster id "sluice".
#
# Storage, SLUICE_KAFKA_STORAGE:
#   sqlite  (default) libsql file $SLUICE_SERVICES_DIR/tansu.db (emptied when the broker
#           starts): exact ListOffsets, but 10-20x slower than memory.
#   memory  dynostore memory://, fast, but its ListOffsets(LATEST) is wrong in tansu 0.6.0:
#           it answers the base offset of the newest batch + 1, not the high watermark
#           (Fetch responses carry the right one). sluice plans epochs from ListOffsets, so
#           with memory storage the last records of a batch stay invisible until more
#           arrive, and a bounded job waits for them forever. Tests use sqlite.
# See scripts/services/README.md for the contract.
# shellcheck shell=bash
# shellcheck source=scripts/services/common.bash
source "$ROOT/scripts/services/common.bash"

TANSU_VERSION=0.6.0
TANSU_ROOT="$HOME/.cache/sluice-tools/tansu-$TANSU_VERSION"
TANSU_BIN="$TANSU_ROOT/bin/tansu"
# Marks the broker process as ours (with its pid file).
TANSU_PATTERN="tansu broker --cluster-id sluice"

tansu_install() {
    if ! [[ -x $TANSU_BIN ]]; then
        echo "building tansu $TANSU_VERSION from crates.io: takes ~15 min on 2 cores, once;" \
            "the binary is cached in $TANSU_ROOT"
        # A test broker: built at opt-level 1 and without debug info, which shortens its
        # build (824 crates) on a fresh machine; the tests' rates are far below its own.
        CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
            cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql \
            --root "$TANSU_ROOT" --target-dir "$HOME/.cache/sluice-tools/tansu-build" ||
            die "cargo install tansu $TANSU_VERSION failed"
        [[ -x $TANSU_BIN ]] || die "cargo install tansu ran but $TANSU_BIN is missing"
    fi
    local version help
    version=$("$TANSU_BIN" --version) || die "$TANSU_BIN --version failed"
    [[ $version == "tansu $TANSU_VERSION" ]] ||
        die "$TANSU_BIN is '$version', want tansu $TANSU_VERSION (remove $TANSU_ROOT to rebuild)"
    help=$("$TANSU_BIN" --help) || die "$TANSU_BIN --help failed"
    [[ $help == *"Storage engines: "*dynostore* ]] ||
        die "$TANSU_BIN was built without the dynostore feature (remove $TANSU_ROOT to rebuild)"
    echo "$version: $TANSU_BIN"
    # The readiness check speaks Kafka with confluent-kafka from the venv.
    svc_need_python
}

# Healthy when the broker answers a Kafka metadata request and advertises itself as
# 127.0.0.1:PORT.
tansu_healthy() {
    svc_port_open "$1" || return 1
    "$SLUICE_PYTHON" - "$1" <<'PYEOF'
import sys
from confluent_kafka.admin import AdminClient
port = int(sys.argv[1])
admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "socket.timeout.ms": 2000})
brokers = {(b.host, b.port) for b in admin.list_topics(timeout=3).brokers.values()}
if brokers != {("127.0.0.1", port)}:
    sys.exit(f"broker advertises {sorted(brokers)}, want 127.0.0.1:{port}")
PYEOF
}

tansu_start() {
    svc_need_python
    local port=${SLUICE_KAFKA_PORT:-19092} storage
    case ${SLUICE_KAFKA_STORAGE:-sqlite} in
    memory) storage="memory://tansu/" ;;
    sqlite) storage="sqlite://tansu.db" ;;
    *) die "SLUICE_KAFKA_STORAGE='$SLUICE_KAFKA_STORAGE': want memory or sqlite" ;;
    esac
    # Our broker from an earlier run is reused only with the same storage.
    if svc_saved_pid tansu "$TANSU_PATTERN" >/dev/null &&
        ! svc_saved_pid tansu "--storage-engine $storage" >/dev/null; then
        tansu_stop
    fi
    # A new broker starts empty, like the in-memory one.
    if ! svc_saved_pid tansu "$TANSU_PATTERN" >/dev/null; then
        rm -f "$SLUICE_SERVICES_DIR"/tansu.db*
    fi
    # tansu reads a .env file from its working directory (and parents), and a relative
    # sqlite:// path is taken from there: run it in SLUICE_SERVICES_DIR, not in the clone.
    # Every setting is passed as a flag, which wins over tansu's environment variables
    # (CLUSTER_ID, LISTENER_URL, STORAGE_ENGINE, ...).
    svc_start tansu "$port" "$TANSU_PATTERN" 60 tansu_healthy \
        env -C "$SLUICE_SERVICES_DIR" "$TANSU_BIN" broker \
        --cluster-id sluice \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "$storage"
    export SLUICE_KAFKA_BROKERS="127.0.0.1:$port"
    echo "SLUICE_KAFKA_BROKERS=$SLUICE_KAFKA_BROKERS (storage $storage)"
}

tansu_stop() {
    svc_stop tansu "$TANSU_PATTERN"
}
