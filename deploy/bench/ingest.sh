#!/usr/bin/env bash
# Ingest benchmark: on this machine, against the local Apache Kafka, side by side in one run:
#   (a) raw rdkafka producer (rtcx-loadgen --mode kafka): the ceiling; same rounds of 100
#       events and 8 in flight as (b), same producer settings as ingest (idempotent, acks=all, lz4)
#   (b) ingest batch endpoint (100 events per request)
#   (c) ingest single-event endpoint, as fast as possible
#   (d) ingest single-event endpoint at a fixed 2 000 requests/s (open loop)
# All four send the same synthetic feedback (rtcx_ingest::synthetic) to a dedicated topic.
# Usage: deploy/bench/ingest.sh [EVENTS]   (default 100000). Prints a Markdown table.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EVENTS="${1:-100000}"
PORT="${RTCX_BENCH_INGEST_PORT:-8090}"
TOPIC="rtcx.bench.ingest.v1"

"$ROOT/deploy/dev.sh" stack >/dev/null
# shellcheck disable=SC1090
source <("$ROOT/deploy/dev.sh" env)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/rtcx/target}"
(cd "$ROOT" && cargo build --locked --release -p rtcx-ingest --bins >&2)
BIN="$CARGO_TARGET_DIR/release"

java -cp "$RTCX_KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$RTCX_KAFKA_BROKERS" \
  --create --if-not-exists --topic "$TOPIC" --partitions 6 --replication-factor 1 >/dev/null 2>&1

RTCX_INGEST_LISTEN="127.0.0.1:$PORT" RTCX_INGEST_TOPIC="$TOPIC" RTCX_LOG=warn \
  RTCX_INGEST_KEY_RATE=10000000 RTCX_INGEST_KEY_BURST=10000000 RTCX_INGEST_IP_RATE=10000000 RTCX_INGEST_IP_BURST=10000000 \
  "$BIN/rtcx-ingest" >/tmp/rtcx-bench-ingest.log 2>&1 &
INGEST_PID=$!
trap 'kill $INGEST_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.1; done

run() { "$BIN/rtcx-loadgen" --json --no-progress --url "http://127.0.0.1:$PORT" --topic "$TOPIC" "$@"; }
a=$(run --mode kafka --batch-size 100 --count "$EVENTS" --concurrency 8)
b=$(run --mode batch --batch-size 100 --count "$EVENTS" --concurrency 8)
c=$(run --mode single --count $((EVENTS / 4)) --concurrency 64)
d=$(run --mode single --rate 2000 --count 60000 --concurrency 512)

python3 - "$a" "$b" "$c" "$d" <<'PY'
import json, sys
names = ["(a) raw rdkafka producer (100/round)", "(b) ingest batch (100/request)", "(c) ingest single, max", "(d) ingest single @ 2000 req/s"]
rows = [json.loads(x) for x in sys.argv[1:]]
print("| run | events | events/s | latency p50 ms | p99 ms | max ms | per |")
print("|---|---|---|---|---|---|---|")
for n, r in zip(names, rows):
    per = "round of 100" if r["mode"] == "kafka" else ("request of 100" if r["mode"] == "batch" else "request")
    l = r["latency_ms"]
    print(f"| {n} | {r['events_ok']} | {r['events_per_sec']:.0f} | {l['p50']:.2f} | {l['p99']:.2f} | {l['max']:.2f} | {per} |")
print(f"\n(b)/(a) = {rows[1]['events_per_sec'] / rows[0]['events_per_sec']:.2f}")
PY
