"""Secrets and the decisions around them: argon2id password hashes, random passwords,
API tokens and session ids (stored only as SHA-256 digests), the session cookie's name,
and whether a request's Origin may use the session cookie.

No network or database I/O. Called by `auth` (every request), `routes_auth` (login,
tokens), `hashing` (login's bounded verifier) and `cli` (new users). Hashing and
verifying are CPU- and memory-heavy on purpose (`HASH_MEMORY_MIB` each); the event loop
reaches them only through `hashing.PasswordHashing`, which bounds how many run at once.
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "sf_"
SESSION_COOKIE = "storefleet_session"
# Browsers take a `__Host-` cookie only when Secure, with Path=/ and no Domain, so no
# sibling host (a store on another subdomain of the site) can set or shadow it.
HOST_PREFIX = "__Host-"
# argon2-cffi's defaults are argon2id with RFC 9106's low-memory parameters.
_HASHER = PasswordHasher()
HASH_MEMORY_MIB = _HASHER.memory_cost // 1024  # what one hash or verification allocates
# Verified when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def session_cookie(secure: bool) -> str:
    """The session cookie's name: `__Host-` prefixed when Secure (browsers refuse the
    prefix on a cookie that is not), the bare name for plain-HTTP development."""
    return HOST_PREFIX + SESSION_COOKIE if secure else SESSION_COOKIE


def new_password() -> str:
    return secrets.token_urlsafe(18)


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """How tokens and session ids are stored: a random secret needs no slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def origin_allowed(origin: str | None, host: str, allowed: list[str]) -> bool:
    """Whether a browser request from `origin` may act with this site's cookie.

    Same host (as the browser addressed us) or one of the operator's `allowed` origins.
    A missing origin is refused: browsers send one with every cross-site POST/DELETE.
    """
    if not origin or origin == "null":
        return False
    if origin.rstrip("/") in {a.rstrip("/") for a in allowed}:
        return True
    return urlsplit(origin).netloc.lower() == host.lower()


def request_origin(origin: str | None, referer: str | None) -> str | None:
    """The Origin header, or the origin of the Referer when a browser left Origin out."""
    if origin:
        return origin
    if referer:
        parts = urlsplit(referer)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None
