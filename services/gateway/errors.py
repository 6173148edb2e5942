"""The gateway's error boundary: `ApiError` is what handlers raise, and `error_middleware`
turns it, aiohttp's own HTTP errors and anything unexpected into the one error body every
client sees, `{"error": {"code", "message", "field"?}}`, with the right status.

The middleware also gives each request its correlation id (`X-Request-ID`, echoed back
and bound to log lines) and counts requests for `/metrics`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import prometheus_client
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from services.gateway.views import encode
from shared.logs import bound

log = structlog.get_logger(__name__)

CORRELATION_KEY = web.RequestKey("correlation_id", str)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

REQUESTS = prometheus_client.Histogram(
    "storefleet_gateway_request_seconds",
    "HTTP requests served by the gateway, by route, method and status",
    ["route", "method", "status"],
)

# aiohttp's HTTP errors reach clients with these codes.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


class ApiError(Exception):
    """A refusal a client can act on: status, machine code, message, optional field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def not_found(what: str = "store") -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


def unprocessable(field: str, message: str, code: str = "invalid") -> ApiError:
    return ApiError(422, code, message, field)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return {"error": detail}


def json_reply(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=encode(body), status=status, headers=headers, content_type="application/json"
    )


def error_response(exc: ApiError) -> web.Response:
    body = error_body(exc.code, exc.message, exc.field)
    return json_reply(body, status=exc.status, headers=exc.headers)


def correlation_id(request: web.Request) -> str:
    return request[CORRELATION_KEY]


def _from_http(exc: web.HTTPException) -> ApiError:
    code = _HTTP_CODES.get(exc.status, "error")
    message = exc.reason if exc.status != 413 else "the request body is larger than 16 KiB"
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return ApiError(exc.status, code, message, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-ID", "")
    request[CORRELATION_KEY] = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
    started = time.perf_counter()
    with bound(correlation_id=request[CORRELATION_KEY]):
        response = await _answer(request, handler)
    if not response.prepared:
        response.headers["X-Request-ID"] = request[CORRELATION_KEY]
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    REQUESTS.labels(name, request.method, str(response.status)).observe(
        time.perf_counter() - started
    )
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http(exc))
    except Exception as exc:
        if database_unavailable(exc):
            log.warning("database unavailable", path=request.path, error=type(exc).__name__)
            return error_response(
                ApiError(
                    503,
                    "database_unavailable",
                    "the database is briefly unavailable; retry shortly",
                    headers={"Retry-After": "2"},
                )
            )
        log.exception("request failed", path=request.path, method=request.method)
        return error_response(ApiError(500, "internal", "something went wrong on our side"))


def database_unavailable(exc: BaseException) -> bool:
    """Postgres restarting, shutting down or out of reach (a 503 to retry), as opposed to
    a defect of ours (a 500): what asyncpg raises on a refused connection, on one the
    server closed under a query, or while the server says it cannot take connections."""
    if isinstance(
        exc,
        asyncpg.OperatorInterventionError  # shutting down, or starting and not ready
        | asyncpg.PostgresConnectionError  # the connection closed or failed mid-query
        | asyncpg.exceptions.InternalClientError  # a pooled connection the restart killed
        | ConnectionError,  # refused or reset before Postgres said anything
    ):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)
