"""Where `just up` keeps its state and how it speaks: the checkout, the run directory
(`.run`, or STOREFLEET_RUN_DIR), and one prefixed line of output at a time. Used by the
modules behind `python -m devtools.platform`."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = Path(os.environ.get("STOREFLEET_RUN_DIR") or ROOT / ".run")


def say(text: str) -> None:
    print(f"[storefleet] {text}", flush=True)


def shown(path: Path) -> Path:
    """`path` relative to the checkout when inside it (STOREFLEET_RUN_DIR may be elsewhere)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
