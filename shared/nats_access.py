"""Who may do what on NATS: one user per service, each allowed only the subjects its code
publishes and subscribes to.

Pure: no I/O imports. The same description feeds every server the platform runs: the
chart's nats.conf (through `charts/storefleet/files/nats-permissions.json`, written by
`just schemas`), `./dev up` and the test servers (`devtools.nats.LocalNats`), so what the
tests prove is what production enforces.

What the rules keep out:
- only the gateway publishes `store.requested` and requests credentials; only the
  provisioner publishes `store.ready`; the auditor and the webhooks service publish no
  event at all;
- replies travel on private inboxes (`_INBOX_<service>.>`), which only their service may
  read, so the credentials reply is seen by the gateway alone; the provisioner answers
  with `allow_responses` (one reply to a request it received), not a publish right;
- no service may delete or purge the stream, delete a message, or delete a consumer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.subjects import CREDENTIALS_SUBJECT, REBUILD_CONSUMER, type_filter

SERVICES = ("gateway", "provisioner", "reaper", "auditor", "webhooks")

# The event types each service publishes on `store.<type>.<store id>`.
PUBLISHES: dict[str, tuple[str, ...]] = {
    "gateway": (
        "requested",
        "delete",
        "backup.requested",
        "restore.requested",
        "suspend.requested",
        "resume.requested",
        "plan.requested",
        "domain.added",
        "domain.removed",
        "domain.primary",
    ),
    "provisioner": (
        "provisioning",
        "progress",
        "ready",
        "failed",
        "delete",
        "backup.requested",
        "backup.started",
        "backup.completed",
        "backup.verified",
        "backup.failed",
        "restore.started",
        "restore.completed",
        "restore.failed",
        "suspend.started",
        "suspend.completed",
        "suspend.failed",
        "resume.started",
        "resume.completed",
        "resume.failed",
        "plan.changed",
        "plan.failed",
        "upgrade.started",
        "upgrade.completed",
        "upgrade.rolled_back",
        "upgrade.failed",
        "url.changed",
        "url.failed",
    ),
    # The reaper's leader schedules backups, removes expired ones and fails stuck work.
    "reaper": (
        "deleting",
        "deleted",
        "failed",
        "delete",
        "backup.requested",
        "backup.failed",
        "backup.deleted",
        "restore.failed",
        "suspend.failed",
        "resume.failed",
        # Its rollout driver asks for each store's upgrade; a stuck one it fails.
        "upgrade.requested",
        "upgrade.failed",
        # Its domain verifier records what DNS says of the stores' custom domains.
        "domain.verified",
        "domain.failed",
        "domain.removed",
        # Its domain issuer serves them with their certificates.
        "domain.issuing",
        "domain.active",
        # A store whose primary domain ended goes back to its platform host.
        "domain.primary",
    ),
    "auditor": (),
    # It sends events to users' endpoints over HTTP; on NATS it only reads.
    "webhooks": (),
}

# The durable consumers each service pulls from (see shared.subjects.CONSUMERS).
PULLS: dict[str, tuple[str, ...]] = {
    "gateway": (),
    "provisioner": (
        "provisioner",
        "backups",
        "restores",
        "suspends",
        "resumes",
        "plans",
        "upgrades",
        "primary_domains",
    ),
    "reaper": ("reaper",),
    "auditor": ("auditor",),
    "webhooks": ("webhooks",),
}

# Every service declares the stream and the durable consumers at start-up (whichever
# starts first creates them), so each may read and create, never delete.
_DECLARE = (
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.CREATE.*",
    "$JS.API.STREAM.UPDATE.*",
    "$JS.API.CONSUMER.INFO.*.*",
    "$JS.API.CONSUMER.CREATE.*.*",
    "$JS.API.CONSUMER.CREATE.*.*.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.*.*",
)
# Reading one stored message back (the provisioner and the reaper look up a store's
# last `requested` or `delete` event).
_READ_BACK = ("$JS.API.STREAM.MSG.GET.*", "$JS.API.DIRECT.GET.*", "$JS.API.DIRECT.GET.*.>")


def inbox_prefix(service: str) -> str:
    """The prefix of `service`'s reply subjects; only `service` may subscribe below it."""
    return f"_INBOX_{service}"


def permissions(service: str) -> dict[str, Any]:
    """The nats-server `permissions` block of `service`'s user."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    publish = [*_DECLARE, *(type_filter(t) for t in PUBLISHES[service])]
    subscribe = [f"{inbox_prefix(service)}.>"]
    block: dict[str, Any] = {}
    for durable in PULLS[service]:
        publish += [
            f"$JS.API.CONSUMER.MSG.NEXT.*.{durable}",
            f"$JS.ACK.*.{durable}.>",
        ]
    if service in ("provisioner", "reaper"):
        publish += _READ_BACK
    if service == "auditor":
        # `rebuild` replays the stream through a consumer of its own, without acks.
        publish += [
            f"$JS.API.CONSUMER.CREATE.*.{REBUILD_CONSUMER}.>",
            f"$JS.API.CONSUMER.MSG.NEXT.*.{REBUILD_CONSUMER}",
            f"$JS.API.CONSUMER.DELETE.*.{REBUILD_CONSUMER}",
        ]
    if service == "gateway":
        # The live stream: an ordered push consumer per client, with flow control.
        publish += [CREDENTIALS_SUBJECT, "$JS.API.CONSUMER.CREATE.*", "$JS.FC.>"]
    if service == "provisioner":
        # It answers credential requests, and stops work on a store being deleted.
        subscribe += [CREDENTIALS_SUBJECT, type_filter("delete")]
        block["allow_responses"] = {"max": 1, "expires": "1m"}
    block["publish"] = {"allow": publish}
    block["subscribe"] = {"allow": subscribe}
    return block


def all_permissions() -> dict[str, dict[str, Any]]:
    return {service: permissions(service) for service in SERVICES}


def authorization(
    passwords: Mapping[str, str], admin_password: str | None = None
) -> dict[str, Any]:
    """A nats-server `authorization` block: one user per service named in `passwords`,
    plus an unrestricted `admin` user when `admin_password` is given (tests and tools)."""
    users: list[dict[str, Any]] = [
        {"user": service, "password": password, "permissions": permissions(service)}
        for service, password in passwords.items()
    ]
    if admin_password is not None:
        users.append({"user": "admin", "password": admin_password})
    return {"users": users}
