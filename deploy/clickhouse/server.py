"""Runs the real ClickHouse engine shipped in PyPI's chdb-core as a server.

chdb embeds ClickHouse 26.x. Its own HTTP and native (TCP) listeners start when a query runs
`SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP` with a config.xml in the working directory
naming the ports; they live as long as that query runs, so the query ends with a long sleep.

Users live in the generated users.xml: `default` (admin, no password, loopback only) and a
read-only login for data teams (readonly=1, SELECT on the rtcx database only). chdb has no
writable SQL access storage (`CREATE ROLE` fails with ACCESS_STORAGE_FOR_INSERTION_NOT_FOUND),
so logins are declared in configuration, as deploy/clickhouse/users.d/ does for the Docker stack.

Usage: server.py --data DIR --http-port 8123 --tcp-port 9000
(started and stopped by deploy/dev.sh; logs go to stdout/stderr).
"""

import argparse
import hashlib
import os
import signal
import sys
import threading

CONFIG = """<clickhouse>
    <listen_host>{host}</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <max_concurrent_queries>200</max_concurrent_queries>
    <users_config>users.xml</users_config>
</clickhouse>
"""

USERS = """<clickhouse>
    <profiles>
        <default>
            <!-- Retried inserts (same insert_deduplication_token) are dropped in rollups too. -->
            <deduplicate_blocks_in_dependent_materialized_views>1</deduplicate_blocks_in_dependent_materialized_views>
        </default>
        <readonly_profile><readonly>1</readonly></readonly_profile>
    </profiles>
    <quotas><default/></quotas>
    <users>
        <!-- Admin user for services and migrations: no password, loopback only. -->
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
            <access_management>1</access_management>
        </default>
        <!-- Read-only login for data teams: SELECT on the rtcx database only. -->
        <{analyst_user}>
            <password_sha256_hex>{analyst_sha256}</password_sha256_hex>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>readonly_profile</profile>
            <quota>default</quota>
            <grants><query>GRANT SELECT ON {database}.*</query></grants>
        </{analyst_user}>
    </users>
</clickhouse>
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="data directory (survives restarts)")
    p.add_argument("--http-port", type=int, default=8123)
    p.add_argument("--tcp-port", type=int, default=9000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--database", default=os.environ.get("RTCX_CLICKHOUSE_DATABASE", "rtcx"))
    p.add_argument("--analyst-user", default=os.environ.get("RTCX_CLICKHOUSE_ANALYST_USER", "rtcx_analyst"))
    p.add_argument("--analyst-password-env", default="RTCX_CLICKHOUSE_ANALYST_PASSWORD",
                   help="environment variable holding the read-only login's password")
    args = p.parse_args()

    data = os.path.abspath(args.data)
    workdir = os.path.join(data, "server")
    os.makedirs(workdir, exist_ok=True)
    for name in (args.database, args.analyst_user):
        if not name or not all(c.isalnum() or c == "_" for c in name):
            p.error(f"invalid identifier {name!r}: use letters, digits and underscores")
    password = os.environ.get(args.analyst_password_env, "")
    if not password:
        p.error(f"set {args.analyst_password_env} to the read-only login's password")
    config = CONFIG.format(host=args.host, http_port=args.http_port, tcp_port=args.tcp_port)
    users = USERS.format(database=args.database, analyst_user=args.analyst_user,
                         analyst_sha256=hashlib.sha256(password.encode()).hexdigest())
    for name, text in (("config.xml", config), ("users.xml", users)):
        # Written 0600: users.xml holds a password hash.
        fd = os.open(os.path.join(workdir, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    os.chdir(workdir)

    import chdb._chdb as engine  # noqa: E402  (import after chdir: the engine reads ./config.xml)

    failure = []

    def serve() -> None:
        try:
            # ~68 years of one-second sleeps: the listeners live as long as this query runs.
            engine.query(
                "SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; "
                "SELECT max(sleepEachRow(1)) FROM numbers(2147483647) "
                "SETTINGS max_block_size = 1, function_sleep_max_microseconds_per_block = 0",
                "TSV",
                path=data,
            )
        except Exception as e:  # the engine refused to start: report and exit non-zero
            failure.append(e)

    # The query blocks inside the engine, where Python signal handlers cannot run, so it runs
    # in a worker thread and the main thread waits for SIGTERM / SIGINT.
    worker = threading.Thread(target=serve, name="clickhouse", daemon=True)
    worker.start()
    print(f"clickhouse (chdb) listening on http://{args.host}:{args.http_port} tcp {args.tcp_port}, data {data}",
          flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while worker.is_alive() and not stop.wait(0.5):
        pass
    if failure:
        print(f"clickhouse (chdb) failed: {failure[0]}", file=sys.stderr, flush=True)
        os._exit(1)
    print("clickhouse (chdb) stopping", flush=True)
    sys.stdout.flush()
    # The engine has no clean shutdown from Python; MergeTree parts are written atomically.
    os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
