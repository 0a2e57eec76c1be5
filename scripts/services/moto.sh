# S3 API: moto's server (`moto[server]`, pinned in scripts/python-env), in memory, on
# 127.0.0.1:${SLUICE_S3_PORT:-15000}. It honours conditional puts (PutObject with
# If-None-Match: * on an existing key answers 412 PreconditionFailed), which Delta commits
# rely on. See scripts/services/README.md for the contract.
# shellcheck shell=bash
# shellcheck source=scripts/services/common.bash
source "$ROOT/scripts/services/common.bash"

# Marks the moto_server process as ours (with its pid file).
MOTO_PATTERN="moto_server --host 127.0.0.1 --port"

moto_install() {
    svc_need_python
    local bin="${SLUICE_PYTHON%/*}/moto_server"
    [[ -x $bin ]] || die "moto: scripts/python-env ran but $bin is missing"
    echo "moto $("$SLUICE_PYTHON" -c 'import moto; print(moto.__version__)'): $bin"
}

# Healthy when GET / answers with an S3 ListAllMyBuckets document.
moto_healthy() {
    local body
    body=$(curl -sf --max-time 2 "http://127.0.0.1:$1/") || return 1
    [[ $body == *ListAllMyBucketsResult* ]]
}

moto_start() {
    svc_need_python
    local port=${SLUICE_S3_PORT:-15000}
    svc_start moto "$port" "$MOTO_PATTERN" 60 moto_healthy \
        "${SLUICE_PYTHON%/*}/moto_server" --host 127.0.0.1 --port "$port"
    export SLUICE_S3_ENDPOINT="http://127.0.0.1:$port"
    export AWS_ACCESS_KEY_ID=test
    export AWS_SECRET_ACCESS_KEY=test
    export AWS_REGION=us-east-1
    export AWS_DEFAULT_REGION=us-east-1
    # object_store refuses plain-http endpoints unless told otherwise.
    export AWS_ALLOW_HTTP=true
    echo "SLUICE_S3_ENDPOINT=$SLUICE_S3_ENDPOINT (AWS_ACCESS_KEY_ID=test, AWS_REGION=us-east-1, AWS_ALLOW_HTTP=true)"
}

moto_stop() {
    svc_stop moto "$MOTO_PATTERN"
}
