# Kinesis API: kinesalite from npm (pinned below), in memory (memdown: no --path), on
# 127.0.0.1:${SLUICE_KINESIS_PORT:-14567}. Streams leave CREATING/UPDATING/DELETING after
# 50 ms so tests can create streams and split shards quickly; the account shard limit is
# 100. See scripts/services/README.md for the contract.
# shellcheck shell=bash
# shellcheck source=scripts/services/common.bash
source "$ROOT/scripts/services/common.bash"

KINESALITE_VERSION=3.3.3
KINESALITE_DIR="$HOME/.cache/sluice-tools/kinesalite"

kinesalite_installed_version() {
    node -p "require('$KINESALITE_DIR/node_modules/kinesalite/package.json').version" 2>/dev/null
}

kinesalite_install() {
    command -v node >/dev/null || die "kinesalite needs node (and npm) on PATH"
    if [[ $(kinesalite_installed_version) != "$KINESALITE_VERSION" ]]; then
        echo "installing kinesalite@$KINESALITE_VERSION into $KINESALITE_DIR"
        mkdir -p "$KINESALITE_DIR"
        # leveldown (optional, native) is only for --path storage; we run in memory.
        npm install --prefix "$KINESALITE_DIR" --save-exact --omit=optional \
            --no-audit --no-fund --loglevel=error "kinesalite@$KINESALITE_VERSION" ||
            die "npm install kinesalite@$KINESALITE_VERSION failed"
        [[ $(kinesalite_installed_version) == "$KINESALITE_VERSION" ]] ||
            die "npm ran but kinesalite $KINESALITE_VERSION is not in $KINESALITE_DIR"
    fi
    echo "kinesalite $KINESALITE_VERSION: $KINESALITE_DIR"
}

# Healthy when ListStreams (Kinesis JSON protocol) answers.
kinesalite_healthy() {
    local body
    body=$(curl -sf --max-time 2 -X POST "http://127.0.0.1:$1/" \
        -H 'Content-Type: application/x-amz-json-1.1' \
        -H 'X-Amz-Target: Kinesis_20131202.ListStreams' \
        -H 'X-Amz-Date: 20260101T000000Z' \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0' \
        -d '{}') || return 1
    [[ $body == *StreamNames* ]]
}

kinesalite_start() {
    local port=${SLUICE_KINESIS_PORT:-14567}
    # kinesalite's CLI listens on every interface; call its module to bind loopback only.
    # The last argument is unused by the script: it marks the process as ours.
    local js='
var port = +process.argv[1], dir = process.argv[2]
var server = require(dir + "/node_modules/kinesalite")({
  createStreamMs: 50, deleteStreamMs: 50, updateStreamMs: 50, shardLimit: 100,
})
server.listen(port, "127.0.0.1", function() {
  console.log("kinesalite listening on 127.0.0.1:" + port + " (in memory)")
})
process.on("SIGTERM", function() { process.exit(0) })
'
    svc_start kinesalite "$port" "sluice-kinesalite" 30 kinesalite_healthy \
        node -e "$js" "$port" "$KINESALITE_DIR" sluice-kinesalite
    export SLUICE_KINESIS_ENDPOINT="http://127.0.0.1:$port"
    echo "SLUICE_KINESIS_ENDPOINT=$SLUICE_KINESIS_ENDPOINT"
}

kinesalite_stop() {
    svc_stop kinesalite "sluice-kinesalite"
}
