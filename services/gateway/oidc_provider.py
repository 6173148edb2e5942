"""The OpenID Connect provider as the gateway reaches it over HTTP: its discovery document
and signing keys (fetched once, then cached; the keys fetched again when a token names a
key we do not have, at most every `KEYS_MIN_INTERVAL`), and the code exchange at its
token endpoint (PKCE verifier, client secret by HTTP Basic).

`app.build_app` makes one `OidcProvider` when single sign-on is on, stores it under
`PROVIDER_KEY` and opens its HTTP session in a cleanup context; `routes_sso` calls it.
Failures raise `ProviderError` with a reason that names no secret: never the code, the
client secret or a token, nor the provider's answer body.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
from aiohttp import web

from services.gateway.settings import GatewaySettings

TIMEOUT = aiohttp.ClientTimeout(total=10)
METADATA_TTL = 3600.0
KEYS_MIN_INTERVAL = 30.0


class ProviderError(Exception):
    """The provider could not be reached, or answered what we cannot use."""


@dataclass(frozen=True)
class Metadata:
    """What we use of the discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


class OidcProvider:
    """The provider of `settings.oidc_issuer`, through one HTTP session."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._settings = settings
        self._client: aiohttp.ClientSession | None = None
        self._metadata: tuple[float, Metadata] | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._keys_at = -KEYS_MIN_INTERVAL

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[None]:
        """The HTTP session the provider is reached through, for the app's lifetime."""
        async with aiohttp.ClientSession(timeout=TIMEOUT) as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    @property
    def _session(self) -> aiohttp.ClientSession:
        if self._client is None:
            raise ProviderError("the provider's HTTP session is not open")
        return self._client

    async def metadata(self) -> Metadata:
        if self._metadata is None or self._metadata[0] < time.monotonic():
            found = _metadata(await self._get_json(self._discovery_url()))
            # The document must be the issuer's own (OpenID Connect Discovery, 4.3).
            if found.issuer != self._settings.oidc_issuer:
                raise ProviderError("the discovery document names another issuer")
            self._metadata = (time.monotonic() + METADATA_TTL, found)
        return self._metadata[1]

    async def keys(self, kid: str | None = None) -> jwt.PyJWKSet:
        """The signing keys; fetched again when `kid` is not among them (key rotation)."""
        known = self._keys is not None and (kid is None or _has(self._keys, kid))
        if self._keys is not None and (
            known or time.monotonic() - self._keys_at < KEYS_MIN_INTERVAL
        ):
            return self._keys
        document = await self._get_json((await self.metadata()).jwks_uri)
        try:
            self._keys = jwt.PyJWKSet.from_dict(document)
        except jwt.PyJWTError:
            raise ProviderError("the provider's key set holds no usable key") from None
        self._keys_at = time.monotonic()
        return self._keys

    async def exchange(self, code: str, verifier: str) -> str:
        """The ID token for an authorization code (RFC 6749 4.1.3, RFC 7636 4.5)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self._settings.oidc_redirect_url,
            "code_verifier": verifier,
        }
        endpoint = (await self.metadata()).token_endpoint
        try:
            async with self._session.post(endpoint, data=form, headers=self._client_auth()) as resp:
                if resp.status != 200:
                    raise ProviderError(f"the token endpoint answered {resp.status}")
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(f"token endpoint unreachable: {type(exc).__name__}") from None
        token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise ProviderError("the token endpoint's answer holds no ID token")
        return token

    def _client_auth(self) -> dict[str, str]:
        secret = self._settings.oidc_client_secret
        if secret is None:
            return {}
        # client_secret_basic: both parts form-urlencoded first (RFC 6749 2.3.1).
        client = quote(self._settings.oidc_client_id, safe="")
        basic = aiohttp.encode_basic_auth(client, quote(secret.get_secret_value(), safe=""))
        return {"Authorization": basic}

    def _discovery_url(self) -> str:
        return self._settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._session.get(url) as resp:
                if resp.status != 200:
                    raise ProviderError(f"{url} answered {resp.status}")
                found = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(f"{url} unreachable: {type(exc).__name__}") from None
        if not isinstance(found, dict):
            raise ProviderError(f"{url} answered no JSON object")
        return found


def _has(keys: jwt.PyJWKSet, kid: str) -> bool:
    return any(key.key_id == kid for key in keys.keys)


def _metadata(document: dict[str, Any]) -> Metadata:
    try:
        found = Metadata(
            issuer=document["issuer"],
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            end_session_endpoint=document.get("end_session_endpoint"),
        )
    except KeyError as exc:
        raise ProviderError(f"the discovery document lacks {exc.args[0]}") from None
    return found


PROVIDER_KEY = web.AppKey("oidc_provider", OidcProvider)
