"""The dashboard's component tests (Vitest, in web/test/) run as part of `./dev test`, so
the README's one test command covers the TypeScript too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"


def test_the_dashboard_component_tests_pass() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm not found: install Node.js 20+ (scripts/bootstrap.sh does)")
    if not (WEB / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    done = subprocess.run(
        [npm, "test", "--", "--reporter=dot"], cwd=WEB, capture_output=True, text=True
    )
    output = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, f"vitest failed:\n{output}"
    assert "passed" in output, output
