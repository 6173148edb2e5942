"""Fixtures of the attack tests, taken from the suites whose code they attack: a gateway
(tests/gateway) and a provisioner harness (tests/provisioner)."""

from tests.gateway.conftest import gateway, gateway_stream, make_gateway
from tests.provisioner.conftest import harness, helm_binary

__all__ = ["gateway", "gateway_stream", "harness", "helm_binary", "make_gateway"]
