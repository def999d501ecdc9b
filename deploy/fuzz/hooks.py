"""Schemathesis hooks for rtcx's fuzzing campaign (deploy/fuzz.sh).

JSON Schema cannot state rules relative to the clock or between two fields. Where the
server has such a rule, `before_call` keeps *schema-valid* generated values inside it (in
every phase), so that "valid request rejected" still means a real defect. It never touches a
value that is already invalid by the schema (that would turn a negative case into a positive
one). Each rule is stated in the operation's description and tested in Rust:

- ingest `occurred_at`: at most 5 minutes in the future and not before 2000-01-01;
- ingest `Idempotency-Key` header: equal to the body's `idempotency_key` when both are sent;
- query-api time ranges: `range` or `from`/`to`, not both; `from` before `to`, `to` only with
  `from`; at most 400 days, between 2000-01-01 and 2100-01-01; hourly trend buckets over at
  most 31 days;
- query-api similar-feedback search: exactly one of `text` and `id`, no `cursor`;
- query-api topic reassignment body: `from`/`to` follow the time-range rules above (the
  document's `oneOf` already says "`days`, or `from` and `to`");
- query-api password policy: besides its length (in the document), at least three of
  lower-case, upper-case, digits and symbols.

`filter_failure` drops two kinds of report only: a batch or NDJSON request holding some
invalid items that was answered 202/503 with those items listed in `rejected` (a batch is not
a transaction, ingest's documented semantics: invalid items are refused one by one); and a
400 naming nothing but `cursor` (an opaque token: only one a previous page returned is valid).

`ast.parse` is serialised. CPython 3.11 keeps the AST converter's recursion depth in state
shared by all threads. Schemathesis runs two worker threads, and Hypothesis parses source
when it describes a lambda, so two parses at once can fail with "AST constructor recursion
depth mismatch". That is a Runtime Error of the tool, never an answer of the API. It stopped
campaigns twice here, once in CI, so a lock keeps it from happening at all (deploy/fuzz.sh
still reruns a campaign once if nothing but that error stopped it).
"""

import ast
import json
import re
import threading
from datetime import datetime, timedelta, timezone

import schemathesis

_AST_LOCK = threading.Lock()
_AST_PARSE = ast.parse


def _serialised_parse(*args, **kwargs):
    with _AST_LOCK:
        return _AST_PARSE(*args, **kwargs)


ast.parse = _serialised_parse

NOW_SKEW = timedelta(minutes=4)
MAX_RANGE = timedelta(days=400)
HOURLY_MAX = timedelta(days=31)
PRESETS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
           "30d": timedelta(days=30), "90d": timedelta(days=90)}


def _parse(value):
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _clamp_event(event):
    if isinstance(event, dict):
        when = _parse(event.get("occurred_at"))
        now = datetime.now(timezone.utc)
        if when is not None and (when > now + NOW_SKEW or when.year < 2000):
            event["occurred_at"] = (now - timedelta(hours=1)).isoformat()
    return event


def _strong_password(value):
    if not isinstance(value, str) or not 12 <= len(value) <= 128:
        return value
    classes = [
        any(c.islower() for c in value),
        any(c.isupper() for c in value),
        any("0" <= c <= "9" for c in value),
        any(not c.isalnum() for c in value),
    ]
    return value if sum(classes) >= 3 else "Aa1!" + value[4:]


def _fix_range(query):
    if not isinstance(query, dict):
        return
    start, end = _parse(query.get("from")), _parse(query.get("to"))
    now = datetime.now(timezone.utc)
    # Explicit times lie between 2000-01-01 and 2100-01-01.
    if start is not None and not 2000 <= start.year < 2100:
        start = now - timedelta(days=1)
        query["from"] = start.isoformat()
    if end is not None and not 2000 <= end.year < 2100:
        end = now
        query["to"] = end.isoformat()
    if (start is not None or end is not None) and isinstance(query.get("range"), str) and query["range"] in PRESETS:
        del query["range"]
    if start is not None and end is not None:
        if not (start < end and end - start <= MAX_RANGE):
            query["from"], query["to"] = (now - timedelta(days=1)).isoformat(), now.isoformat()
    elif start is not None:
        if not (now - MAX_RANGE <= start < now):
            query["from"] = (now - timedelta(days=1)).isoformat()
    elif end is not None:
        query["from"] = (end - timedelta(days=1)).isoformat()
    # Whatever the steps above produced must itself be a valid range.
    start, end = _parse(query.get("from")), _parse(query.get("to"))
    if start is not None:
        end_or_now = end or now
        if not (2000 <= start.year and end_or_now.year < 2100 and start < end_or_now <= start + MAX_RANGE):
            query["from"] = (now - timedelta(days=1)).isoformat()
            if end is not None:
                query["to"] = now.isoformat()
    if query.get("interval") == "hour":
        start, end = _parse(query.get("from")), _parse(query.get("to")) or now
        span = (end - start) if start is not None else PRESETS.get(query.get("range") if isinstance(query.get("range"), str) else "24h", timedelta(0))
        if span > HOURLY_MAX:
            query["interval"] = "day"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    try:
        _adjust(case)
    except OverflowError:
        # A date at the edge of the calendar: a range the server refuses the same way.
        if isinstance(case.query, dict):
            now = datetime.now(timezone.utc)
            case.query["from"], case.query["to"] = (now - timedelta(days=1)).isoformat(), now.isoformat()


def _adjust(case):
    body = case.body
    if isinstance(body, list):
        for item in body:
            _clamp_event(item)
    elif isinstance(body, dict):
        _clamp_event(body)
        if case.operation.path != "/v1/auth/login":
            for key in ("password", "new_password"):
                if key in body:
                    body[key] = _strong_password(body[key])
        headers = case.headers or {}
        key = body.get("idempotency_key")
        for name in list(headers):
            if name.lower() == "idempotency-key" and isinstance(key, str) and headers[name] != key:
                if re.fullmatch(r"[!-~]{1,256}", key):
                    headers[name] = key
                else:
                    del body["idempotency_key"]
    _fix_range(case.query)
    if case.operation.path == "/v1/topic-reassignments" and isinstance(body, dict):
        # Only a schema-valid range (`from` a time, no `days`, nothing unknown) is adjusted.
        if body.get("days") is None and _parse(body.get("from")) is not None and "range" not in body:
            _fix_range(body)
    if case.operation.path == "/v1/feedback/similar" and isinstance(case.query, dict):
        _fix_similar(case.query)


def _fix_similar(query):
    """Similar-feedback search: exactly one of `text` and `id`, and no `cursor` (one page); the
    document states `limit`'s own bounds (1..=50) for this operation."""
    if "text" in query and "id" in query:
        del query["id"]
    text = query.get("text")
    if ("text" not in query and "id" not in query) or (isinstance(text, str) and not text.strip()):
        query["text"] = "late delivery"
    query.pop("cursor", None)


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    try:
        answer = json.loads(response.content)
    except (ValueError, TypeError):
        return True
    if not isinstance(answer, dict):
        return True
    if failure.code == "ST201" and case.operation.path in ("/v1/feedback/batch", "/v1/feedback/ndjson"):
        # Kept only when nothing was refused: then an invalid item really got through.
        return not (response.status_code in (202, 503) and answer.get("rejected"))
    if failure.code == "ST202" and response.status_code == 400:
        # `cursor` is opaque: only what a previous page returned is a cursor. A webhook `url`
        # must also name a public host that the URL parser takes (the SSRF guard,
        # docs/notifications.md), which no JSON Schema pattern can say.
        details = (answer.get("error") or {}).get("details") or {}
        if isinstance(details, dict) and set(details) == {"url"} and case.operation.path.startswith("/v1/webhooks"):
            return False
        # A `time_zone` must be an IANA name the server's Postgres knows: a list no schema
        # carries (it changes with the tz database).
        if isinstance(details, dict) and set(details) == {"time_zone"} \
                and case.operation.path == "/v1/auth/me/notification-preferences":
            return False
        return not (isinstance(details, dict) and set(details) == {"cursor"})
    return True


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    """ingest's NDJSON body: the document describes it as the list of events; on the wire each
    event is one line. A value that is not a list (a negative case) goes out as one line
    holding a JSON array: never an event."""
    items = value if isinstance(value, list) else [[value]]
    return "\n".join(json.dumps(item, ensure_ascii=False) for item in items).encode("utf-8", "surrogatepass")
