"""Writes the JSON Schemas of the event contract into schemas/events/ (run by
`just schemas`; tests/test_events.py fails when the files are stale)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.events import json_schemas  # noqa: E402

SCHEMA_DIR = ROOT / "schemas" / "events"


def rendered() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(s, indent=2, sort_keys=True) + "\n"
        for name, s in json_schemas().items()
    }


def main() -> None:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (SCHEMA_DIR / name).write_text(text)
    print(f"wrote {len(rendered())} schemas to {SCHEMA_DIR.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
