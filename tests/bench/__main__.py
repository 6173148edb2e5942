"""`just bench`: runs every benchmark script in this folder (`bench_*.py`) one after
another, each as `python -m tests.bench.<name>`, then prints the figures they wrote to
`.run/bench/`. Arguments name a subset: `just bench gateway auditor`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / ".run" / "bench"


def main(wanted: list[str]) -> int:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if wanted:
        names = [n for n in names if n.removeprefix("bench_") in wanted or n in wanted]
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"tests.bench.{name}"], cwd=ROOT).returncode:
            failed.append(name)
    for path in sorted(OUT.glob("*.json")):
        print(f"== {path.relative_to(ROOT)}")
        print(json.dumps(json.loads(path.read_text()), indent=2))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
