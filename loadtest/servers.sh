# Shared by the benchmark scripts: their setup, waiting for a server, fresh databases,
# and a fresh Switchboard server. Expects OUT, BIN, PG, REDIS and the PIDS array to be
# set (`bench_setup` sets them).
# PIPELINE=false in the environment starts Switchboard with the inbound pipeline off.
# SB_BIN names another Switchboard binary (an earlier build, for an A/B run).

PG=postgres://postgres@127.0.0.1:5432
REDIS=redis://127.0.0.1:6379
BIN=${CARGO_TARGET_DIR:-target}/release

# bench_setup <out-dir or ""> <name>: the results folder (default
# loadtest/results/<date>-<name>), a release build, the generator's command (LT), and
# every server started stopped when the script ends.
bench_setup() {
  OUT=${1:-loadtest/results/$(date +%Y-%m-%d)-$2}
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
  cargo build --release -p switchboard -p loadtest
  PIDS=()
  trap cleanup EXIT
  LT=("$BIN/loadtest" --out "$OUT" --quiet --database-process postgres)
}
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }

wait_for() { for _ in $(seq 1 100); do curl -sf "$1/health" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
fresh_db() { psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"; }
count() { psql -Atq -h 127.0.0.1 -U postgres -d "$1" -c "$2"; }
stop_all() { cleanup; PIDS=(); sleep 1; }

# switchboard <port> <sqlite|postgres> [redis]: a fresh server; prints nothing, sets SERVER_PID.
switchboard() {
  local port=$1 backend=$2 bus=${3:-} data
  # A server left over from another run would answer in this one's place.
  if curl -sf "http://127.0.0.1:$port/health" >/dev/null; then echo "port $port already has a server" >&2; return 1; fi
  data=$(mktemp -d)
  (
    export SWITCHBOARD_SERVER__PORT=$port SWITCHBOARD_SERVER__DATA_DIR=$data SWITCHBOARD_LOG__LEVEL=warn \
      SWITCHBOARD_RATE_LIMIT__PER_IP_PER_SECOND=1000000 SWITCHBOARD_RATE_LIMIT__PER_IP_BURST=1000000 \
      SWITCHBOARD_RATE_LIMIT__PER_TENANT_PER_SECOND=1000000 SWITCHBOARD_RATE_LIMIT__PER_TENANT_BURST=1000000 \
      SWITCHBOARD_RATE_LIMIT__AUTH_PER_IP_PER_MINUTE=1000000 \
      SWITCHBOARD_RATE_LIMIT__WEBHOOKS_PER_IP_PER_SECOND=1000000 SWITCHBOARD_RATE_LIMIT__WEBHOOKS_PER_IP_BURST=1000000 \
      SWITCHBOARD_RATE_LIMIT__SOCKET_UPGRADES_PER_IP_PER_MINUTE=1000000 \
      SWITCHBOARD_WEBSOCKET__MAX_SOCKETS_PER_USER=1000000 SWITCHBOARD_WEBSOCKET__MAX_SOCKETS_PER_TENANT=1000000 \
      SWITCHBOARD_BOOTSTRAP__OWNER_PASSWORD=bench-password-1 \
      SWITCHBOARD_AUTH__JWT_SECRET=loadtest-shared-jwt-secret-0123456789abcdef \
      SWITCHBOARD_CHANNELS__CREDENTIALS_KEY=bG9hZHRlc3QtY3JlZGVudGlhbHMta2V5LTMyYnl0ZXM= \
      SWITCHBOARD_CHANNELS__GRAPH_BASE_URL=http://127.0.0.1:9900 \
      SWITCHBOARD_CHANNELS__SEND_RATE_PER_SECOND=10000
    [ "$backend" = postgres ] && export DATABASE_URL=$PG/sb_bench
    [ -n "$bus" ] && export REDIS_URL=$REDIS
    [ -n "${PIPELINE:-}" ] && export SWITCHBOARD_PIPELINE__ENABLED=$PIPELINE
    exec "${SB_BIN:-$BIN/switchboard}" >"$OUT/switchboard-$backend-$port${PIPELINE:+-pipeline-$PIPELINE}.log" 2>&1
  ) &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for "http://127.0.0.1:$port"
}

