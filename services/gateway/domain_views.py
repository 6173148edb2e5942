"""What the domain routes answer: a store's custom domain with its state and the DNS
records its owner creates, as typed shapes (`openapi` builds their schemas from these
types) and a pure function from a `store_domains` row to one; the answer of a change of
the store's primary domain; and the certificate queue administrators watch: verified
domains waiting for the CA's throttle, then those issuing.

Pure: no I/O imports. Called by `services.gateway.routes_domains`.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from services.gateway.views import Row, Timestamp, Uuid
from shared.domains import challenge_name

DomainState = Literal["pending_dns", "verified", "issuing", "active", "failed", "removed"]
DomainReason = Literal[
    "dns_missing", "expired", "challenge_failed", "rate_limited", "owner", "store_deleted"
]


class DnsRecord(TypedDict):
    type: Literal["TXT", "CNAME", "A", "AAAA"]
    name: Annotated[str, Field(description="the record's name, absolute, without a final dot")]
    value: str
    purpose: Annotated[str, Field(description="why the record is needed")]


class Domain(TypedDict):
    id: Uuid
    store_id: Uuid
    domain: Annotated[str, Field(description="normalised: lower case, punycode, no final dot")]
    state: Annotated[
        DomainState,
        Field(
            description="pending_dns until the TXT record holds the token, then verified"
            " (queued for its certificate); issuing once its certificate is asked for;"
            " active once it is served (with its certificate, or over HTTP when the"
            " platform issues none); failed (expired after the verification window, or its"
            " certificate refused: challenge_failed, rate_limited); removed"
        ),
    ]
    reason: Annotated[DomainReason | None, Field(description="why it failed or was removed")]
    requested_at: Timestamp
    checked_at: Annotated[Timestamp | None, Field(description="the verifier's last look-up")]
    verified_at: Timestamp | None
    issuing_at: Annotated[Timestamp | None, Field(description="when its certificate was asked for")]
    not_after: Annotated[
        Timestamp | None,
        Field(description="the served certificate's expiry; null until active, or over HTTP"),
    ]
    records: Annotated[list[DnsRecord], Field(description="the DNS records to create")]
    primary: Annotated[
        bool, Field(description="the store's primary domain: its engine's own address")
    ]


class DomainList(TypedDict):
    items: Annotated[list[Domain], Field(description="oldest first")]
    max_domains: Annotated[int, Field(description="the store's plan allows this many")]
    primary_domain_id: Annotated[
        Uuid | None,
        Field(description="the active domain the store takes as its address; null: its host"),
    ]
    url: Annotated[
        str | None,
        Field(description="where the store answers, as its engine has it now; null until ready"),
    ]
    host: Annotated[
        str, Field(description="the store's own host, <slug>.<base domain>, which always answers")
    ]


class PrimaryChange(TypedDict):
    operation_id: Uuid
    store_id: Uuid
    domain_id: Annotated[Uuid | None, Field(description="the new primary; null: the platform host")]
    domain: Annotated[str | None, Field(description="its name; null: the platform host")]


def dns_records(domain: str, token: str, cname_target: str, address: str) -> list[DnsRecord]:
    """The TXT record that proves the owner holds `domain`, and where it should point."""
    records: list[DnsRecord] = [
        {
            "type": "TXT",
            "name": challenge_name(domain),
            "value": token,
            "purpose": "proves you hold the domain; keep it while the domain is in use",
        },
        {
            "type": "CNAME",
            "name": domain,
            "value": cname_target,
            "purpose": "sends the domain's visitors to the platform",
        },
    ]
    if address:
        kind: Literal["A", "AAAA"] = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
        records.append(
            {
                "type": kind,
                "name": domain,
                "value": address,
                "purpose": "instead of the CNAME, for a domain's apex which cannot have one",
            }
        )
    return records


def domain_view(
    row: Row, cname_target: str, address: str, primary_id: Uuid | None = None
) -> Domain:
    """A `store_domains` row; `primary_id` is the store's primary domain's id, if any."""
    return {
        "id": row["id"],
        "store_id": row["store_id"],
        "domain": row["domain"],
        "state": row["state"],
        "reason": row["reason"],
        "requested_at": row["requested_at"],
        "checked_at": row["checked_at"],
        "verified_at": row["verified_at"],
        "issuing_at": row["issuing_at"],
        "not_after": row["not_after"],
        "records": dns_records(row["domain"], row["token"], cname_target, address),
        "primary": primary_id is not None and row["id"] == primary_id,
    }


def primary_change_view(operation_id: Uuid, store_id: Uuid, domain: Row | None) -> PrimaryChange:
    """The answer of a change of primary: the domain row chosen, or None (platform host)."""
    return {
        "operation_id": operation_id,
        "store_id": store_id,
        "domain_id": domain["id"] if domain is not None else None,
        "domain": domain["domain"] if domain is not None else None,
    }


class QueuedDomain(TypedDict):
    id: Uuid
    store_id: Uuid
    store_name: Annotated[str | None, Field(description="null while the store is unknown")]
    domain: str
    state: Annotated[
        Literal["verified", "issuing"],
        Field(description="verified: waiting for room under the CA's limits; issuing"),
    ]
    position: Annotated[
        int | None, Field(description="1-based place in the queue; null while issuing")
    ]
    verified_at: Timestamp | None
    issuing_at: Annotated[Timestamp | None, Field(description="when its certificate was asked for")]


class DomainQueue(TypedDict):
    items: Annotated[
        list[QueuedDomain],
        Field(description="the queue in order (verified_at, id), then the issuing, oldest first"),
    ]
    queued: Annotated[int, Field(description="verified domains waiting, all of them")]
    issuing: Annotated[int, Field(description="domains issuing, all of them")]


def queue_view(queued: list[Row], issuing: list[Row], counts: Row) -> DomainQueue:
    """The queue's rows (already in order) numbered from 1, then the issuing ones."""
    items = [_queued(row, place) for place, row in enumerate(queued, 1)]
    items += [_queued(row, None) for row in issuing]
    return {"items": items, "queued": counts["queued"], "issuing": counts["issuing"]}


def _queued(row: Row, position: int | None) -> QueuedDomain:
    return {
        "id": row["id"],
        "store_id": row["store_id"],
        "store_name": row["store_name"],
        "domain": row["domain"],
        "state": row["state"],
        "position": position,
        "verified_at": row["verified_at"],
        "issuing_at": row["issuing_at"],
    }
