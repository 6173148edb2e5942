"""Fixtures of the attack tests: they reuse the chart tests' installed platform (RBAC and
the admission policy on a real API server), its helm binary and the clients that
impersonate the chart's service accounts."""

from tests.chart.conftest import act_as, admin, helm_path, platform, volumes

__all__ = ["act_as", "admin", "helm_path", "platform", "volumes"]
