"""schemathesis hooks for scripts/fuzz-api.ts.

- The seeded connector whose source is on loopback is the only one a connection test ever runs on, and no
  call changes or deletes it (nor the one PATCH fuzzes): a connector the fuzz created or changed could name any host, and the fuzz
  sends nothing off this machine.
- The fuzz's own key is never revoked or rotated (ids found in listings reach DELETE and rotate in the stateful phase).
- Most webhook calls carry a valid timestamped signature of exactly the bytes sent, so the fuzz reaches the
  handler behind the signature check; the rest keep whatever headers were generated and test the check.
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
KEY_ID = os.environ["FUZZ_KEY_ID"]
CONNECTOR = os.environ["FUZZ_CONNECTOR"]
PATCHED = os.environ["FUZZ_PATCHED_CONNECTOR"]


@schemathesis.hook
def before_call(context, case, kwargs):
    path, method = case.operation.path, case.operation.method.upper()
    given = str((case.path_parameters or {}).get("id", ""))
    if path.endswith("/connectors/{id}/test") and is_uuid(given) and given != CONNECTOR:
        set_id(case, str(uuid.uuid4()))
    elif path.endswith("/connectors/{id}") and method == "PATCH" and same_uuid(given, CONNECTOR):
        set_id(case, PATCHED)
    elif path.endswith("/connectors/{id}") and method == "DELETE" and (same_uuid(given, CONNECTOR) or same_uuid(given, PATCHED)):
        set_id(case, str(uuid.uuid4()))
    elif (path.endswith("/auth/keys/{id}") or path.endswith("/auth/keys/{id}/rotate")) and same_uuid(given, KEY_ID):
        set_id(case, str(uuid.uuid4()))
    if path.startswith("/api/v1/webhooks/") and random.random() < 0.8:
        sign(case)


def is_uuid(value):
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


def same_uuid(value, wanted):
    return is_uuid(value) and uuid.UUID(value) == uuid.UUID(wanted)


def set_id(case, value):
    case.path_parameters = {**case.path_parameters, "id": value}


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
