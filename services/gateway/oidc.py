"""Single sign-on's decisions, without I/O: whether an ID token is one we asked for
(`check_id_token`), the PKCE challenge, which `next` paths may be followed after sign-in,
and what a provider's claims make of a user (name, admin or not).

Called by `routes_sso` (the login redirect and the callback) with keys and answers
`oidc_provider` fetched. A refused token raises `TokenRefused` with a short reason
(`audience`, `nonce`, `expired`, `signature`, ...) that may be logged: it never carries
the token or its claims.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

# Asymmetric only: `none` or HS256 would let whoever holds the public key sign tokens.
ALLOWED_ALGORITHMS = ("RS256", "ES256")
USERNAME_MAX = 64
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._@+-]+")


class TokenRefused(Exception):
    """The ID token is not one to sign in with; `reason` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Expectation:
    """What the ID token must say: who issued it, for whom, and the sign-in's nonce."""

    issuer: str
    client_id: str
    nonce: str
    skew_seconds: int


def key_id(token: str) -> str | None:
    """The `kid` in the token's header (None when absent or unreadable)."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.DecodeError:
        return None
    return kid if isinstance(kid, str) else None


def check_id_token(
    token: str, keys: jwt.PyJWKSet, expect: Expectation, now: float
) -> dict[str, Any]:
    """The token's claims, once its signature, issuer, audience, times (at `now`, within
    the skew) and nonce all hold; `TokenRefused` naming the first that does not."""
    key = _signing_key(token, keys)
    claims = _verified_claims(token, key, expect)
    _check_audience(claims, expect.client_id)
    _check_times(claims, now, expect.skew_seconds)
    if claims.get("nonce") != expect.nonce:
        raise TokenRefused("nonce")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenRefused("malformed")
    return claims


def _signing_key(token: str, keys: jwt.PyJWKSet) -> jwt.PyJWK:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise TokenRefused("malformed") from None
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise TokenRefused("algorithm")
    kid = header.get("kid")
    matching = [k for k in keys.keys if kid is None or k.key_id == kid]
    if not matching:
        raise TokenRefused("unknown_key")
    if matching[0].algorithm_name != header["alg"]:
        raise TokenRefused("algorithm")
    return matching[0]


def _verified_claims(token: str, key: jwt.PyJWK, expect: Expectation) -> dict[str, Any]:
    # Times are checked by `_check_times` against the caller's clock, not PyJWT's.
    options: Any = {
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "verify_aud": False,
        "require": ["iss", "sub", "aud", "exp", "iat"],
    }
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=list(ALLOWED_ALGORITHMS), issuer=expect.issuer, options=options
        )
    except jwt.InvalidSignatureError:
        raise TokenRefused("signature") from None
    except jwt.InvalidAlgorithmError:
        raise TokenRefused("algorithm") from None
    except jwt.InvalidIssuerError:
        raise TokenRefused("issuer") from None
    except jwt.PyJWTError:
        raise TokenRefused("malformed") from None
    return claims


def _check_audience(claims: Mapping[str, Any], client_id: str) -> None:
    audience = claims["aud"]
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise TokenRefused("audience")
    # With other audiences beside ours, the token must have been issued to us (azp).
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise TokenRefused("audience")


def _check_times(claims: Mapping[str, Any], now: float, skew: int) -> None:
    for name in ("exp", "iat", "nbf"):
        if name in claims and not isinstance(claims[name], int | float):
            raise TokenRefused("malformed")
    if now > claims["exp"] + skew:
        raise TokenRefused("expired")
    if claims["iat"] > now + skew or claims.get("nbf", 0) > now + skew:
        raise TokenRefused("not_yet_valid")


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of `verifier` (RFC 7636)."""
    hashed = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode("ascii")


def safe_next(path: str | None) -> str:
    """Where to land after sign-in: a path of this site, else `/`. Never another host:
    no scheme, no `//host`, no backslash (browsers read `/\\host` as `//host`)."""
    if not path or not path.startswith("/") or path.startswith("//"):
        return "/"
    if "\\" in path or any(ord(c) < 0x20 or c == "\x7f" for c in path) or len(path) > 2048:
        return "/"
    return path


def is_admin(claims: Mapping[str, Any], claim: str, values: Sequence[str]) -> bool:
    """Whether the claim (a string, or a list such as groups) holds one of `values`."""
    if not claim:
        return False
    held = claims.get(claim)
    found = [held] if isinstance(held, str) else held if isinstance(held, list) else []
    return any(isinstance(v, str) and v in values for v in found)


def username_from(claims: Mapping[str, Any], claim: str) -> str:
    """A new user's name: the configured claim, else the email, else the subject; only
    characters a username may hold, at most `USERNAME_MAX` (room left for a suffix)."""
    for name in (claim, "email", "sub"):
        value = claims.get(name)
        if isinstance(value, str):
            cleaned = _NAME_CHARS.sub("-", value).strip("-")[: USERNAME_MAX - 8]
            if cleaned:
                return cleaned
    return "sso-user"
