#!/usr/bin/env bash
# Every scenario against Switchboard (SQLite and Postgres) and the peers, side by side in
# one session on one machine, then the combined report (`<out>/summary.md`).
#
#   loadtest/run-all.sh [out-dir]        (default loadtest/results/<date>)
#
# The method (docs/benchmarks.md): the systems take turns (A, B, C, A, B, C, …) for REPS
# repetitions, each on a fresh server and database, and the report gives the median
# and range of each configuration. Ingest runs with 1 and with 16 tenants, then again
# on a warmed Postgres database of at least WARM_MESSAGES messages over 1,000
# conversations. Autovacuum is switched on for the session (ALTER SYSTEM), as a
# production database has it. CPU per message or delivery is reported for the server,
# the database (every `postgres` process) and the generator.
#
# Needs PostgreSQL and Redis on 127.0.0.1 (trust auth for user postgres), Node.js 20 for
# the Socket.IO peer (`npm ci` in loadtest/peers/node first), and ports 8080, 8081, 9100,
# 9200, 9201 and 9900 free. Knobs: SCALE=small for a quick pass, REPS (default 3),
# WARM_MESSAGES (default 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-loadtest/results/$(date +%Y-%m-%d)}
SMALL=$([ "${SCALE:-}" = small ] && echo 1 || true)
PG=postgres://postgres@127.0.0.1:5432
REDIS=redis://127.0.0.1:6379
BIN=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$OUT" "$OUT/seed"
OUT=$(cd "$OUT" && pwd)

cargo build --release -p switchboard -p loadtest
LT=("$BIN/loadtest" --out "$OUT" --quiet --database-process postgres)
REPS=${REPS:-3}
WARM_MESSAGES=${WARM_MESSAGES:-1000000}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
restore_autovacuum() {
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "ALTER SYSTEM RESET autovacuum" -c "SELECT pg_reload_conf()" >/dev/null || true
}
trap 'cleanup; restore_autovacuum' EXIT
# Autovacuum on for the session, as production runs it; the trap above puts the
# machine's own setting back when the script ends, however it ends.
psql -q -h 127.0.0.1 -U postgres -d postgres -c "ALTER SYSTEM SET autovacuum = on" -c "SELECT pg_reload_conf()" >/dev/null

# shellcheck source=loadtest/servers.sh
source loadtest/servers.sh

socketio() { # <port> [redis]
  (cd loadtest/peers/node && PORT=$1 DATABASE_URL=$PG/sio_bench REDIS_URL=${2:+$REDIS} \
    GRAPH_BASE_URL=http://127.0.0.1:9900 exec node --expose-gc server.js >"$OUT/socketio-$1.log" 2>&1) &
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
  IDLE=(idle --connections 200); SAT1=(ingest --rate 0 --concurrency 32 --duration 3)
  SAT16=(ingest --rate 0 --concurrency 32 --duration 3 --tenants 16)
  AT600=(ingest --rate 600 --duration 3); E2E=(e2e --duration 3); E2E5K=(e2e --rate 1000 --duration 3)
  FAN=(fanout --agents 200 --step 2 --max-rate 400); CLUSTER=(cluster --url2 http://127.0.0.1:8081 --duration 3)
  RESUME=(resume --duration 3); SEED=(ingest --rate 0 --concurrency 64 --duration 10 --warmup 0 --customers 1000)
else
  IDLE=(idle --connections 2000); SAT1=(ingest --rate 0 --concurrency 64 --duration 10)
  SAT16=(ingest --rate 0 --concurrency 64 --duration 10 --tenants 16)
  AT600=(ingest --rate 600 --duration 10); E2E=(e2e --duration 10); E2E5K=(e2e --rate 5000 --duration 5 --reply-every 100)
  FAN=(fanout --agents 1000); CLUSTER=(cluster --url2 http://127.0.0.1:8081 --duration 10)
  RESUME=(resume --duration 10); SEED=(ingest --rate 0 --concurrency 64 --duration 60 --warmup 0 --customers 1000)
fi
# Label suffix per scenario; SAT1 keeps the historical `-saturation`.
declare -A SUFFIX=([IDLE]= [SAT1]=-saturation [SAT16]=-saturation-16t [AT600]= [E2E]= [FAN]= [E2E5K]=-5k [RESUME]= [SEED]=-seed)

# run <system> <rep> <scenario...>: the named scenarios against a running server.
run() {
  local system=$1 rep=$2; shift 2
  local target=() label
  case $system in
    switchboard-*) target=(--backend "${system#switchboard-}") ;;
    socketio) target=(--url http://127.0.0.1:9200 --peer socketio) ;;
    bare) target=(--url http://127.0.0.1:9100 --peer bare) ;;
  esac
  for s in "$@"; do
    declare -n args=$s
    label=$system${SUFFIX[$s]}${rep:+#$rep}
    "${LT[@]}" "${target[@]}" --server-pid "$SERVER_PID" --label "$label" "${args[@]}" || true
  done
}

start() { # <system>: a fresh server and database
  case $1 in
    switchboard-sqlite) switchboard 8080 sqlite ;;
    switchboard-postgres) fresh_db sb_bench; switchboard 8080 postgres ;;
    socketio) fresh_db sio_bench; socketio 9200 ;;
    bare) bare ;;
  esac
}

# Taking turns, REPS times: the figures reported as median and range.
for rep in $(seq 1 "$REPS"); do
  for system in switchboard-sqlite switchboard-postgres socketio bare; do
    start "$system"
    case $system in
      bare) run "$system" "$rep" IDLE SAT1 FAN ;;
      *) run "$system" "$rep" IDLE SAT1 SAT16 AT600 E2E FAN ;;
    esac
    stop_all
  done
done

# Once each: overload and reconnect storms (correctness more than speed).
for system in switchboard-sqlite switchboard-postgres socketio bare; do
  start "$system"
  case $system in
    bare) run "$system" "" RESUME ;;
    *) run "$system" "" E2E5K RESUME ;;
  esac
  stop_all
done

# A warmed Postgres database: at least WARM_MESSAGES messages over 1,000 conversations,
# through the real webhook path for Switchboard and by SQL for the peer (whose table has
# no index to warm), then ingest again, taking turns.
fresh_db sb_bench; fresh_db sio_bench
switchboard 8080 postgres
for _ in $(seq 1 100); do
  [ "$(count sb_bench 'SELECT count(*) FROM messages')" -ge "$WARM_MESSAGES" ] && break
  "$BIN/loadtest" --out "$OUT/seed" --quiet --backend postgres --server-pid "$SERVER_PID" --label switchboard-postgres-seed "${SEED[@]}" || true
done
psql -q -h 127.0.0.1 -U postgres -d sb_bench -c "VACUUM ANALYZE"
stop_all
socketio 9200
psql -q -h 127.0.0.1 -U postgres -d sio_bench -c "INSERT INTO lt_messages (tenant, conversation, direction, body)
  SELECT 'seed', 'c' || (g % 1000), 'inbound', md5(g::text) FROM generate_series(1, $WARM_MESSAGES) g" -c "VACUUM ANALYZE"
stop_all
SUFFIX[SAT1]=-warm-saturation; SUFFIX[SAT16]=-warm-saturation-16t
for rep in $(seq 1 "$REPS"); do
  switchboard 8080 postgres; run switchboard-postgres "$rep" SAT1 SAT16; stop_all
  socketio 9200; run socketio "$rep" SAT1 SAT16; stop_all
done
echo "warmed: $(count sb_bench 'SELECT count(*) FROM messages') Switchboard messages, $(count sio_bench 'SELECT count(*) FROM lt_messages') peer messages" | tee "$OUT/warm.txt"

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
