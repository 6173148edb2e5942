"""The mail relay's Prometheus metrics, served on `/metrics` by `shared.health`.

- `storefleet_mailrelay_logins_total{result}`: AUTH attempts, `accepted` or `refused`;
- `storefleet_mailrelay_messages_total{outcome}`: messages by what became of them
  (`sent`, and each refusal: `store_not_live`, `sender_refused`, `too_many_recipients`,
  `rate_limited`, `upstream_temporary`, `upstream_refused`, `lookup_failed`);
- `storefleet_mailrelay_recipients_total`: recipients of the messages sent;
- `storefleet_mailrelay_upstream_seconds`: one delivery to the upstream relay.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LOGINS = Counter("storefleet_mailrelay_logins_total", "SMTP AUTH attempts by result", ["result"])
MESSAGES = Counter(
    "storefleet_mailrelay_messages_total", "Messages from stores by outcome", ["outcome"]
)
RECIPIENTS = Counter(
    "storefleet_mailrelay_recipients_total", "Recipients of the messages sent upstream"
)
UPSTREAM_SECONDS = Histogram(
    "storefleet_mailrelay_upstream_seconds",
    "Time to hand one message to the upstream relay",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
