"""Fixtures of the attack tests (issue 19; `pytest tests/security`), taken from the suites
whose code they attack: the in-process gateway (tests/gateway), the provisioner harness
(tests/provisioner), and the chart tests' installed platform (RBAC and the admission
policy on a real API server, the helm binary, clients impersonating the chart's service
accounts). Tests that need a real gateway process start one through `devtools.launcher`
themselves."""

from tests.chart.conftest import act_as, admin, helm_path, platform, volumes
from tests.gateway.conftest import gateway, gateway_stream, make_gateway
from tests.provisioner.conftest import harness, helm_binary

__all__ = [
    "act_as",
    "admin",
    "gateway",
    "gateway_stream",
    "harness",
    "helm_binary",
    "helm_path",
    "make_gateway",
    "platform",
    "volumes",
]
