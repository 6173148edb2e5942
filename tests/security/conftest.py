"""The attack tests of issue 19 reuse the in-process gateway of tests/gateway and the helm
binary of tests/chart."""

from tests.chart.conftest import helm_path
from tests.gateway.conftest import gateway, gateway_stream, make_gateway

__all__ = ["gateway", "gateway_stream", "helm_path", "make_gateway"]
