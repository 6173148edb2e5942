"""Debian root filesystems for the images: mmdebstrap, from the Debian archive only.

A base is a suite, a package list and the shell hooks that shape it (users with fixed ids
made before the packages that would pick their own, config tweaks). Its key hashes all of
that, and its tarball is cached at `<cache>/rootfs/<suite>-<key>.tar`, so a base is made
once per machine until its recipe changes. Downloaded packages stay in
`<cache>/debs/<suite>/`: a changed base downloads only what is new. No man pages, docs
(copyright files aside), locales or apt lists.

Security updates arrive when a base's key changes; delete `<cache>/rootfs` to refresh.
Used by devtools/images.py; needs root (mmdebstrap `--mode=root`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
# Bump when the mmdebstrap invocation below changes what a base contains.
ROOTFS_RECIPE = 1
STRIP = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
)
CLEANUP = (
    'rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/cache/debconf/*-old',
    'rm -f "$1"/var/log/*.log "$1"/var/log/apt/* "$1"/var/lib/dpkg/*-old',
)


@dataclass(frozen=True)
class Debian:
    """A Debian root filesystem: `suite` with `packages`, shaped by shell hooks that get
    the root directory as "$1" (mmdebstrap's hook convention)."""

    suite: str
    packages: tuple[str, ...] = ()
    essential_hooks: tuple[str, ...] = ()  # after the Essential set, before `packages`
    customize_hooks: tuple[str, ...] = ()  # after everything is installed

    @property
    def key(self) -> str:
        recipe = [ROOTFS_RECIPE, self.suite, sorted(self.packages), STRIP, CLEANUP]
        recipe += [list(self.essential_hooks), list(self.customize_hooks)]
        recipe += [suite_options(self.suite)]
        return hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:16]

    def sources(self) -> list[str]:
        return [
            f"deb {MIRROR} {self.suite} main",
            f"deb {MIRROR} {self.suite}-updates main",
            f"deb {SECURITY} {self.suite}-security main",
        ]


def suite_options(suite: str) -> list[str]:
    """Options one suite needs. Bookworm's /usr is merged by mmdebstrap's hook; else
    init-system-helpers pulls in the usrmerge package, and Perl with it (50 MB)."""
    if suite == "bookworm":
        return ["--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr"]
    return []


def add_user(
    name: str, uid: int, home: str = "/nonexistent", shell: str = "/usr/sbin/nologin"
) -> str:
    """A hook adding user and group `name` with id `uid`, as `useradd --system` would,
    without needing the passwd package (not in the Essential set)."""
    lines = {
        "passwd": f"{name}:x:{uid}:{uid}:{name}:{home}:{shell}",
        "group": f"{name}:x:{uid}:",
        "shadow": f"{name}:*:19000:0:99999:7:::",
        "gshadow": f"{name}:!::",
    }
    return "; ".join(
        f'echo {shlex.quote(line)} >> "$1/etc/{table}"' for table, line in lines.items()
    )


def mmdebstrap_argv(base: Debian, target: Path, debs: Path) -> list[str]:
    """The mmdebstrap command that writes `base` as a tarball to `target`."""
    argv = ["mmdebstrap", "--mode=root", "--variant=apt", "--format=tar"]
    argv += ["--skip=essential/unlink", '--aptopt=Acquire::Languages "none"']
    argv += [f"--dpkgopt={option}" for option in STRIP]
    argv += suite_options(base.suite)
    if base.packages:
        argv.append("--include=" + ",".join(base.packages))
    argv.append('--setup-hook=mkdir -p "$1/var/cache/apt/archives"')
    argv.append(f"--setup-hook=sync-in {debs} /var/cache/apt/archives/")
    argv += [f"--essential-hook={hook}" for hook in base.essential_hooks]
    argv.append(f"--customize-hook=sync-out /var/cache/apt/archives {debs}")
    argv += [f"--customize-hook={hook}" for hook in (*base.customize_hooks, *CLEANUP)]
    return [*argv, base.suite, str(target), *base.sources()]


def ensure_rootfs(base: Debian, cache: Path, log: Path) -> tuple[Path, float | None]:
    """The cached tarball of `base`, made first if missing; and the seconds making took."""
    target = cache / "rootfs" / f"{base.suite}-{base.key}.tar"
    if target.exists():
        return target, None
    debs = cache / "debs" / base.suite
    debs.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    started = time.monotonic()
    try:
        run_logged(["nice", "-n", "10", *mmdebstrap_argv(base, partial, debs)], log)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return target, time.monotonic() - started


def prune_rootfs(cache: Path, keep: Sequence[Debian]) -> list[Path]:
    """Delete the cached bases no current recipe uses; returns what was deleted."""
    wanted = {f"{base.suite}-{base.key}.tar" for base in keep}
    gone = [path for path in (cache / "rootfs").glob("*.tar") if path.name not in wanted]
    for path in gone:
        path.unlink()
    return gone


def run_logged(
    argv: list[str], log: Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    """Run argv with its output appended to `log`; raise with the log's tail on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n$ {shlex.join(argv)}\n".encode())
        out.flush()
        done = subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"{shlex.join(argv[:6])} failed ({done.returncode}), see {log}:\n{tail}")
