#!/usr/bin/env bash
# Backlog benchmark: how a processor drains a large backlog with batches cut by their
# estimated inference time (--batch-inference-budget-ms), against the local Kafka and
# ClickHouse, with throw-away topics and databases:
#   (1) steady state: STEADY events are produced to a fresh raw topic, one processor drains
#       them (the capacity phase of deploy/bench/pipeline.sh);
#   (2) backlog: BACKLOG events are produced to another fresh topic; one processor drains
#       them; when half are stored a second processor joins the group. Reported: drain rate,
#       the longest batch (time and rows), the time until the second processor owns its
#       partitions and until it commits its first batch.
# The services run from the build profile of deploy/dev.sh (RTCX_CARGO_PROFILE, default dev:
# dependencies and the processors are optimised, see Cargo.toml).
# Usage: deploy/bench/backlog.sh [BACKLOG] [STEADY]   (default 50000 3000). Prints Markdown.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BACKLOG="${1:-50000}"
STEADY="${2:-3000}"
PROFILE="${RTCX_CARGO_PROFILE:-dev}"
OPS_PORT="${RTCX_BENCH_PROCESSORS_PORT:-9191}"
OPS_PORT2="${RTCX_BENCH_PROCESSORS_PORT2:-9192}"

"$ROOT/deploy/dev.sh" stack >/dev/null
# shellcheck disable=SC1090
source <("$ROOT/deploy/dev.sh" env)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/rtcx/target}"
flag=(); [[ "$PROFILE" == dev ]] || flag=(--profile "$PROFILE")
(cd "$ROOT" && cargo build --locked "${flag[@]}" --workspace --bins >&2)
d="$PROFILE"; [[ "$d" == dev ]] && d=debug
BIN="$CARGO_TARGET_DIR/$d"
ID="$(date +%s)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

ch() { curl -sf "$RTCX_CLICKHOUSE_URL/" --data-binary "$1"; }
now_ms() { date +%s%3N; }

setup() { # PHASE
  RAW="rtcx.bench.$ID.$1.raw"; DB="rtcx_bench_${ID}_$1"
  "$BIN/rtcx-migrate" kafka --topics "$RAW:6,rtcx.bench.$ID.$1.enriched:6,rtcx.bench.$ID.$1.dlq:1" >/dev/null 2>&1
  RTCX_CLICKHOUSE_DATABASE="$DB" "$BIN/rtcx-migrate" clickhouse >/dev/null 2>&1
  "$BIN/rtcx-loadgen" --mode kafka --topic "$RAW" --count "$2" --batch-size 100 --concurrency 8 --duplicate-share 0 \
    --no-progress --json >/dev/null
}

start_processor() { # PHASE PORT LOG
  RAYON_NUM_THREADS=1 RTCX_RAW_TOPIC="$RAW" RTCX_ENRICHED_TOPIC="rtcx.bench.$ID.$1.enriched" \
    RTCX_DLQ_TOPIC="rtcx.bench.$ID.$1.dlq" RTCX_PROCESSORS_GROUP="rtcx-bench-$ID-$1" RTCX_CLICKHOUSE_DATABASE="$DB" \
    RTCX_PROCESSORS_LISTEN="127.0.0.1:$2" RTCX_LOG="warn,rtcx_processors=debug" RTCX_LOG_FORMAT=json \
    "$BIN/rtcx-processors" >"$3" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$2/health/ready" >/dev/null && return; sleep 0.1; done
  echo "processor did not become ready" >&2; exit 1
}

rows() { ch "SELECT count() FROM $DB.feedback"; }
wait_rows() { while [[ "$(rows)" -lt "$1" ]]; do sleep 0.2; done; }

# (1) steady state
setup steady "$STEADY"
start_processor steady "$OPS_PORT" /tmp/rtcx-bench-backlog-steady.log
t0=$(now_ms); wait_rows "$STEADY"; t1=$(now_ms)
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
steady=$(python3 -c "print(round($STEADY * 1000 / ($t1 - $t0), 1))")

# (2) backlog, a second processor joining half-way
setup backlog "$BACKLOG"
LOG1=/tmp/rtcx-bench-backlog-1.log; LOG2=/tmp/rtcx-bench-backlog-2.log
start_processor backlog "$OPS_PORT" "$LOG1"
t0=$(now_ms)
wait_rows $((BACKLOG / 2))
half=$(now_ms)
start_processor backlog "$OPS_PORT2" "$LOG2"
joined=$(now_ms)
wait_rows "$BACKLOG"
t1=$(now_ms)
read -r alone <<<"$(python3 -c "print(round(($BACKLOG / 2) * 1000 / ($half - $t0), 1))")"
total=$(python3 -c "print(round($BACKLOG * 1000 / ($t1 - $t0), 1))")
stats=$(python3 - "$LOG1" "$LOG2" "$joined" <<'PY'
import json, sys
from datetime import datetime
def events(path):
    out = []
    for line in open(path):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out
def ts(e):
    return datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp() * 1000
first, second = events(sys.argv[1]), events(sys.argv[2])
joined = float(sys.argv[3])
batches = [e for e in first + second if e.get("message") == "batch committed"]
ms = max(e["ms"] for e in batches)
rows = max(e["messages"] for e in batches)
mean_rows = sum(e["messages"] for e in batches) / len(batches)
assigned = [ts(e) for e in second if e.get("message") == "partitions assigned" and e.get("partitions", "[]") != "[]"]
committed = [ts(e) for e in second if e.get("message") == "batch committed"]
a = "%.1f s" % ((min(assigned) - joined) / 1000) if assigned else "never"
c = "%.1f s" % ((min(committed) - joined) / 1000) if committed else "never"
print("%d|%.0f|%d|%s|%s|%d" % (ms, mean_rows, rows, a, c, len(batches)))
PY
)
IFS='|' read -r max_ms mean_rows max_rows assigned first_commit nbatches <<<"$stats"
lat=$(ch "SELECT round(quantile(0.99)(dateDiff('millisecond', received_at, stored_at)) / 1000, 1) FROM $DB.feedback")

cat <<EOF
| measurement | value |
|---|---|
| (1) steady state, one processor, $STEADY-event backlog | $steady events/s |
| (2) $BACKLOG-event backlog, one processor (first half) | $alone events/s ($(python3 -c "print(round(100 * $alone / $steady))") % of (1)) |
| (2) whole backlog, second processor joining half-way | $total events/s |
| (2) batches | $nbatches; mean $mean_rows rows, largest $max_rows rows; longest $max_ms ms |
| (2) second processor: partitions assigned / first batch committed after start | $assigned / $first_commit |
| (2) p99 produce→ClickHouse time (the backlog's own wait included) | $lat s |
EOF
ch "DROP DATABASE rtcx_bench_${ID}_steady SYNC" >/dev/null; ch "DROP DATABASE rtcx_bench_${ID}_backlog SYNC" >/dev/null
