#!/usr/bin/env bash
# Every scenario against Switchboard (SQLite and Postgres) and the peers, side by side in
# one session on one machine, then the combined report (`<out>/summary.md`).
#
#   loadtest/run-all.sh [out-dir]        (default loadtest/results/<date>)
#
# Needs PostgreSQL and Redis on 127.0.0.1 (trust auth for user postgres), Node.js 20 for
# the Socket.IO peer (`npm ci` in loadtest/peers/node first), and ports 8080, 8081, 9100,
# 9200, 9201 and 9900 free. Knobs: SCALE=small for a quick pass.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-loadtest/results/$(date +%Y-%m-%d)}
SMALL=$([ "${SCALE:-}" = small ] && echo 1 || true)
PG=postgres://postgres@127.0.0.1:5432
REDIS=redis://127.0.0.1:6379
BIN=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$OUT"

cargo build --release -p switchboard -p loadtest
LT=("$BIN/loadtest" --out "$OUT" --quiet)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for() { for _ in $(seq 1 100); do curl -sf "$1/health" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
fresh_db() { psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }
stop_all() { cleanup; PIDS=(); sleep 1; }

# switchboard <port> <sqlite|postgres> [redis]: a fresh server; prints nothing, sets SERVER_PID.
switchboard() {
  local port=$1 backend=$2 bus=${3:-} data
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
    exec "$BIN/switchboard" >"$OUT/switchboard-$backend-$port.log" 2>&1
  ) &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for "http://127.0.0.1:$port"
}

socketio() { # <port> [redis]
  (cd loadtest/peers/node && PORT=$1 DATABASE_URL=$PG/sio_bench REDIS_URL=${2:+$REDIS} \
    GRAPH_BASE_URL=http://127.0.0.1:9900 exec node server.js >"../../../$OUT/socketio-$1.log" 2>&1) &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for "http://127.0.0.1:$1"
}

bare() {
  "$BIN/bare-peer" --listen 127.0.0.1:9100 >"$OUT/bare.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_for http://127.0.0.1:9100
}

# The scenarios, the same knobs for every system.
if [ -n "$SMALL" ]; then
  IDLE=(idle --connections 200); SAT=(ingest --rate 0 --concurrency 32 --duration 3)
  AT600=(ingest --rate 600 --duration 3); E2E=(e2e --duration 3); E2E5K=(e2e --rate 1000 --duration 3)
  FAN=(fanout --agents 200 --step 2 --max-rate 400); CLUSTER=(cluster --url2 http://127.0.0.1:8081 --duration 3)
  RESUME=(resume --duration 3)
else
  IDLE=(idle --connections 2000); SAT=(ingest --rate 0 --concurrency 64 --duration 10)
  AT600=(ingest --rate 600 --duration 10); E2E=(e2e --duration 10); E2E5K=(e2e --rate 5000 --duration 5 --reply-every 100)
  FAN=(fanout --agents 1000); CLUSTER=(cluster --url2 http://127.0.0.1:8081 --duration 10)
  RESUME=(resume --duration 10)
fi

for backend in sqlite postgres; do
  [ "$backend" = postgres ] && fresh_db sb_bench
  switchboard 8080 "$backend"
  for s in IDLE SAT AT600 E2E E2E5K FAN RESUME; do
    declare -n args=$s
    label=switchboard-$backend; [ "$s" = SAT ] && label=$label-saturation; [ "$s" = E2E5K ] && label=$label-5k
    "${LT[@]}" --server-pid "$SERVER_PID" --backend "$backend" --label "$label" "${args[@]}" || true
  done
  stop_all
done

fresh_db sio_bench
socketio 9200
for s in IDLE SAT AT600 E2E E2E5K FAN RESUME; do
  declare -n args=$s
  label=socketio; [ "$s" = SAT ] && label=$label-saturation; [ "$s" = E2E5K ] && label=$label-5k
  "${LT[@]}" --url http://127.0.0.1:9200 --peer socketio --server-pid "$SERVER_PID" --label "$label" "${args[@]}" || true
done
stop_all

bare
for s in IDLE SAT FAN RESUME; do
  declare -n args=$s
  label=bare; [ "$s" = SAT ] && label=$label-saturation
  "${LT[@]}" --url http://127.0.0.1:9100 --peer bare --server-pid "$SERVER_PID" --label "$label" "${args[@]}" || true
done
stop_all

# Two nodes: Switchboard over Redis, and the Socket.IO peer with its Redis adapter.
fresh_db sb_bench
switchboard 8080 postgres redis; A=$SERVER_PID
switchboard 8081 postgres redis; B=$SERVER_PID
"${LT[@]}" --server-pid "$A" --server-pid "$B" --backend postgres --label switchboard-postgres-redis "${CLUSTER[@]}" || true
stop_all
fresh_db sio_bench
socketio 9200 redis; A=$SERVER_PID
socketio 9201 redis; B=$SERVER_PID
"${LT[@]}" --url http://127.0.0.1:9200 --peer socketio --server-pid "$A" --server-pid "$B" --label socketio-redis \
  "${CLUSTER[0]}" --url2 http://127.0.0.1:9201 "${CLUSTER[@]:3}" || true
stop_all

"$BIN/loadtest" --out "$OUT" report "$OUT"/*.json
