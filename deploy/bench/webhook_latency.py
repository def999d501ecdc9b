#!/usr/bin/env python3
"""Alert → webhook latency through the running stack (standard library only).

Starts an HTTP receiver on loopback, registers it as a webhook through the query API (as the
demo admin), raises N alerts by hand (POST /v1/alerts: outbox → the processors' relay →
rtcx.alerts.v1 → rtcx-notifier → its delivery queue → the receiver), and reports the time from
each API answer to the signed delivery's arrival. Every delivery's signature is checked.

Needs `RTCX_WEBHOOK_ALLOW_PRIVATE_TARGETS=true deploy/dev.sh up` (the receiver is on loopback).
Usage: deploy/bench/webhook_latency.py [N] (default 50; one alert every 200 ms).
"""

import base64
import hashlib
import hmac
import http.server
import json
import statistics
import sys
import threading
import time

from stack import api, demo_admin, load_env

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50
ARRIVED: dict[str, float] = {}
BODIES: list[tuple[dict, bytes]] = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        now = time.monotonic()
        BODIES.append(({k.lower(): v for k, v in self.headers.items()}, body))
        title = json.loads(body)["data"]["title"]
        ARRIVED.setdefault(title, now)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_):
        pass


def main():
    load_env()
    email, token = demo_admin()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    hook = api("POST", "/v1/webhooks", token, {"name": "latency bench", "url": url, "event_types": ["alert.created"]})
    sent: dict[str, float] = {}
    try:
        run = int(time.time())
        for i in range(N):
            title = f"webhook latency bench {run} #{i}"
            api("POST", "/v1/alerts", token, {"alert_type": "SYSTEM_ANOMALY", "severity": "LOW", "title": title})
            sent[title] = time.monotonic()
            time.sleep(0.2)
        deadline = time.monotonic() + 60
        while len([t for t in sent if t in ARRIVED]) < N and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        api("DELETE", f"/v1/webhooks/{hook['id']}", token)
        server.shutdown()
    key = base64.b64decode(hook["secret"].removeprefix("whsec_"))
    for headers, body in BODIES:
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        assert headers["webhook-signature"] == f"v1,{want}", "a delivery's signature does not verify"
    lat = sorted((ARRIVED[t] - sent[t]) * 1000 for t in sent if t in ARRIVED)
    if len(lat) < N:
        sys.exit(f"only {len(lat)} of {N} alerts reached the webhook within 60 s")
    p95 = lat[max(0, int(round(0.95 * len(lat))) - 1)]
    print(f"{N} alerts → webhook (signatures verified): p50 {statistics.median(lat):.0f} ms, "
          f"p95 {p95:.0f} ms, max {lat[-1]:.0f} ms, {len(BODIES)} requests")


if __name__ == "__main__":
    main()
