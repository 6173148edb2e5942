"""Prometheus's promtool, built from its Go module by scripts/build-promtool.sh (which
bootstrap runs), for the chart's alert rule tests (`tests/chart/test_alert_rules.py`):
`promtool test rules` evaluates the rendered PrometheusRule with Prometheus's own engine.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "scripts" / "build-promtool.sh"


class PromtoolUnavailable(RuntimeError):
    """promtool is not in the cache and could not be built here; the message says why."""


def promtool_binary() -> Path:
    """Build (or find in the cache) promtool and return its path."""
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-3:]
        raise PromtoolUnavailable(f"{BUILD_SCRIPT.name} failed: {' / '.join(reason)}")
    return Path(done.stdout.strip().splitlines()[-1]) / "promtool"
