"""Strict validation of what clients send: JSON bodies (unknown fields refused, so no
client chooses a namespace, owner, status, image or quota), query parameters, path ids,
cursors and the `Idempotency-Key` header. Every refusal is an `ApiError` naming the field.

Called by the route modules. Pure apart from reading the request body.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from services.gateway.errors import ApiError, not_found, unprocessable
from services.gateway.rules import (
    NAME_MAX,
    NAME_MIN,
    BackupSource,
    SlugError,
    StoreRequest,
    clone_engine,
    reads_as_option,
    slugify,
)
from services.gateway.settings import GatewaySettings

M = TypeVar("M", bound=BaseModel)
PAGE_DEFAULT = 50
PAGE_MAX = 100
QUEUE_DEFAULT = 100  # the certificate queue's page (admins)
QUEUE_MAX = 500
TOKEN_DAYS_DEFAULT = 90
TOKEN_DAYS_MAX = 365
_PRINTABLE = frozenset(chr(c) for c in range(0x21, 0x7F))


def _canonical_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("must be a UUID") from None


# An id in a body: any spelling of a UUID, kept in its canonical lower-case form.
UuidText = Annotated[
    str,
    AfterValidator(_canonical_uuid),
    WithJsonSchema({"type": "string", "format": "uuid"}),
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # Postgres text cannot hold NUL; refuse it here rather than fail there.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class CreateStoreBody(Body):
    name: str = Field(
        min_length=NAME_MIN, max_length=NAME_MAX, description="display name, 3-40 characters"
    )
    engine: str | None = Field(None, description="engine key; the default when absent")
    plan: str | None = Field(None, description="plan key; the default when absent")
    engine_version: str | None = Field(
        None,
        min_length=1,
        max_length=41,
        description="one of the engine's versions (the catalog lists them); its default when"
        " absent. A clone runs the default",
    )
    from_backup: UuidText | None = Field(
        None,
        description="a clone: the id of a verified backup of a store you may see, deleted"
        " or not; the engine is the backup's",
    )


class RestoreBody(Body):
    backup_id: UuidText = Field(description="a verified backup of this store")


class ChangeStoreBody(Body):
    plan: str = Field(min_length=1, max_length=64, description="the plan to move the store to")


def known_plan(plan: str, settings: GatewaySettings) -> str:
    """`plan` if the catalog offers it; 422 `unknown_plan` naming the field otherwise."""
    if plan not in settings.plans:
        offered = ", ".join(sorted(settings.plans))
        raise unprocessable("plan", f"unknown plan {plan!r}; offered: {offered}", "unknown_plan")
    return plan


class SuspendBody(Body):
    reason: str = Field(
        "",
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="why, for the owner to read (one line); an administrator's usually",
    )


class AddDomainBody(Body):
    domain: str = Field(
        min_length=1,
        max_length=1000,
        description="a domain you hold, e.g. shop.example.org; an IDN is stored as punycode",
    )


class LoginBody(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class CreateTokenBody(Body):
    name: str = Field(min_length=1, max_length=64, description="what the token is for")
    scope: Literal["read", "full"] = Field(
        "full", description="`read`: GET requests only; `full`: whatever its user may do"
    )
    expires_in_days: int = Field(
        TOKEN_DAYS_DEFAULT,
        ge=1,
        le=TOKEN_DAYS_MAX,
        description=f"days until the token stops working, at most {TOKEN_DAYS_MAX}",
    )


class PrimaryDomainBody(Body):
    domain_id: UuidText = Field(description="an active domain of this store (its `id`)")


async def read_body(request: web.Request, model: type[M]) -> M:
    """The JSON body as `model`: 415 if not JSON, 400 if malformed, 422 if invalid."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = await request.read()
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise unprocessable("body", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc) from None


def _first_error(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    if first["type"] == "extra_forbidden":
        return unprocessable(field, f"unknown field {field!r}", "unknown_field")
    if first["type"] == "missing":
        return unprocessable(field, f"{field} is required", "required")
    return unprocessable(field, f"{field}: {first['msg']}")


def store_request(
    body: CreateStoreBody, settings: GatewaySettings, source: BackupSource | None = None
) -> StoreRequest:
    """Check the name, engine and plan against the rules and the settings' catalog; a
    clone of `source` gets the backup's engine."""
    name = body.name.strip()
    if len(name) < NAME_MIN or any(not ch.isprintable() for ch in name):
        raise unprocessable("name", "the name must be 3-40 printable characters")
    if reads_as_option(name):
        raise ApiError(
            400,
            "name_starts_with_dash",
            "the name must not start with '-'; begin with a letter or digit",
            "name",
        )
    try:
        slug = slugify(name)
    except SlugError as exc:
        raise unprocessable("name", str(exc), exc.code) from None
    engine = _engine(body, settings, source)
    if engine not in settings.engines:
        offered = ", ".join(settings.engines)
        raise unprocessable(
            "engine", f"unknown engine {engine!r}; offered: {offered}", "unknown_engine"
        )
    plan = known_plan(body.plan if body.plan is not None else settings.default_plan, settings)
    return StoreRequest(name=name, slug=slug, engine=engine, plan=plan, from_backup=source)


def _engine(body: CreateStoreBody, settings: GatewaySettings, source: BackupSource | None) -> str:
    if source is None:
        return body.engine if body.engine is not None else settings.default_engine
    engine = clone_engine(source.engine, body.engine)
    if engine is None:
        raise unprocessable(
            "engine",
            f"the backup is of a {source.engine} store; a clone cannot change its engine",
            "engine_mismatch",
        )
    return engine


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 200 or not set(key) <= _PRINTABLE:
        raise unprocessable("Idempotency-Key", "must be 1-200 visible ASCII characters")
    return key


def path_id(request: web.Request, what: str = "store") -> uuid.UUID:
    """The `{id}` of the path; a malformed id is simply an unknown one (404)."""
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        raise not_found(what) from None


def query_uuid(request: web.Request, name: str) -> uuid.UUID | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise unprocessable(name, f"{name} must be a UUID") from None


def query_text(request: web.Request, name: str, max_length: int = 200) -> str | None:
    value = request.query.get(name)
    if value is not None and ("\x00" in value or len(value) > max_length):
        raise unprocessable(name, f"{name} must be at most {max_length} characters, without NUL")
    return value


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in choices:
        raise unprocessable(name, f"{name} must be one of {', '.join(choices)}")
    return value


def query_time(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise unprocessable(name, f"{name} must be an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise unprocessable(name, f"{name} needs a time zone offset, e.g. Z")
    return moment


def page_limit(request: web.Request, default: int = PAGE_DEFAULT, most: int = PAGE_MAX) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    # Length first: int() refuses thousands of digits with a ValueError.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= most:
        raise unprocessable("limit", f"limit must be an integer from 1 to {most}")
    return int(raw)


def encode_cursor(moment: datetime, key: str) -> str:
    raw = json.dumps([moment.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(request: web.Request) -> tuple[datetime, str] | None:
    """The position after which a page starts, from the opaque `cursor` parameter."""
    raw = request.query.get("cursor")
    if raw is None:
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)
        moment, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(key, str) or "\x00" in key:
            raise ValueError(key)
        return datetime.fromisoformat(moment), key
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API gave", "cursor") from None


class CreateRolloutBody(Body):
    engine: str = Field(min_length=1, max_length=64, description="the engine to upgrade")
    version: str = Field(
        min_length=1, max_length=41, description="the engine version to move its stores to"
    )
    waves: list[int | str] | None = Field(
        None,
        max_length=20,
        description="cumulative wave sizes, a count or a whole percentage of the stores"
        ' picked, the last "100%"; default [1, "5%", "25%", "100%"]',
    )
    max_concurrent: int = Field(5, ge=1, le=1000, description="upgrades in flight at once")
    failure_threshold: float = Field(
        0.0,
        ge=0,
        le=1,
        description="the share of a wave's upgrades that may roll back or fail (0 to 1);"
        " more stops the rollout; 0: any one stops it",
    )
    pause_seconds: int = Field(300, ge=0, le=604_800, description="the wait between waves")
