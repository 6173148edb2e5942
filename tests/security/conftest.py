"""The attack tests of issue 19 (`pytest tests/security`). They reuse the gateway tests'
in-process gateway (`make_gateway`, `gateway`); tests that need a real gateway process
start one through `devtools.launcher` themselves."""

from tests.gateway.conftest import gateway, gateway_stream, make_gateway

__all__ = ["gateway", "gateway_stream", "make_gateway"]
