#!/usr/bin/env bash
# The inbound pipeline under load (docs/benchmarks.md, "Inbound pipeline"): Switchboard
# on SQLite and on Postgres, each with the pipeline on and off, taking turns REPS times
# on fresh servers and databases. Each turn sends signed webhooks at 600/s (ack and
# delivery p99), then closed loop to saturation (throughput). With the pipeline on, the
# agents also time each message's `message.insights` after its delivery (pipeline lag)
# and how long after the last delivery the pipeline caught up. Customers write the same
# sentences either way (`--sentences`).
#
#   loadtest/pipeline.sh [out-dir]      (default loadtest/results/<date>-pipeline)
#
# Needs PostgreSQL on 127.0.0.1 (trust auth for user postgres) and port 8080 free.
# Knobs: REPS (default 3), DURATION (seconds per measurement, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=loadtest/servers.sh
source loadtest/servers.sh
bench_setup "${1:-}" pipeline
REPS=${REPS:-3}
DURATION=${DURATION:-10}

for rep in $(seq 1 "$REPS"); do
  for backend in sqlite postgres; do
    for pipeline in on off; do
      [ "$backend" = postgres ] && fresh_db sb_bench
      PIPELINE=$([ "$pipeline" = on ] && echo true || echo false) switchboard 8080 "$backend"
      measure=(--sentences)
      [ "$pipeline" = on ] && measure+=(--pipeline)
      label=switchboard-$backend-pipeline-$pipeline
      "${LT[@]}" --backend "$backend" --server-pid "$SERVER_PID" --label "$label-600#$rep" \
        ingest --rate 600 --duration "$DURATION" "${measure[@]}" || true
      "${LT[@]}" --backend "$backend" --server-pid "$SERVER_PID" --label "$label-saturation#$rep" \
        ingest --rate 0 --concurrency 64 --duration "$DURATION" "${measure[@]}" || true
      stop_all
    done
  done
done

"$BIN/loadtest" --out "$OUT" report "$OUT"/*.json
