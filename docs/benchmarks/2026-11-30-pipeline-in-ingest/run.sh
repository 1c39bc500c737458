#!/usr/bin/env bash
# A/B of the inbound pipeline's effect on ingest: the pipeline off, on with its own
# transactions (before: OLD binary), on with its results in ingest's commits (after),
# taking turns on fresh servers and databases, REPS times; 600/s then saturation.
set -euo pipefail
cd /work/main
source loadtest/servers.sh
OUT=$1; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
PIDS=(); trap cleanup EXIT
LT=("$BIN/loadtest" --out "$OUT" --quiet --database-process postgres)
REPS=${REPS:-3}; DURATION=${DURATION:-5}
for rep in $(seq 1 "$REPS"); do
  for backend in sqlite postgres; do
    for config in off before after; do
      [ "$backend" = postgres ] && fresh_db sb_bench
      case $config in
        off) PIPELINE=false SB_BIN=/tmp/ab/sb-after switchboard 8080 "$backend"; measure=(--sentences) ;;
        before) PIPELINE=true SB_BIN=/tmp/ab/sb-before switchboard 8080 "$backend"; measure=(--sentences --pipeline) ;;
        after) PIPELINE=true SB_BIN=/tmp/ab/sb-after switchboard 8080 "$backend"; measure=(--sentences --pipeline) ;;
      esac
      label=sb-$backend-$config
      "${LT[@]}" --backend "$backend" --server-pid "$SERVER_PID" --label "$label-600#$rep" \
        ingest --rate 600 --duration "$DURATION" "${measure[@]}" || true
      "${LT[@]}" --backend "$backend" --server-pid "$SERVER_PID" --label "$label-saturation#$rep" \
        ingest --rate 0 --concurrency 64 --duration "$DURATION" "${measure[@]}" || true
      stop_all
    done
  done
done
"$BIN/loadtest" --out "$OUT" report "$OUT"/*.json
