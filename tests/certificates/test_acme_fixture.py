"""The ACME fixture issues real certificates: cert-manager's controller orders them from
Pebble, which validates each HTTP-01 challenge against the host responder standing in
for the solver pods. What a test observes is what an operator would: the Certificate's
conditions, its Secret, the Order and Challenge cert-manager made for it.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cryptography import x509
from kubernetes_asyncio.client import CoreV1Api, CustomObjectsApi

from tests.fixtures.acme import AcmeIssuer, Certificate, condition

pytestmark = pytest.mark.cluster

ACME = ("acme.cert-manager.io", "v1")


async def issued_chain(acme: AcmeIssuer, namespace: str, secret: str) -> list[x509.Certificate]:
    found = await CoreV1Api(acme.api).read_namespaced_secret(secret, namespace)
    return x509.load_pem_x509_certificates(base64.b64decode(found.data["tls.crt"]))


def dns_names(certificate: x509.Certificate) -> list[str]:
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return names.value.get_values_for_type(x509.DNSName)


async def acme_objects(acme: AcmeIssuer, namespace: str, plural: str) -> list[dict[str, Any]]:
    """The namespace's Orders or Challenges (`plural`), as cert-manager left them."""
    found = await CustomObjectsApi(acme.api).list_namespaced_custom_object(*ACME, namespace, plural)
    return list(found["items"])


async def test_a_certificate_goes_ready_with_a_chain_to_pebbles_root(
    acme: AcmeIssuer, namespace: str
) -> None:
    started = time.monotonic()
    await acme.create_certificate(namespace, "shop1", "shop1.example.test")

    certificate = await acme.wait_ready(namespace, "shop1")

    print(f"shop1.example.test Ready after {time.monotonic() - started:.1f}s")
    assert certificate["status"]["revision"] == 1
    chain = await issued_chain(acme, namespace, "shop1-tls")
    assert dns_names(chain[0]) == ["shop1.example.test"]
    root = x509.load_pem_x509_certificate(acme.root_pem.encode())
    for issued, issuer in zip(chain, [*chain[1:], root], strict=True):
        issued.verify_directly_issued_by(issuer)  # raises unless issuer signed it
    assert ("shop1.example.test", "validation", 200) in acme.responder.seen


async def test_a_refused_challenge_fails_its_issuance_while_another_is_issued(
    acme: AcmeIssuer, namespace: str
) -> None:
    acme.refused.add("refused.example.test")
    started = time.monotonic()
    await acme.create_certificate(namespace, "refused", "refused.example.test")
    await acme.create_certificate(namespace, "shop2", "shop2.example.test")

    async def timed(
        wait: Callable[[str, str], Awaitable[Certificate]], name: str
    ) -> tuple[Certificate, float]:
        found = await wait(namespace, name)
        return found, time.monotonic() - started

    (refused, refused_after), (issued, issued_after) = await asyncio.gather(
        timed(acme.wait_failed, "refused"), timed(acme.wait_ready, "shop2")
    )

    print(f"refused failed after {refused_after:.1f}s, shop2 Ready after {issued_after:.1f}s")
    issuing = condition(refused, "Issuing")
    assert (issuing["status"], issuing["reason"]) == ("False", "Failed")
    assert 'order is in "invalid" state' in issuing["message"]
    assert condition(refused, "Ready")["status"] == "False"
    assert condition(issued, "Ready")["status"] == "True"
    # A retry (5 s after the failure) may have started a second order by now.
    orders = {
        (order["spec"]["dnsNames"][0], order.get("status", {}).get("state"))
        for order in await acme_objects(acme, namespace, "orders")
    }
    assert {("refused.example.test", "invalid"), ("shop2.example.test", "valid")} <= orders
    assert ("refused.example.test", "valid") not in orders
    refusals = [
        challenge.get("status", {}).get("reason", "")
        for challenge in await acme_objects(acme, namespace, "challenges")
        if challenge.get("status", {}).get("state") == "invalid"
    ]
    assert refusals, "no Challenge in state invalid"
    assert "urn:ietf:params:acme:error:unauthorized" in refusals[0]
    assert "refused.example.test" in refusals[0] and "returned 404" in refusals[0]
