"""Kubernetes quantities compare exactly, and what a store uses beyond a plan is named."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.provisioner.plan_changes import misfits
from shared.quantities import parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", Decimal(2)),
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        ("2Gi", Decimal(2 * 1024**3)),
        ("128Mi", Decimal(128 * 1024**2)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        ("100n", Decimal("1e-7")),
        (5, Decimal(5)),
    ],
)
def test_a_quantity_is_its_exact_value(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "2 Gi", "2GiB", "-", "1.2.3", "$(reboot)", "--2"])
def test_a_malformed_quantity_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        parse_quantity(text)


def test_what_a_store_uses_beyond_a_plan_is_named_and_nothing_else() -> None:
    used = {"requests.cpu": "1500m", "requests.storage": "30Gi", "pods": "4"}
    hard = {"requests.cpu": "2", "requests.storage": "20Gi", "limits.cpu": "1"}

    assert misfits(used, hard) == ["requests.storage: uses 30Gi, the plan allows 20Gi"]
    assert misfits(used, {"requests.cpu": "1500m"}) == []
