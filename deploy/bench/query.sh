#!/usr/bin/env bash
# Query-API benchmark: dashboard endpoints over a synthetic dataset of ROWS feedback rows
# (90 days) in ClickHouse, through a release query API with its answer cache off, one client
# and 8 clients; then the same questions asked of a plain Postgres table of the same rows
# with indexes (the seed's approach).
# Usage: deploy/bench/query.sh [ROWS]   (default 10000000). Prints Markdown tables.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROWS="${1:-10000000}"
PORT="${RTCX_BENCH_QUERY_PORT:-8092}"
DB=rtcx_bench

"$ROOT/deploy/dev.sh" stack >/dev/null
# shellcheck disable=SC1090
source <("$ROOT/deploy/dev.sh" env)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/rtcx/target}"
(cd "$ROOT" && cargo build --locked --release -p rtcx-query-api -p rtcx-migrations --bins >&2)
BIN="$CARGO_TARGET_DIR/release"
ch() { curl -sf "$RTCX_CLICKHOUSE_URL/" --data-binary "$1"; }

# 1. ClickHouse dataset (kept between runs when it already has ROWS rows).
if [[ "$(ch "SELECT count() FROM $DB.feedback" 2>/dev/null || echo 0)" != "$ROWS" ]]; then
  ch "DROP DATABASE IF EXISTS $DB SYNC"
  RTCX_CLICKHOUSE_DATABASE=$DB "$BIN/rtcx-migrate" clickhouse >/dev/null 2>&1
  RTCX_CLICKHOUSE_DATABASE=$DB "$BIN/rtcx-query-api" seed --rows "$ROWS" --days 90 >&2
fi

# 2. The same rows in a plain Postgres table with indexes.
psql_() { psql "$RTCX_POSTGRES_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }
if [[ "$(psql_ -c "SELECT count(*) FROM bench_feedback" 2>/dev/null || echo 0)" != "$ROWS" ]]; then
  psql_ -c "DROP TABLE IF EXISTS bench_feedback; CREATE TABLE bench_feedback (occurred_at timestamptz NOT NULL,
    channel text NOT NULL, sentiment_label text NOT NULL, sentiment_score real NOT NULL, nps smallint, csat smallint,
    segment text NOT NULL, journey_stage text NOT NULL)"
  ch "SELECT occurred_at, channel, sentiment_label, sentiment_score, nps, csat, segment, journey_stage
      FROM $DB.feedback FORMAT CSV SETTINGS format_csv_null_representation = ''" |
    psql_ -c "COPY bench_feedback FROM STDIN WITH (FORMAT csv)"
  psql_ -c "CREATE INDEX ON bench_feedback (occurred_at); CREATE INDEX ON bench_feedback (channel, occurred_at);
            CREATE INDEX ON bench_feedback (sentiment_label, occurred_at); ANALYZE bench_feedback"
fi

# 3. A release query API on the dataset, cache off; a bench account.
EMAIL="bench-$(date +%s)@example.com"; PASSWORD="Bench-Passw0rd!"
RTCX_ADMIN_PASSWORD="$PASSWORD" RTCX_CLICKHOUSE_DATABASE=$DB "$BIN/rtcx-query-api" create-admin --email "$EMAIL" >/dev/null
RTCX_QUERY_API_LISTEN="127.0.0.1:$PORT" RTCX_CLICKHOUSE_DATABASE=$DB RTCX_QUERY_CACHE_TTL_MS=0 RTCX_LOG=warn \
  "$BIN/rtcx-query-api" >/tmp/rtcx-bench-query-api.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.1; done

"$BIN/rtcx-query-bench" --url "http://127.0.0.1:$PORT" --email "$EMAIL" --password "$PASSWORD" \
  --requests 100 --concurrency 8 --postgres-url "$RTCX_POSTGRES_URL" --postgres-runs 5
