"""What a real node changes on the host, and how to put it back.

A kubelet node is not contained in one directory: containerd, runc and the CNI plugins
hard-code paths under /run and /var, the kubelet mounts volumes and rewrites sysctls,
kube-proxy and kube-router write firewall rules and ipsets, the bridge plugin sets
`ip_forward`. `snapshot()` records the parts of the host any of them may touch, before
the node starts; `restore()` undoes everything the node did, with only that record and
the host as it is (so it also cleans up after a crashed run); `compare()` says what still
differs. `devtools.node` calls them; the node tests compare before and after. What the
node may touch is listed in `devtools.node_host`; its firewall rules are handled in
`devtools.firewall`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devtools import procs
from devtools.firewall import nft_text, remove_firewall
from devtools.node_host import (
    BRIDGE,
    CGROUP_ROOTS,
    CNI_NETWORK,
    DATA,
    HARD_CODED_DIRS,
    MOUNT_SCOPE,
    STATE,
    SYSCTLS,
)


def snapshot() -> dict[str, Any]:
    """The parts of the host a node may change, as plain JSON-able values."""
    return {
        "links": sorted(_lines(["ip", "-o", "link", "show"], field=1)),
        "addresses": sorted(_lines(["ip", "-o", "addr", "show"], fields=(1, 3))),
        "routes": sorted(
            _lines(["ip", "route", "show", "table", "all"])
            + _lines(["ip", "-6", "route", "show", "table", "all"])
        ),
        "netns": sorted(_lines(["ip", "netns", "list"], field=0)),
        "nft": nft_text(),
        "ipsets": sorted(_lines(["ipset", "list", "-n"])),
        "mounts": sorted(p for p in _mount_points() if _within(p, MOUNT_SCOPE)),
        "sysctls": {key: read_sysctl(key) for key in SYSCTLS if read_sysctl(key) is not None},
        "dirs": sorted(d for d in HARD_CODED_DIRS if os.path.lexists(d)),
        "cgroups": sorted(_cgroups()),
        "processes": sorted(name for _, name in node_processes()),
    }


def other_node(baseline: dict[str, Any]) -> str:
    """What in `baseline` shows another Kubernetes node on the machine (its firewall
    chains or its pods' cgroups), which a second kubelet and kube-proxy would fight
    with; empty when there is none."""
    if "KUBE-" in baseline["nft"]:
        return "kube-proxy's or kube-router's firewall chains (KUBE-*)"
    if baseline["cgroups"]:
        return f"a kubelet's pod cgroups ({', '.join(baseline['cgroups'][:2])})"
    return ""


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What differs between two snapshots, key by key (empty when the host is as it was):
    for lists what was added and removed, for the rest both values."""
    diff: dict[str, Any] = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list):
            diff[key] = {"added": sorted(set(new) - set(old)),
                         "removed": sorted(set(old) - set(new))}  # fmt: skip
        elif isinstance(old, dict) and isinstance(new, dict):
            diff[key] = {k: {"before": old.get(k), "after": new.get(k)}
                         for k in old.keys() | new.keys() if old.get(k) != new.get(k)}  # fmt: skip
        else:
            diff[key] = {"before": old, "after": new}
    return diff


def restore(baseline: dict[str, Any]) -> list[str]:
    """Undo everything a node did since `baseline` was taken; return what was done.
    Safe to run any number of times, with or without a node running."""
    done: list[str] = []
    done += _kill_node_processes()
    done += _unmount(baseline["mounts"])
    done += _remove_links()
    done += remove_firewall(baseline["nft"])
    done += _remove_ipsets(baseline["ipsets"])
    done += restore_sysctls(baseline["sysctls"])
    done += _remove_cgroups(baseline["cgroups"])
    done += _remove_dirs(baseline["dirs"])
    return done


def node_processes() -> list[tuple[int, str]]:
    """(pid, command) of every process of a node, whoever started it: the agents, whose
    command lines all name the node's directories, and whatever runs in its pods'
    cgroups. A containerd or kubelet of anyone else on the machine is left alone."""
    found = {pid: name for pid, name in _all_processes() if _names_node_dirs(pid)}
    for pid in _pod_pids():
        found.setdefault(pid, _comm(pid) or "?")
    return sorted(found.items())


# -- processes ----------------------------------------------------------------------------


def _all_processes() -> Iterable[tuple[int, str]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            name = _comm(int(entry.name))
            if name is not None:
                yield int(entry.name), name


def _names_node_dirs(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(STATE).encode() in cmdline or str(DATA).encode() in cmdline


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _pod_pids() -> set[int]:
    pids: set[int] = set()
    for hierarchy in _hierarchies():
        for root in CGROUP_ROOTS:
            for procs_file in (hierarchy / root).rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in procs_file.read_text().split())
    return pids


def _kill_node_processes() -> list[str]:
    victims = [(pid, name) for pid, name in node_processes() if pid != os.getpid()]
    for pid, _ in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(procs.alive(pid) for pid, _ in victims):
        time.sleep(0.05)
    return [f"killed {name} ({pid})" for pid, name in victims]


# -- mounts, namespaces, links ---------------------------------------------------------------


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        points.append(line.split()[4].replace("\\040", " "))
    return points


def _within(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root + "/") for root in roots)


def _ours(path: str) -> bool:
    return _within(path, (str(STATE), str(DATA)))


def _unmount(baseline: list[str]) -> list[str]:
    done = []
    for _ in range(5):  # a lazy unmount can reveal mounts stacked under it
        points = [p for p in _mount_points() if _ours(p) and p not in baseline]
        if not points:
            break
        for point in sorted(set(points), key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)
            done.append(f"unmounted {point}")
    return done


def _remove_links() -> list[str]:
    done = []
    for line in _lines(["ip", "-o", "link", "show", "master", BRIDGE]):
        name = line.split(":")[1].strip().split("@")[0]
        subprocess.run(["ip", "link", "delete", name], capture_output=True)
        done.append(f"deleted link {name}")
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0:
        subprocess.run(["ip", "link", "delete", BRIDGE], check=True)
        done.append(f"deleted bridge {BRIDGE}")
    return done


def _remove_ipsets(baseline: list[str]) -> list[str]:
    names = [n for n in _lines(["ipset", "list", "-n"]) if n not in baseline and _ipset_ours(n)]
    for name in names:
        subprocess.run(["ipset", "destroy", name], capture_output=True)
    return [f"destroyed ipset {n}" for n in names]


def _ipset_ours(name: str) -> bool:
    return name.startswith(("KUBE-", "kube-router", "inet6:KUBE-", "inet6:kube-router"))


# -- sysctls, cgroups, directories ----------------------------------------------------------


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def read_sysctl(key: str) -> str | None:
    try:
        return " ".join(_sysctl_path(key).read_text().split())
    except OSError:
        return None


def restore_sysctls(baseline: dict[str, str]) -> list[str]:
    done = []
    for key, value in baseline.items():
        now = read_sysctl(key)
        if now is not None and now != value:
            _sysctl_path(key).write_text(value)
            done.append(f"sysctl {key}: {now} -> {value}")
    return done


def _hierarchies() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():  # cgroup v2: one hierarchy
        return [root]
    return [h for h in root.iterdir() if h.is_dir() and not h.is_symlink()]


def _cgroups() -> list[str]:
    return [f"{h.name}/{r}" for h in _hierarchies() for r in CGROUP_ROOTS if (h / r).exists()]


def _remove_cgroups(baseline: list[str]) -> list[str]:
    done = []
    for hierarchy in _hierarchies():
        for root in CGROUP_ROOTS:
            top = hierarchy / root
            if not top.exists() or f"{hierarchy.name}/{root}" in baseline:
                continue
            for path in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir():
                    with contextlib.suppress(OSError):
                        path.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()
                done.append(f"removed cgroup {hierarchy.name}/{root}")
    return done


def _remove_dirs(baseline: list[str]) -> list[str]:
    done = []
    for path in (*HARD_CODED_DIRS, str(DATA)):
        if path not in baseline and os.path.lexists(path):
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path}")
    done += _remove_own_files(baseline)
    return done


def _remove_own_files(baseline: list[str]) -> list[str]:
    """In directories another runtime on the machine also uses: only the node's files."""
    done = []
    if "/run/containerd" in baseline:
        for sock in Path("/run/containerd/s").glob("*"):
            if _dead_socket(sock):
                sock.unlink(missing_ok=True)
                done.append(f"removed dead shim socket {sock}")
    if "/var/lib/cni" in baseline:
        for result in Path("/var/lib/cni").glob(f"results/{CNI_NETWORK}-*"):
            result.unlink(missing_ok=True)
            done.append(f"removed {result}")
    return done


def _dead_socket(path: Path) -> bool:
    """A unix socket nobody listens on any more (a shim that was killed)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    return False


# -- plumbing -------------------------------------------------------------------------------


def _lines(
    argv: list[str], field: int | None = None, fields: tuple[int, ...] | None = None
) -> list[str]:
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    if field is not None:
        return [line.split()[field].rstrip(":") for line in lines if len(line.split()) > field]
    if fields is not None:
        return [" ".join(line.split()[i] for i in fields) for line in lines]
    return lines
