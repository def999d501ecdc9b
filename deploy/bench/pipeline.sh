#!/usr/bin/env bash
# Pipeline benchmark: one processor instance (release build, the default model, one
# single-threaded model instance per core) on this machine, against the local Kafka and
# ClickHouse, with throw-away topics and ClickHouse databases:
#   (1) capacity: EVENTS events are produced to a fresh raw topic first; one processor then
#       drains them into ClickHouse; sustained events/s = EVENTS / drain time.
#   (2) latency: ingest (release) + the processor; rtcx-loadgen posts batches of 10 through
#       ingest at 80 % of (1) for SECONDS; the ingest→ClickHouse latency of every event is
#       stored_at - received_at, both stamped by the servers, read with SQL.
# The memory of recent analyses is off (RTCX_RECENT_RESULTS=0 unless set): the synthetic texts
# come from a few hundred templates, far more repetitive than real feedback, and the figure
# measures the model. Identical texts of one batch are still analysed once.
# Usage: deploy/bench/pipeline.sh [EVENTS] [SECONDS]   (default 20000 60). Prints Markdown.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EVENTS="${1:-20000}"
SECONDS_AT_RATE="${2:-60}"
INGEST_PORT="${RTCX_BENCH_INGEST_PORT:-8091}"
OPS_PORT="${RTCX_BENCH_PROCESSORS_PORT:-9191}"

"$ROOT/deploy/dev.sh" stack >/dev/null
# shellcheck disable=SC1090
source <("$ROOT/deploy/dev.sh" env)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/rtcx/target}"
(cd "$ROOT" && cargo build --locked --release -p rtcx-processors -p rtcx-ingest -p rtcx-migrations --bins >&2)
BIN="$CARGO_TARGET_DIR/release"
ID="$(date +%s)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

ch() { curl -sf "$RTCX_CLICKHOUSE_URL/" --data-binary "$1"; }
now_ms() { date +%s%3N; }

# setup PHASE: topics and a migrated database named after the phase
setup() {
  RAW="rtcx.bench.$ID.$1.raw"; DB="rtcx_bench_${ID}_$1"
  "$BIN/rtcx-migrate" kafka --topics "$RAW:6,rtcx.bench.$ID.$1.enriched:6,rtcx.bench.$ID.$1.dlq:1" >/dev/null 2>&1
  RTCX_CLICKHOUSE_DATABASE="$DB" "$BIN/rtcx-migrate" clickhouse >/dev/null 2>&1
}

start_processor() {
  RAYON_NUM_THREADS=1 RTCX_RECENT_RESULTS="${RTCX_RECENT_RESULTS:-0}" RTCX_RAW_TOPIC="$RAW" RTCX_ENRICHED_TOPIC="rtcx.bench.$ID.$1.enriched" \
    RTCX_DLQ_TOPIC="rtcx.bench.$ID.$1.dlq" RTCX_PROCESSORS_GROUP="rtcx-bench-$ID-$1" RTCX_CLICKHOUSE_DATABASE="$DB" \
    RTCX_PROCESSORS_LISTEN="127.0.0.1:$OPS_PORT" RTCX_LOG=warn \
    "$BIN/rtcx-processors" >"/tmp/rtcx-bench-processors-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$OPS_PORT/health/ready" >/dev/null && return; sleep 0.1; done
  echo "processor did not become ready" >&2; exit 1
}

wait_rows() { # N
  while [[ "$(ch "SELECT count() FROM $DB.feedback")" -lt "$1" ]]; do sleep 0.2; done
}

# (1) capacity
setup capacity
"$BIN/rtcx-loadgen" --mode kafka --topic "$RAW" --count "$EVENTS" --batch-size 100 --concurrency 8 --duplicate-share 0 --no-progress \
  --json >/dev/null
start_processor capacity
t0=$(now_ms)
wait_rows "$EVENTS"
t1=$(now_ms)
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
capacity=$(python3 -c "print(round($EVENTS * 1000 / ($t1 - $t0), 1))")
rate=$(python3 -c "print(int($capacity * 0.8))")

# (2) latency at 80 % of capacity, through ingest
setup latency
RTCX_INGEST_LISTEN="127.0.0.1:$INGEST_PORT" RTCX_INGEST_TOPIC="$RAW" RTCX_LOG=warn "$BIN/rtcx-ingest" \
  >/tmp/rtcx-bench-ingest-pipeline.log 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$INGEST_PORT/health/ready" >/dev/null && break; sleep 0.1; done
start_processor latency
summary=$("$BIN/rtcx-loadgen" --mode batch --batch-size 10 --url "http://127.0.0.1:$INGEST_PORT" --rate "$rate" \
  --count 0 --duration-secs "$SECONDS_AT_RATE" --duplicate-share 0 --no-progress --json)
accepted=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['events_ok'])" "$summary")
wait_rows "$accepted"
lat=$(ch "SELECT arrayStringConcat(arrayMap(x -> toString(round(x)), quantiles(0.5, 0.99, 1)(dateDiff('millisecond', received_at, stored_at))), ' ') FROM $DB.feedback")
read -r p50 p99 pmax <<<"$lat"
rows=$(ch "SELECT count() FROM $DB.feedback")
# Mean time per batch stage, and mean batch size, from the processor's own metrics.
stages=$(curl -sf "http://127.0.0.1:$OPS_PORT/metrics" | python3 <(cat <<'PY'
import re, sys
m = {}
pat = re.compile(r'rtcx_processors_(stage_seconds|batch_rows)_(sum|count)(?:\{stage="(\w+)"\})? ([0-9.e+-]+)')
reuse = re.compile(r'rtcx_processors_(reused_analyses|inferred_texts)_total(?:\{source="(\w+)"\})? ([0-9.e+-]+)')
counts = {}
for line in sys.stdin:
    r = pat.match(line)
    if r:
        m[(r.group(1), r.group(3), r.group(2))] = float(r.group(4))
    r = reuse.match(line)
    if r:
        counts[r.group(2) or r.group(1)] = float(r.group(3))
n = m.get(("batch_rows", None, "count"), 0) or 1
rows = m.get(("batch_rows", None, "sum"), 0)
parts = []
for s in ["id_lookup", "inference", "publish", "insert", "commit"]:
    key = ("stage_seconds", s, "sum")
    if key in m:
        parts.append("%s %.0f ms" % (s, 1000 * m[key] / n))
print("%d batches of %.0f rows; mean per batch: %s; texts inferred %d, answered without inference: %d repeats "
      "within a batch, %d remembered" % (n, rows / n, ", ".join(parts), counts.get("inferred_texts", 0),
                                         counts.get("batch", 0), counts.get("recent", 0)))
PY
))

cat <<EOF
| measurement | value |
|---|---|
| (1) sustained throughput, one processor, $EVENTS-event backlog | $capacity events/s |
| (2) rate offered through ingest (80 % of (1)), $SECONDS_AT_RATE s | $rate events/s ($accepted accepted, $rows stored) |
| (2) ingest→ClickHouse latency p50 / p99 / max | $p50 / $p99 / $pmax ms |
| (2) batches | $stages |
EOF
ch "DROP DATABASE rtcx_bench_${ID}_capacity SYNC" >/dev/null; ch "DROP DATABASE rtcx_bench_${ID}_latency SYNC" >/dev/null
