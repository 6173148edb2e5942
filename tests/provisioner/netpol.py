"""NetworkPolicy semantics, for asserting what the policies stored in the API server let
through. The test cluster has no network plugin to enforce them, so the tests read the
policies back and evaluate them with the rules of the Kubernetes documentation: a pod is
isolated in a direction when any policy selecting it lists that direction; an isolated
pod accepts only what some selecting policy's rule allows; a connection needs the
source's egress and the destination's ingress both allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace and labels) or, with `namespace=None`, an address outside."""

    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


def _matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        present, values = expr["key"] in labels, expr.get("values") or []
        ok = {
            "In": present and labels.get(expr["key"]) in values,
            "NotIn": not present or labels.get(expr["key"]) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[expr["operator"]]
        if not ok:
            return False
    return True


class Cluster:
    def __init__(
        self, policies: Iterable[dict[str, Any]], namespace_labels: Mapping[str, Mapping[str, str]]
    ) -> None:
        self.policies = list(policies)
        self.namespace_labels = namespace_labels

    def allows(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        return self._direction(src, dst, port, protocol, "Egress") and self._direction(
            dst, src, port, protocol, "Ingress"
        )

    def _direction(
        self, pod: Endpoint, peer: Endpoint, port: int, protocol: str, direction: str
    ) -> bool:
        if pod.namespace is None:
            return True  # outside the cluster: no policy of ours applies
        selecting = [
            p
            for p in self.policies
            if p["metadata"]["namespace"] == pod.namespace
            and _matches(p["spec"].get("podSelector") or {}, pod.labels)
            and direction in (p["spec"].get("policyTypes") or ["Ingress"])
        ]
        if not selecting:
            return True
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for policy in selecting:
            for rule in policy["spec"].get(key) or []:
                if self._port_ok(rule, port, protocol) and self._peer_ok(
                    rule.get(peers_key), peer, pod.namespace
                ):
                    return True
        return False

    @staticmethod
    def _port_ok(rule: Mapping[str, Any], port: int, protocol: str) -> bool:
        ports = rule.get("ports")
        if not ports:
            return True
        return any(
            p.get("port") in (None, port) and p.get("protocol", "TCP") == protocol for p in ports
        )

    def _peer_ok(self, peers: list[dict[str, Any]] | None, peer: Endpoint, own: str) -> bool:
        if not peers:
            return True  # no `from`/`to`: every peer
        return any(self._one_peer(p, peer, own) for p in peers)

    def _one_peer(self, rule: Mapping[str, Any], peer: Endpoint, own: str) -> bool:
        if "ipBlock" in rule:
            block = rule["ipBlock"]
            address = ipaddress.ip_address(peer.ip)
            if address not in ipaddress.ip_network(block["cidr"]):
                return False
            return all(address not in ipaddress.ip_network(x) for x in block.get("except") or [])
        if peer.namespace is None:
            return False
        ns_selector, pod_selector = rule.get("namespaceSelector"), rule.get("podSelector")
        if ns_selector is None:
            in_namespace = peer.namespace == own
        else:
            in_namespace = _matches(ns_selector, self.namespace_labels.get(peer.namespace, {}))
        return in_namespace and (pod_selector is None or _matches(pod_selector, peer.labels))
