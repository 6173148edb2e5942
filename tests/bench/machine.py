"""What every benchmark records beside its figures: other work on these noisy machines
shows in every figure, so the load before and after the run is kept next to them."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any


def machine(load_before: float) -> dict[str, Any]:
    """The cores, the 1-minute load average before (`load_before`, taken with
    `os.getloadavg()[0]` as the run began) and now, and when."""
    return {
        "cpus": os.cpu_count(),
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "when": datetime.now(UTC).isoformat(),
    }
