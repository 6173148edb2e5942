"""The dashboard's build: `web/dist` from the sources in `web/`, with npm.

`ensure_dashboard()` builds only when web/dist is missing or older than its sources;
`just up`, `just web`, scripts/bootstrap.sh, the image recipes and tests/web call it or
`build_dashboard()`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from devtools.workspace import ROOT, say

WEB = ROOT / "web"
WEB_SOURCES = ("src", "index.html", "package.json", "package-lock.json", "vite.config.ts")


def _newest(paths: list[Path]) -> float:
    stamps = [0.0]
    for path in paths:
        if path.is_dir():
            stamps += [p.stat().st_mtime for p in path.rglob("*") if p.is_file()]
        elif path.exists():
            stamps.append(path.stat().st_mtime)
    return max(stamps)


def dashboard_stale(web: Path = WEB) -> bool:
    """Whether web/dist is missing or older than any of the dashboard's sources."""
    index = web / "dist" / "index.html"
    if not index.exists():
        return True
    return _newest([web / name for name in WEB_SOURCES]) > index.stat().st_mtime


def build_dashboard(web: Path = WEB) -> Path:
    """`npm ci` when node_modules is missing or stale, then `npm run build`; web/dist."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found: install Node.js 20+ (scripts/bootstrap.sh does)")
    installed = web / "node_modules" / ".package-lock.json"
    lock = web / "package-lock.json"
    if not installed.exists() or lock.stat().st_mtime > installed.stat().st_mtime:
        _npm([npm, "ci", "--no-audit", "--no-fund"], web)
    _npm([npm, "run", "build"], web)
    return web / "dist"


def _npm(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-20:]
        raise RuntimeError(f"{' '.join(argv[1:])} failed in {cwd}:\n" + "\n".join(output))


def ensure_dashboard(web: Path = WEB) -> Path:
    if dashboard_stale(web):
        say("building the dashboard (web/dist)")
        build_dashboard(web)
    return web / "dist"
