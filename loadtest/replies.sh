#!/usr/bin/env bash
# Automatic AI replies (docs/benchmarks.md, "AI replies"): Switchboard on SQLite and on
# Postgres, taking turns REPS times on fresh servers and databases, answering customer
# messages with a fake model that answers at once. What is measured is our own code:
# from a customer message's acknowledgement to the AI's reply on an agent's socket, and
# the reply worker's own time from `/metrics` (`ai_reply_own_seconds`).
#
#   loadtest/replies.sh [out-dir]      (default loadtest/results/<date>-replies)
#
# Needs PostgreSQL on 127.0.0.1 (trust auth for user postgres), ports 8080 and 9901 free.
# Knobs: REPS (default 3), DURATION (seconds, default 10), RATE (messages/s, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/servers.sh
source loadtest/servers.sh
bench_setup "${1:-}" replies
REPS=${REPS:-3}
DURATION=${DURATION:-10}
RATE=${RATE:-20}
# The fake model is on loopback.
export SWITCHBOARD_AI__ALLOW_LOCAL_MODELS=true

for rep in $(seq 1 "$REPS"); do
  for backend in sqlite postgres; do
    [ "$backend" = postgres ] && fresh_db sb_bench
    switchboard 8080 "$backend"
    "${LT[@]}" --backend "$backend" --server-pid "$SERVER_PID" --label "switchboard-$backend-replies#$rep" \
      replies --rate "$RATE" --duration "$DURATION" || true
    stop_all
  done
done

"$BIN/loadtest" --out "$OUT" report "$OUT"/*.json
