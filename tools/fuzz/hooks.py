"""Schemathesis hooks for the API fuzz (tools/fuzz/fuzz.ts loads this file through SCHEMATHESIS_HOOKS).

The published document states every rule JSON Schema can state. Two rules span fields and are described in the
operations' text instead, so generated positive cases are made to keep them here; negative cases are left alone:
- an order's or a refund's ID comes in the Idempotency-Key header or in the body, and when both are sent they match;
- an order's total (the sum of quantity x unitPriceCents) is at most MAX_ORDER_TOTAL_CENTS.
Every answer's status is also appended to FUZZ_RESULTS, one JSON line per call, so the runner can count what the
server accepted.
"""

import hashlib
import json
import os
import threading

import schemathesis

MAX_ORDER_TOTAL_CENTS = int(os.environ["FUZZ_MAX_ORDER_TOTAL_CENTS"])
RESULTS = os.environ["FUZZ_RESULTS"]
_lock = threading.Lock()

# Operations whose ID may come from the header or the body, and the body field that carries it.
ID_FIELDS = {("POST", "/orders"): "messageId", ("POST", "/orders/{orderId}/refunds"): "refundId"}


def _is_positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _derived_id(body) -> str:
    """A valid ID that is a function of the body, so the same body sent again is the same message."""
    return "fuzz-" + hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _keep_id_rule(case, field: str) -> None:
    headers = case.headers if case.headers is not None else {}
    key = next((k for k in headers if k.lower() == "idempotency-key"), None)
    body = case.body
    in_body = body.get(field) if isinstance(body, dict) else None
    if key is not None and in_body is not None and headers[key] != in_body:
        del body[field]
    elif key is None and in_body is None:
        headers["Idempotency-Key"] = _derived_id(body)
        case.headers = headers


def _keep_total_rule(body) -> None:
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return
    if not all(isinstance(i, dict) and type(i.get("quantity")) is int and type(i.get("unitPriceCents")) is int for i in items):
        return
    if sum(i["quantity"] * i["unitPriceCents"] for i in items) <= MAX_ORDER_TOTAL_CENTS:
        return
    share = MAX_ORDER_TOTAL_CENTS // len(items)
    for item in items:
        item["unitPriceCents"] = min(item["unitPriceCents"], share // max(item["quantity"], 1))


@schemathesis.hook
def before_call(context, case, **kwargs):
    # Here rather than in map_case: every phase's cases pass through it, the coverage phase's included.
    field = ID_FIELDS.get((case.method.upper(), case.path))
    if field is None or not _is_positive(case) or not isinstance(case.body, dict):
        return
    _keep_id_rule(case, field)
    if field == "messageId":
        _keep_total_rule(case.body)


@schemathesis.hook
def after_call(context, case, response):
    line = json.dumps({"method": case.method.upper(), "path": case.path, "status": response.status_code})
    with _lock, open(RESULTS, "a", encoding="utf-8") as out:
        out.write(line + "\n")
