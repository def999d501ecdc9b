"""What the Python benches share (standard library only): the running stack's environment
(`deploy/dev.sh env`), the query API, and the demo administrator's login."""

import json
import os
import subprocess
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_env():
    """Exports what `deploy/dev.sh env` prints into os.environ (without overriding)."""
    env = subprocess.run([f"{ROOT}/deploy/dev.sh", "env"], capture_output=True, text=True, check=True).stdout
    for line in env.splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line[7:].split("=", 1)
            os.environ.setdefault(k, v.strip("'\""))


def api(method, path, token=None, body=None):
    """One JSON request to the query API; its decoded answer (None when empty)."""
    base = f"http://127.0.0.1:{os.environ.get('RTCX_QUERY_API_PORT', '8081')}"
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def demo_admin():
    """(address, access token) of the demo administrator that `deploy/dev.sh up` created."""
    address = os.environ.get("RTCX_DEMO_ADMIN_EMAIL", "admin@rtcx.demo")
    state = os.environ.get("RTCX_STATE_DIR", "/var/lib/rtcx")
    with open(f"{state}/demo-admin-password") as f:
        password = f.read().strip()
    token = api("POST", "/v1/auth/login", body={"email": address, "password": password})["access_token"]
    return address, token
