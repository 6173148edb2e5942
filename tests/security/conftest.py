"""Fixtures of the attack tests (issue 19; `pytest tests/security`), taken from the suites
whose code they attack: the in-process gateway (tests/gateway), the provisioner harness
(tests/provisioner) and the helm binary (tests/chart). Tests that need a real gateway
process start one through `devtools.launcher` themselves. The admission policy's attacks
live in tests/chart/test_admission.py, beside the one platform the chart tests install per
session (a second install here would fight it over the cluster-wide objects)."""

from tests.chart.conftest import helm_path
from tests.gateway.conftest import gateway, gateway_stream, make_gateway
from tests.mailrelay.conftest import mail_relay
from tests.provisioner.conftest import harness, helm_binary

__all__ = [
    "gateway",
    "gateway_stream",
    "harness",
    "helm_binary",
    "helm_path",
    "mail_relay",
    "make_gateway",
]
