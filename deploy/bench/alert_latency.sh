#!/usr/bin/env bash
# Alert latency through the real pipeline: ingest → Kafka → processors → ClickHouse → the alert
# evaluator → a Postgres alert row (and its rtcx.alerts.v1 event through the outbox).
#
# Needs the quick start running with enough history for the baselines (deploy/dev.sh up, then
# at least 15 minutes of demo traffic at 1-minute windows). Injects a complaint spike on each
# CHANNEL at once (rtcx-loadgen --channel C --negative-share 0.9 at the demo rate, for
# SPIKE_SECS), then polls the alerts table: the latency of a channel is the first SENTIMENT_SPIKE
# or HIGH_VOLUME_NEGATIVE alert on it, created after the spike started, minus the spike's start.
# Target (issue 12): p95 ≤ window + allowed lateness + 30 s.
# Usage: deploy/bench/alert_latency.sh [SPIKE_SECS] [CHANNELS...]   (default 120, all seven)
# Prints one line per channel and a Markdown summary.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SPIKE_SECS="${1:-120}"
shift || true
CHANNELS=("$@")
[[ ${#CHANNELS[@]} -gt 0 ]] || CHANNELS=(web mobile_app email chat social survey call_center)
WAIT_SECS="${RTCX_BENCH_ALERT_WAIT_SECS:-600}"

# shellcheck disable=SC1090
source <("$ROOT/deploy/dev.sh" env)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/rtcx/target}"
PROFILE="${RTCX_CARGO_PROFILE:-dev}"; d="$PROFILE"; [[ "$d" == dev ]] && d=debug
LOADGEN="$CARGO_TARGET_DIR/$d/rtcx-loadgen"
RATE="${RTCX_DEMO_RATE:-20}"
WINDOW="${RTCX_ALERT_WINDOW_SECS:-${RTCX_DEMO_ALERT_WINDOW_SECS:-60}}"
LATENESS="${RTCX_ALERT_LATENESS_SECS:-120}"
psql_q() { psql "$RTCX_POSTGRES_URL" -Atq -c "$1"; }
curl -sf "http://127.0.0.1:${RTCX_QUERY_API_PORT:-8081}/health/ready" >/dev/null \
  || { echo "the quick start is not up: run deploy/dev.sh up (and wait 15 minutes)" >&2; exit 1; }

start="$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)"
start_s="$(date +%s.%N)"
echo "spike: ${#CHANNELS[@]} channels × $RATE events/s, 90 % negative, ${SPIKE_SECS} s, from $start" >&2
PIDS=()
for c in "${CHANNELS[@]}"; do
  "$LOADGEN" --mode batch --batch-size 10 --channel "$c" --negative-share 0.9 --rate "$RATE" --count 0 \
    --duration-secs "$SPIKE_SECS" --no-progress >/dev/null 2>&1 &
  PIDS+=($!)
done
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

declare -A latency=()
deadline=$(( $(date +%s) + WAIT_SECS ))
while (( $(date +%s) < deadline )) && (( ${#latency[@]} < ${#CHANNELS[@]} )); do
  while IFS='|' read -r channel secs; do
    [[ -n "$channel" && -z "${latency[$channel]:-}" ]] || continue
    latency[$channel]="$secs"
    echo "$channel: first alert after ${secs} s" >&2
  done < <(psql_q "SELECT dimension->>'channel', round(extract(epoch FROM min(created_at)) - $start_s, 1)
                   FROM alerts WHERE created_at >= '$start' AND alert_type IN ('SENTIMENT_SPIKE', 'HIGH_VOLUME_NEGATIVE')
                     AND dimension ? 'channel' AND NOT backfill GROUP BY 1")
  sleep 2
done

found=()
for c in "${CHANNELS[@]}"; do [[ -n "${latency[$c]:-}" ]] && found+=("${latency[$c]}"); done
missed=$(( ${#CHANNELS[@]} - ${#found[@]} ))
sorted="$(printf '%s\n' "${found[@]}" | sort -n)"
pct() { # P: nearest-rank percentile of the found latencies
  local n=${#found[@]}; (( n > 0 )) || { echo "-"; return; }
  local k; k=$(python3 -c "import math; print(max(1, math.ceil($1 / 100 * $n)))")
  sed -n "${k}p" <<<"$sorted"
}
target=$(( WINDOW + LATENESS + 30 ))
echo
echo "| spikes | found | missed | p50 (s) | p95 (s) | max (s) | target: window + lateness + 30 s |"
echo "|---|---|---|---|---|---|---|"
echo "| ${#CHANNELS[@]} | ${#found[@]} | $missed | $(pct 50) | $(pct 95) | $(pct 100) | $target s ($WINDOW + $LATENESS + 30) |"
