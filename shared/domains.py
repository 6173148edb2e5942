"""Custom domains (issue 16): what a store's own domain may be, its states, and the DNS
record that proves the owner holds it.

The gateway normalises and refuses names with `normalise` before recording a request;
the reaper's verifier (`services.reaper.domains`) looks up `challenge_name(domain)` and
moves a domain between the states below. Migration 0014 keeps these values in its CHECK
constraints and its partial unique index on `CLAIMING` states.

Pure: no I/O imports.
"""

from __future__ import annotations

import encodings.idna
import ipaddress
import re
import secrets
import unicodedata
from enum import StrEnum


class DomainState(StrEnum):
    PENDING_DNS = "pending_dns"  # waiting for the TXT record
    VERIFIED = "verified"  # the TXT record holds this store's token
    ISSUING = "issuing"  # served; its certificate is being issued
    ACTIVE = "active"  # served with its certificate (or over HTTP when no issuer is set)
    FAILED = "failed"  # see FailReason
    REMOVED = "removed"  # the owner removed it, or the verifier unlinked it


class FailReason(StrEnum):
    DNS_MISSING = "dns_missing"
    EXPIRED = "expired"
    CHALLENGE_FAILED = "challenge_failed"
    RATE_LIMITED = "rate_limited"


class RemoveReason(StrEnum):
    OWNER = "owner"  # DELETE /stores/{id}/domains/{domain}
    DNS_MISSING = "dns_missing"  # a re-check found the TXT record gone
    STORE_DELETED = "store_deleted"


DOMAIN_STATES: tuple[str, ...] = tuple(s.value for s in DomainState)
# States in which a domain belongs to one store: at most one row per domain in these.
CLAIMING = frozenset({DomainState.VERIFIED, DomainState.ISSUING, DomainState.ACTIVE})
# States the verifier still looks up (a domain it serves, daily).
CHECKED = frozenset({DomainState.PENDING_DNS, *CLAIMING})
# States that are over: the owner may add the domain again.
ENDED = frozenset({DomainState.FAILED, DomainState.REMOVED})

CHALLENGE_LABEL = "_storefleet-challenge"
MAX_NAME = 253  # RFC 1035, without the trailing dot
MAX_LABEL = 63
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOSTILE = re.compile(r"[\x00-\x20\x7f\"'`$(){}\[\]<>\\/:;,|&*?!=+%@#~^]")


class DomainRefused(ValueError):
    """A name that cannot be a store's domain; `code` says why, for the API's answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def normalise(raw: str, reserved: tuple[str, ...] = ()) -> str:
    """The domain as stored and looked up: lower case, IDNA (punycode) labels, no trailing
    dot; `DomainRefused` for anything that is not a plain multi-label host name, or is one
    of `reserved` (the platform's own domains, the stores' base domain) or under it."""
    text = raw.strip()
    if not text or len(text) > 1000:
        raise DomainRefused("invalid_domain", "give a domain name such as shop.example.org")
    if text.startswith("*") or "*" in text:
        raise DomainRefused("wildcard_domain", "wildcard domains are not supported")
    if _is_ip(text):
        raise DomainRefused("ip_address", "give a domain name, not an IP address")
    domain = _ascii(text.removesuffix("."))
    _check_shape(domain)
    for name in reserved:
        base = name.strip().lower().rstrip(".")
        if base and (domain == base or domain.endswith("." + base)):
            raise DomainRefused("reserved_domain", f"{base} and names under it are the platform's")
    return domain


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return bool(re.fullmatch(r"[0-9.]+", text))
    return True


def _ascii(text: str) -> str:
    """Each label lower-cased, a non-ASCII one IDNA-encoded (`encodings.idna`, IDNA 2003
    with nameprep) after the checks: no character a host name cannot hold, no invisible
    ones, one script per label (so "paypal" with a Cyrillic "a" in it is refused)."""
    if _HOSTILE.search(text):
        raise DomainRefused("invalid_domain", "a domain holds only letters, digits, - and .")
    return ".".join(_ascii_label(label) for label in text.split("."))


def _ascii_label(label: str) -> str:
    if label.isascii():
        if label.lower().startswith("xn--"):
            _check_punycode(label.lower())
        return label.lower()
    if any(unicodedata.category(c) in ("Cf", "Cc", "Co", "Cn", "Zs", "Zl", "Zp") for c in label):
        raise DomainRefused("invalid_domain", "invisible or control characters are not allowed")
    scripts = {unicodedata.name(c, "?").split()[0] for c in label if c.isalpha()}
    if len(scripts) > 1:
        raise DomainRefused("mixed_script_label", "a label mixes scripts: a look-alike name")
    try:
        encoded = encodings.idna.ToASCII(label).decode("ascii").lower()
        if encodings.idna.ToUnicode(encoded).encode("idna").decode("ascii") != encoded:
            raise UnicodeError(label)
    except UnicodeError:
        raise DomainRefused("invalid_domain", "not a valid internationalised domain name") from None
    return encoded


def _check_punycode(label: str) -> None:
    try:
        if encodings.idna.ToASCII(encodings.idna.ToUnicode(label)).decode() != label:
            raise UnicodeError(label)
    except UnicodeError:
        raise DomainRefused("invalid_domain", "not a valid IDN label") from None


def _check_shape(domain: str) -> None:
    if len(domain) > MAX_NAME:
        raise DomainRefused("domain_too_long", f"a domain has at most {MAX_NAME} characters")
    labels = domain.split(".")
    if len(labels) < 2:
        raise DomainRefused("single_label_domain", "give a full domain such as shop.example.org")
    for label in labels:
        if len(label) > MAX_LABEL:
            raise DomainRefused("label_too_long", f"each label has at most {MAX_LABEL} characters")
        if not _LABEL.fullmatch(label):
            raise DomainRefused(
                "invalid_domain", "labels hold letters, digits and inner dashes only"
            )
    if labels[-1].isdigit():
        raise DomainRefused("invalid_domain", "the last label cannot be a number")


def challenge_name(domain: str) -> str:
    """The TXT record the owner creates to prove they hold `domain`."""
    return f"{CHALLENGE_LABEL}.{domain}"


def new_token() -> str:
    """A fresh random value for one store's challenge of one domain."""
    return f"storefleet-verify-{secrets.token_hex(16)}"
