"""The platform chart's mail relay (issue 19): run only when the operator names an
upstream SMTP relay, the only pod that gets the upstream's password, reachable over SMTP
from store namespaces only, and reachable by store pods exactly as their guardrails'
NetworkPolicy says (the relay's pods, in the platform namespace, on its port)."""

from __future__ import annotations

import base64
from pathlib import Path

from services.provisioner.guardrails import MAIL_RELAY_PODS
from tests.chart.helm import Manifest, containers, env_of, named, of_kind, render

MAIL = ("stores.smtp.host=smtp.example.com", "stores.smtp.username=mailer")


def _relay_objects(manifests: list[Manifest]) -> set[tuple[str, str]]:
    return {
        (m["kind"], m["metadata"]["name"])
        for m in manifests
        if m["metadata"]["name"] == "storefleet-mailrelay"
    }


def test_the_mail_relay_runs_only_when_an_upstream_relay_is_set(helm_path: Path) -> None:
    for values_file in ("values.yaml", "values-local.yaml", "values-prod.yaml"):
        assert _relay_objects(render(helm_path, values_file)) == set(), values_file

    assert _relay_objects(render(helm_path, sets=MAIL)) == {
        ("Deployment", "storefleet-mailrelay"), ("Service", "storefleet-mailrelay"),
        ("ServiceAccount", "storefleet-mailrelay"), ("NetworkPolicy", "storefleet-mailrelay"),
        ("PodDisruptionBudget", "storefleet-mailrelay"),
    }  # fmt: skip


def test_only_the_mail_relay_gets_the_upstream_password_and_it_gets_no_api_token(
    helm_path: Path,
) -> None:
    manifests = render(helm_path, sets=MAIL)
    readers = {
        where
        for where, _, container in containers(manifests)
        for e in container.get("env", [])
        if e.get("valueFrom", {}).get("secretKeyRef", {}).get("key") == "smtp-password"
    }
    relay = named(manifests, "Deployment", "storefleet-mailrelay")["spec"]["template"]["spec"]

    assert readers == {"Deployment/storefleet-mailrelay mailrelay"}
    assert relay["automountServiceAccountToken"] is False
    assert (
        named(manifests, "ServiceAccount", "storefleet-mailrelay")["automountServiceAccountToken"]
        is False
    )


def test_store_pods_reach_the_relay_where_their_network_policy_lets_them(
    helm_path: Path,
) -> None:
    manifests = render(helm_path, sets=(*MAIL, "mailrelay.port=2600"), namespace="shops")
    relay = named(manifests, "Deployment", "storefleet-mailrelay")["spec"]["template"]
    ports = {p["name"]: p["containerPort"] for p in relay["spec"]["containers"][0]["ports"]}
    service = named(manifests, "Service", "storefleet-mailrelay")["spec"]
    smtp = next(p for p in service["ports"] if p["name"] == "smtp")
    provisioner = named(manifests, "Deployment", "storefleet-provisioner")
    settings = env_of(provisioner["spec"]["template"]["spec"]["containers"][0])

    assert MAIL_RELAY_PODS.items() <= relay["metadata"]["labels"].items()
    assert settings["STOREFLEET_PLATFORM_NAMESPACE"] == "shops"
    assert settings["STOREFLEET_MAIL_RELAY_HOST"] == "storefleet-mailrelay.shops.svc"
    # The guardrails allow the pods' port; the stores connect to the Service's.
    assert settings["STOREFLEET_MAIL_RELAY_PORT"] == "2600"
    assert smtp["port"] == ports["smtp"] == 2600 and smtp["targetPort"] == "smtp"


def test_the_relay_answers_smtp_from_store_namespaces_only_and_reads_postgres(
    helm_path: Path,
) -> None:
    manifests = render(helm_path, sets=MAIL)
    policy = named(manifests, "NetworkPolicy", "storefleet-mailrelay")["spec"]
    smtp_rule, health_rule = policy["ingress"]
    postgres = named(manifests, "NetworkPolicy", "storefleet-postgres")["spec"]
    allowed = postgres["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][1]["values"]

    assert smtp_rule["ports"] == [{"port": 2525, "protocol": "TCP"}]
    assert smtp_rule["from"] == [
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "app.kubernetes.io/managed-by",
                        "operator": "In",
                        "values": ["storefleet"],
                    },
                    {"key": "storefleet.io/store-id", "operator": "Exists"},
                ]
            }
        }
    ]
    assert health_rule == {"ports": [{"port": 8081, "protocol": "TCP"}]}
    assert "mailrelay" in allowed


def test_the_generated_secret_holds_a_long_random_relay_key(helm_path: Path) -> None:
    first = named(render(helm_path), "Secret", "storefleet-secrets")["data"]["mail-relay-key"]
    second = named(render(helm_path), "Secret", "storefleet-secrets")["data"]["mail-relay-key"]

    assert len(base64.b64decode(first)) >= 32
    assert first != second  # random per install (an upgrade reads the live one back)
    assert of_kind(render(helm_path, "values-prod.yaml"), "Secret") == []
