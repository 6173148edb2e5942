"""The ClusterIssuer docs/operations.md (1.3) gives operators solves HTTP-01 as the
tests' issuer does (tests/fixtures/acme.py), which the real node proved: with
cert-manager's default NodePort solver Service, a store's quota refuses every challenge
(tests/node/test_domain_certificate.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.acme import SOLVER

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
HEADING = "### 1.3 cert-manager"


def documented_issuer() -> dict[str, Any]:
    section = OPERATIONS.read_text().split(HEADING, 1)[1]
    body = section.split("<<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    issuer: dict[str, Any] = yaml.safe_load(body)
    return issuer


def test_the_documented_issuer_uses_the_tested_solver() -> None:
    issuer = documented_issuer()

    assert issuer["kind"] == "ClusterIssuer"
    assert issuer["spec"]["acme"]["solvers"] == [{"http01": {"ingress": SOLVER}}]
    assert SOLVER["serviceType"] == "ClusterIP"
