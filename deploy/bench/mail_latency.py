#!/usr/bin/env python3
"""Alert → e-mail latency through the running stack (standard library only).

Raises N HIGH alerts by hand as the demo admin (POST /v1/alerts: outbox → the processors' relay
→ rtcx.alerts.v1 → rtcx-notifier → its delivery queue → SMTP) and reports the time from each API
answer to the mail's arrival in the local SMTP server's Maildir (the file's modification time),
for the demo admin's address. Mails are grouped per rule for RTCX_NOTIFIER_GROUP_WAIT_SECS (30 s
by default): run the stack with it at 0 to measure what comes after the group wait.

Usage: RTCX_NOTIFIER_GROUP_WAIT_SECS=0 deploy/dev.sh up; deploy/bench/mail_latency.py [N [BACKLOG [plain]]]
(N alerts, default 30, one every 500 ms). BACKLOG (default 0) first queues that many bulk mails
(as a morning's digests or a burst of reminders would be) to backlog@rtcx.bench, to measure
whether they delay the alert mails; the dispatcher claims bulk mail after everything else due.
With `plain` the backlog is queued as ordinary mail (served oldest first, as every mail was
before bulk mail existed), for the comparison.
"""

import email
import email.policy
import json
import os
import statistics
import subprocess
import sys
import time

from stack import api, demo_admin, load_env

N = int(sys.argv[1]) if len(sys.argv) > 1 else 30
BACKLOG = int(sys.argv[2]) if len(sys.argv) > 2 else 0
BULK = not (len(sys.argv) > 3 and sys.argv[3] == "plain")


def main():
    load_env()
    address, token = demo_admin()
    state = os.environ.get("RTCX_STATE_DIR", "/var/lib/rtcx")
    maildir = os.path.join(os.environ.get("RTCX_DEV_MAILDIR", f"{state}/mail"), "new")
    seen = set(os.listdir(maildir))
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    run = int(time.time())
    if BACKLOG:
        payload = json.dumps({"subject": "[rtcx] bench backlog", "text": "backlog\n", "html": "<p>backlog</p>\n"})
        sql = (
            "INSERT INTO notification_deliveries (message_id, destination, channel, recipient, event_type, payload, "
            "event_at, bulk) SELECT 'msg_bench_backlog_' || :'run' || '_' || g, 'email:backlog@rtcx.bench', 'email', "
            "'backlog@rtcx.bench', 'digest.daily', :'payload'::jsonb, now(), :bulk FROM generate_series(1, :backlog) g"
        )
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"run={run}", "-v", f"payload={payload}",
                        "-v", f"backlog={BACKLOG}", "-v", f"bulk={str(BULK).lower()}", os.environ["RTCX_POSTGRES_URL"]], input=sql, text=True, check=True)
        print(f"queued {BACKLOG} {'bulk' if BULK else 'plain'} mails to backlog@rtcx.bench")

    def collect():
        for name in os.listdir(maildir):
            if name in seen:
                continue
            path = os.path.join(maildir, name)
            try:
                with open(path, "rb") as f:
                    msg = email.message_from_binary_file(f, policy=email.policy.default)
                mtime = os.stat(path).st_mtime
            except OSError:
                continue
            seen.add(name)
            subject, to = str(msg["subject"] or ""), str(msg["to"] or "")
            for title in sent:
                if title in subject and address in to:
                    arrived.setdefault(title, mtime)

    for i in range(N):
        title = f"mail latency bench {run} #{i}"
        api("POST", "/v1/alerts", token, {"alert_type": "SYSTEM_ANOMALY", "severity": "HIGH", "title": title})
        sent[title] = time.time()
        time.sleep(0.5)
        collect()
    deadline = time.time() + 120
    while len(arrived) < N and time.time() < deadline:
        time.sleep(0.1)
        collect()
    lat = sorted((arrived[t] - sent[t]) * 1000 for t in sent if t in arrived)
    if len(lat) < N:
        sys.exit(f"only {len(lat)} of {N} alert mails reached {address} within 120 s")
    p95 = lat[max(0, int(round(0.95 * len(lat))) - 1)]
    pending = ""
    if BACKLOG:
        left = subprocess.run(["psql", "-qtA", os.environ["RTCX_POSTGRES_URL"], "-c",
                               f"SELECT count(*) FROM notification_deliveries WHERE message_id LIKE 'msg_bench_backlog_{run}_%' "
                               "AND status = 'pending'"], capture_output=True, text=True, check=True).stdout.strip()
        pending = f" (backlog mails still pending at the end: {left} of {BACKLOG})"
    print(f"{N} alerts → mail to {address}: p50 {statistics.median(lat):.0f} ms, p95 {p95:.0f} ms, max {lat[-1]:.0f} ms{pending}")


if __name__ == "__main__":
    main()
