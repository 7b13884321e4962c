"""schemathesis hooks for scripts/fuzz-api.ts.

- Most webhook calls carry a valid signature of exactly the bytes sent, so the fuzz reaches the handler
  behind the signature check; the rest keep whatever headers were generated and test the check itself.
- A connection test only ever runs on the seeded connector, whose source is on loopback: a connector the
  fuzz created or changed could name any host, and the fuzz sends nothing off this machine.
"""
import hashlib
import hmac
import json
import os
import random
import time
import uuid

import schemathesis

SECRET = os.environ["WEBHOOK_SECRET"].encode()
TESTED_CONNECTOR = os.environ["FUZZ_TESTED_CONNECTOR"]


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    if path.endswith("/connectors/{id}/test"):
        given = (case.path_parameters or {}).get("id")
        if is_uuid(given) and given != TESTED_CONNECTOR:
            case.path_parameters = {**case.path_parameters, "id": str(uuid.uuid4())}
    if path.startswith("/api/v1/webhooks/") and random.random() < 0.8:
        sign(case)


def is_uuid(value):
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def sign(case):
    if isinstance(case.body, bytes):
        raw = case.body
    else:
        try:
            raw = json.dumps(case.body, allow_nan=False).encode()
        except (TypeError, ValueError):
            return
    case.body = raw
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET, timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    case.headers = {**(case.headers or {}), "X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": "sha256=" + digest}
