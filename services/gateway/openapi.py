"""The OpenAPI 3.1 document of `/api/v1`, built from the response types in `views` and
the request models in `validation`, and the table of operations in `openapi_routes`.

The built document is kept in the repo as `services/gateway/openapi.json` and served
from that file at `/api/v1/openapi.json`; tests fail when the file, the built document
and the app's routes disagree. Regenerate with
`python -m services.gateway openapi > services/gateway/openapi.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from services.gateway import validation, views, webhook_validation
from services.gateway.openapi_routes import JSON, OPERATIONS, Operation
from services.gateway.security import session_cookie
from shared.lifecycle import STATUSES

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
REF = "#/components/schemas/{model}"


def _param(
    name: str, where: str, schema: dict[str, Any], text: str, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": text,
        "schema": schema,
    }


UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
PARAMETERS: dict[str, dict[str, Any]] = {
    "StoreId": _param("id", "path", UUID, "the store's id"),
    "TokenId": _param("id", "path", UUID, "the token's id"),
    "RolloutId": _param("id", "path", UUID, "the rollout's id"),
    "DomainName": _param(
        "domain", "path", {"type": "string", "maxLength": 1000}, "the domain, as added or listed"
    ),
    "WebhookId": _param("id", "path", UUID, "the webhook endpoint's id"),
    "IdempotencyKey": _param(
        "Idempotency-Key",
        "header",
        {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
        "the same key from the same user gives back the same store (or backup)",
    ),
    "Owner": _param("owner", "query", UUID, "only this owner's stores (admins)"),
    "IncludeDeleted": _param(
        "include_deleted",
        "query",
        {"type": "string", "enum": ["true", "false"]},
        "also list backups that retention or the store's deletion removed",
    ),
    "Status": _param(
        "status",
        "query",
        {"type": "string", "enum": list(STATUSES)},
        "only stores in this status; deleted ones only when asked",
    ),
    "Limit": _param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": validation.PAGE_MAX},
        "page size, default 50",
    ),
    "QueueLimit": _param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": validation.QUEUE_MAX},
        f"at most this many rows, default {validation.QUEUE_DEFAULT}",
    ),
    "Cursor": _param("cursor", "query", {"type": "string"}, "next_cursor of the previous page"),
    "Next": _param(
        "next", "query", {"type": "string"}, "a path of this site to land on after sign-in"
    ),
    "OidcCode": _param("code", "query", {"type": "string"}, "the provider's authorization code"),
    "OidcState": _param("state", "query", {"type": "string"}, "the state sent to the provider"),
    "AuditStore": _param("store_id", "query", UUID, "only this store"),
    "Actor": _param("actor", "query", {"type": "string"}, "user id or service name"),
    "Type": _param("type", "query", {"type": "string"}, "event type, or credentials_viewed"),
    "Since": _param("since", "query", TIME, "at or after this time"),
    "Until": _param("until", "query", TIME, "before this time"),
    "StreamStore": _param("store_id", "query", UUID, "only this store's events"),
    "LastEventIdHeader": _param(
        "Last-Event-ID",
        "header",
        {"type": "string", "pattern": "^[0-9]+$"},
        "resume after this event (set by EventSource)",
    ),
    "LastEventIdQuery": _param(
        "last_event_id",
        "query",
        {"type": "string", "pattern": "^[0-9]+$"},
        "the same, for clients that cannot set headers",
    ),
}
_RATE_HEADERS = {
    name: {"description": text, "schema": {"type": "integer"}}
    for name, text in (
        ("Retry-After", "seconds to wait"),
        ("RateLimit-Limit", "requests allowed in the window"),
        ("RateLimit-Remaining", "requests left in the window"),
        ("RateLimit-Reset", "seconds until the window frees a request"),
    )
}


def _schemas() -> tuple[dict[type, dict[str, Any]], dict[str, Any]]:
    types = {views.ErrorBody}
    for op in OPERATIONS:
        types |= {t for t in (op.response, op.body) if t not in (None, str, dict)}  # type: ignore[misc]
    ordered: list[type] = sorted(types, key=lambda t: t.__name__)
    keyed, top = TypeAdapter.json_schemas(
        [(t, "validation" if t in _BODIES else "serialization", TypeAdapter(t)) for t in ordered],
        ref_template=REF,
    )
    return {t: schema for (t, _), schema in keyed.items()}, top.get("$defs", {})


_BODIES: tuple[type, ...] = (
    validation.LoginBody,
    validation.CreateTokenBody,
    validation.CreateStoreBody,
    validation.RestoreBody,
    validation.CreateRolloutBody,
    webhook_validation.CreateWebhookBody,
    webhook_validation.RedeliverBody,
)


def _content(schema: dict[str, Any], media: str = JSON) -> dict[str, Any]:
    return {media: {"schema": schema}}


def _operation(op: Operation, refs: dict[type, dict[str, Any]]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    ok: dict[str, Any] = {"description": op.summary}
    if op.response is str:
        ok["content"] = _content({"type": "string"}, op.media)
    elif op.response is dict:
        ok["content"] = _content({"type": "object"})
    elif op.response is not None:
        ok["content"] = _content(refs[op.response])
    responses[str(op.status)] = ok
    for status in op.errors:
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    spec: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "responses": responses,
    }
    if op.parameters:
        spec["parameters"] = [{"$ref": f"#/components/parameters/{p}"} for p in op.parameters]
    if op.body is not None:
        spec["requestBody"] = {"required": op.body_required, "content": _content(refs[op.body])}
    if op.public:
        spec["security"] = []
    return spec


def _error_responses(error: dict[str, Any]) -> dict[str, Any]:
    statuses = sorted({s for op in OPERATIONS for s in op.errors})
    responses: dict[str, Any] = {"Error": {"description": "an error", "content": _content(error)}}
    for status in statuses:
        entry: dict[str, Any] = {"description": f"error {status}", "content": _content(error)}
        if status in (429, 503):
            entry["headers"] = (
                _RATE_HEADERS if status == 429 else {"Retry-After": _RATE_HEADERS["Retry-After"]}
            )
        responses[f"Error{status}"] = entry
    return responses


def build_document() -> dict[str, Any]:
    refs, defs = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "storefleet gateway",
            "version": "1.0.0",
            "description": "Provision and manage online stores. Errors are always "
            '`{"error": {"code", "message", "field"?}}`.',
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "parameters": PARAMETERS,
            "responses": _error_responses(refs[views.ErrorBody]),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token from POST /tokens; a `read` token may only"
                    " GET, an expired one gets 401",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": session_cookie(secure=True),
                    "description": "set by POST /auth/login; named"
                    f" `{session_cookie(secure=False)}` when the gateway serves plain HTTP"
                    " (cookie_secure=false)",
                },
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
