"""The storefleet/* images on the real node, run by the charts that use them: every pod is
taken from `helm template` of its chart (tests/node/charts.py: the engine charts with the
provisioner's per-store values, the platform chart with values-local.yaml) and applied as
rendered into a namespace enforcing Pod Security `restricted`, with the chart's read-only
root filesystem, volumes, claims of the default StorageClass, probes, environment and
command. Postgres (both charts), MariaDB, Redis and NATS stand in for upstream images:
each test checks the part of that image's contract the chart relies on as a client
observes it (who may log in to which database over TCP, what survives a restart, JetStream
and its store on the claim). The platform chart and a Medusa store run whole and answer
through the ingress controller. Names and passwords are hostile (quotes, `$(...)`,
blanks, a backslash, a leading dash, a newline where the upstream image takes one) and
must arrive literally, run nothing, and stay out of the logs.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from devtools.images import import_images, reference
from devtools.node import LAYOUT, RealCluster
from services.provisioner.spec import STORE_SECRET
from tests.node import charts
from tests.node.conftest import Kubectl, eventually, toolbox_pod

IMAGES = ("postgres", "mariadb", "redis", "nats", "objectstore", "platform", "medusa")
SERVICES = ("gateway", "provisioner", "reaper", "auditor", "webhooks")
# What a careless entrypoint would run or splice into SQL: a command substitution that
# leaves a file behind, a quote closing a literal before a statement, blanks, a
# backslash and a leading dash (read as an option when not passed as a value).
PWNED = "/tmp/pwned"
INJECTED = f"$(touch {PWNED}) `touch {PWNED}`"
# initdb's superuser owns extensions, whose owner Postgres allows none of "$'\\, "--",
# "/*" or a newline: upstream's image refuses those as ours does.
PG_USER = f"-shop owner; `touch {PWNED}`; (x)"
PG_DATABASE = '-shop"; CREATE ROLE pwned; -- x'
# No newline: initdb reads the first line of its password file, upstream's as ours.
PG_PASSWORD = f'p\'; CREATE ROLE pwned; -- {INJECTED} \\ "q"'
MARIADB_DATABASE = f"-wp_shop 'x' $(touch {PWNED})"
MARIADB_USER = f'-o\'brien "{INJECTED}"'
MARIADB_PASSWORD = f'p\'; DROP DATABASE mysql; -- {INJECTED} \\ "q"\nline two'
MARIADB_ROOT_PASSWORD = f"r'\\'; {INJECTED}\n"
REDIS_PASSWORD = f'-p\' "{INJECTED}" \\\nline two'
SECRETS = (PG_PASSWORD, MARIADB_PASSWORD, MARIADB_ROOT_PASSWORD, REDIS_PASSWORD)


@pytest.fixture(scope="module")
def images(real_cluster: RealCluster) -> Iterator[Future[None]]:
    """The stand-ins imported into the node; medusa's, the slowest to unpack (most of a
    minute), goes on in the background for the one test that needs it to wait for."""
    socket = str(LAYOUT.containerd_socket)
    with ThreadPoolExecutor(max_workers=1) as pool:
        medusa = pool.submit(import_images, socket, ["medusa"])
        import_images(socket, [name for name in IMAGES if name != "medusa"])
        yield medusa


def _client(namespace: str, image: str, env: dict[str, str], secret_env: dict[str, str]
            ) -> dict[str, Any]:  # fmt: skip
    """A pod of `image` that sleeps, to run that image's own client from; `secret_env`
    maps variables to keys of the store's Secret, as the charts pass passwords."""
    variables: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in env.items()]
    variables += [{"name": k, "valueFrom": {"secretKeyRef": {"name": STORE_SECRET, "key": key}}}
                  for k, key in secret_env.items()]  # fmt: skip
    return toolbox_pod("client", namespace, ["sleep", "infinity"],
                       container={"image": reference(image), "env": variables})  # fmt: skip


def _hardened(kubectl: Kubectl, namespace: str, pod: str) -> None:
    """What the chart asked for is what runs: a read-only root, no escalation, not root."""
    spec = kubectl.get("pod", pod, "-n", namespace)["spec"]
    for container in spec["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, container["name"]
        assert security["allowPrivilegeEscalation"] is False, container["name"]
    written = kubectl.exec(namespace, pod, "touch", "/probe")
    assert "Read-only file system" in written.stderr, written
    assert kubectl.exec(namespace, pod, "id", "-u").stdout.strip() not in ("", "0")


def _nothing_ran(kubectl: Kubectl, namespace: str, pod: str) -> None:
    assert kubectl.exec(namespace, pod, "test", "-e", PWNED).returncode == 1, "a command ran"
    logs = kubectl("logs", "-n", namespace, pod, "--all-containers")
    for password in SECRETS:
        for line in filter(None, password.splitlines()):
            assert line not in logs, f"a password is in the logs of {pod}"


# -- postgres, as the medusa chart runs it ------------------------------------------------


@pytest.fixture(scope="module")
def postgres(kubectl: Kubectl, images: Future[None]) -> Iterator[str]:
    """The medusa chart's Postgres with hostile names and password; its namespace."""
    namespace = charts.new_namespace(kubectl, "pg")
    rendered = charts.engine("medusa", namespace, "pg",
                             postgres={"user": PG_USER, "database": PG_DATABASE})  # fmt: skip
    env = {"PGHOST": "postgres", "PGUSER": PG_USER, "PGDATABASE": PG_DATABASE,
           "PGCONNECT_TIMEOUT": "5"}  # fmt: skip
    charts.apply(
        kubectl,
        namespace,
        charts.secret(namespace, database_password=PG_PASSWORD),
        *charts.pick(rendered, "ServiceAccount/medusa", "Service/postgres", "StatefulSet/postgres"),
        _client(namespace, "postgres", env, {"PGPASSWORD": "database-password"}),
    )
    charts.rolled_out(kubectl, namespace, "statefulset/postgres")
    kubectl.wait_ready(namespace, "client")
    yield namespace
    kubectl("delete", "namespace", namespace, "--wait=false")


def _psql(kubectl: Kubectl, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    """psql in the client pod, over TCP to the Service, as the chart's user."""
    return kubectl.exec(namespace, "client", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", *args)


def test_postgres_logs_in_the_charts_user_to_its_database_by_password_over_tcp(
    kubectl: Kubectl, postgres: str
) -> None:
    done = _psql(kubectl, postgres, "-c", "SELECT current_user", "-c", "SELECT current_database()",
                 "-c", "SELECT inet_server_addr() IS NOT NULL")  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [PG_USER, PG_DATABASE, "t"]


def test_postgres_refuses_a_wrong_password(kubectl: Kubectl, postgres: str) -> None:
    wrong = kubectl.exec(postgres, "client", "env", "PGPASSWORD=wrong", "psql", "-Xc", "SELECT 1")

    assert wrong.returncode != 0
    assert "password authentication failed" in wrong.stderr


def test_postgres_takes_hostile_names_and_password_literally_and_never_logs_the_password(
    kubectl: Kubectl, postgres: str
) -> None:
    roles = _psql(kubectl, postgres, "-c", "SELECT count(*) FROM pg_roles WHERE rolname = 'pwned'")

    assert roles.stdout.strip() == "0", roles.stderr
    _nothing_ran(kubectl, postgres, "postgres-0")
    _hardened(kubectl, postgres, "postgres-0")


def test_postgres_keeps_its_data_on_the_claim_when_its_pod_is_deleted(
    kubectl: Kubectl, postgres: str
) -> None:
    made = _psql(kubectl, postgres, "-c", "CREATE TABLE kept (v text)",
                 "-c", "INSERT INTO kept VALUES ('before the delete')")  # fmt: skip
    assert made.returncode == 0, made.stderr
    old = kubectl.get("pod", "postgres-0", "-n", postgres)["metadata"]["uid"]

    kubectl("delete", "pod", "postgres-0", "-n", postgres, "--wait=true")
    eventually(lambda: _uid(kubectl, postgres, "postgres-0") not in (None, old), "a new pod")
    kubectl.wait_ready(postgres, "postgres-0", timeout=120)

    done = _psql(kubectl, postgres, "-c", "SELECT v FROM kept")
    assert done.stdout.strip() == "before the delete", done.stderr
    claim = kubectl.get("pvc", "data-postgres-0", "-n", postgres)
    assert claim["spec"]["storageClassName"] == "local-path"


def test_postgres_refuses_a_user_initdb_cannot_take_without_logging_the_password(
    kubectl: Kubectl, images: Future[None]
) -> None:
    namespace = charts.new_namespace(kubectl, "pg-refused")
    rendered = charts.engine("medusa", namespace, "pg-refused", postgres={"user": 'o"brien'})
    charts.apply(
        kubectl,
        namespace,
        charts.secret(namespace, database_password=PG_PASSWORD),
        *charts.pick(rendered, "ServiceAccount/medusa", "Service/postgres", "StatefulSet/postgres"),
    )

    def restarts() -> int:
        found = kubectl.get("pod", "-n", namespace, "-l", "app.kubernetes.io/component=database")
        statuses = [s for p in found["items"] for s in p["status"].get("containerStatuses", [])]
        return sum(s["restartCount"] for s in statuses)

    eventually(lambda: restarts() > 0, "the first start to fail", timeout=120)
    status = kubectl.get("pod", "postgres-0", "-n", namespace)["status"]["containerStatuses"][0]
    logs = kubectl("logs", "-n", namespace, "postgres-0", "--previous")

    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert "POSTGRES_USER may not contain" in logs
    assert PG_PASSWORD not in logs
    kubectl("delete", "namespace", namespace, "--wait=false")


def _uid(kubectl: Kubectl, namespace: str, pod: str) -> str | None:
    found = kubectl("get", "pod", pod, "-n", namespace, "--ignore-not-found", "-o", "json")
    return json.loads(found)["metadata"]["uid"] if found.strip() else None


# -- mariadb, as the woocommerce chart runs it ---------------------------------------------


@pytest.fixture(scope="module")
def mariadb(kubectl: Kubectl, images: Future[None]) -> Iterator[str]:
    """The woocommerce chart's MariaDB with hostile names and passwords; its namespace."""
    namespace = charts.new_namespace(kubectl, "maria")
    rendered = charts.engine("woocommerce", namespace, "maria",
                             database={"name": MARIADB_DATABASE, "user": MARIADB_USER})  # fmt: skip
    secret = charts.secret(namespace, database_password=MARIADB_PASSWORD,
                           database_root_password=MARIADB_ROOT_PASSWORD)  # fmt: skip
    passwords = {"USER_PWD": "database-password", "ROOT_PWD": "database-root-password"}
    client = _client(namespace, "mariadb", {}, passwords)
    objects = charts.pick(rendered, "ServiceAccount/woocommerce", "Service/mariadb",
                          "StatefulSet/mariadb")  # fmt: skip
    charts.apply(kubectl, namespace, secret, *objects, client)
    charts.rolled_out(kubectl, namespace, "statefulset/mariadb")
    kubectl.wait_ready(namespace, "client")
    yield namespace
    kubectl("delete", "namespace", namespace, "--wait=false")


def _mariadb(kubectl: Kubectl, namespace: str, user: str, password_var: str, sql: str,
             *options: str) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """The mariadb client in the client pod over TCP to the Service; the password from
    the client's environment, as WordPress gets it."""
    script = f'MYSQL_PWD="${password_var}" exec mariadb "$@"'
    return kubectl.exec(namespace, "client", "sh", "-c", script, "mariadb", "--no-defaults",
                        "--protocol=tcp", "--host=mariadb", "--skip-ssl", f"--user={user}",
                        "--batch", "--raw", "--skip-column-names", *options, "-e", sql)  # fmt: skip


def test_mariadb_user_of_the_chart_uses_its_database_and_only_that_over_tcp(
    kubectl: Kubectl, mariadb: str
) -> None:
    sql = ("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('mine'); SELECT v FROM t;"
           " SELECT CURRENT_USER(); SHOW DATABASES;")  # fmt: skip
    done = _mariadb(kubectl, mariadb, MARIADB_USER, "USER_PWD", sql,
                    f"--database={MARIADB_DATABASE}")  # fmt: skip

    assert done.returncode == 0, done.stderr
    table, user, *databases = done.stdout.splitlines()
    assert (table, user) == ("mine", f"{MARIADB_USER}@%")
    assert sorted(databases) == sorted(["information_schema", MARIADB_DATABASE])


def test_mariadb_root_logs_in_over_tcp_and_a_wrong_password_is_refused(
    kubectl: Kubectl, mariadb: str
) -> None:
    root = _mariadb(kubectl, mariadb, "root", "ROOT_PWD",
                    "SELECT @@character_set_server, @@collation_server")  # fmt: skip
    wrong = _mariadb(kubectl, mariadb, MARIADB_USER, "ROOT_PWD", "SELECT 1")

    # The chart's arguments reach mariadbd through the entrypoint.
    assert root.stdout.split() == ["utf8mb4", "utf8mb4_unicode_ci"], root.stderr
    assert wrong.returncode != 0
    assert "Access denied" in wrong.stderr


def test_mariadb_takes_hostile_names_and_passwords_literally_and_never_logs_them(
    kubectl: Kubectl, mariadb: str
) -> None:
    # Nobody but the chart's user was made, and the mysql database is still there.
    sql = ("SELECT CONCAT(user, '@', host) FROM mysql.user WHERE user NOT IN"
           " ('root', 'healthcheck', 'mariadb.sys'); SHOW DATABASES LIKE 'mysql'")  # fmt: skip
    done = _mariadb(kubectl, mariadb, "root", "ROOT_PWD", sql)

    assert done.stdout.splitlines() == [f"{MARIADB_USER}@%", "mysql"], done.stderr
    _nothing_ran(kubectl, mariadb, "mariadb-0")
    _hardened(kubectl, mariadb, "mariadb-0")
    # The probes the chart uses pass on their own (the pod is Ready through them).
    probe = ("healthcheck.sh", "--connect", "--innodb_initialized")
    check = kubectl.exec(mariadb, "mariadb-0", *probe)
    assert check.returncode == 0, check.stderr
    claim = kubectl.get("pvc", "data-mariadb-0", "-n", mariadb)
    assert claim["spec"]["storageClassName"] == "local-path"


# -- redis, as the medusa chart runs it (values-prod turns it on) ---------------------------


def test_redis_of_the_medusa_chart_requires_its_password(
    kubectl: Kubectl, images: Future[None]
) -> None:
    namespace = charts.new_namespace(kubectl, "redis")
    rendered = charts.engine("medusa", namespace, "redis", redis={"enabled": True})
    charts.apply(
        kubectl,
        namespace,
        charts.secret(namespace, redis_password=REDIS_PASSWORD),
        *charts.pick(rendered, "ServiceAccount/medusa", "Service/redis", "Deployment/redis"),
        _client(namespace, "redis", {}, {"REDISCLI_AUTH": "redis-password"}),
    )
    charts.rolled_out(kubectl, namespace, "deployment/redis")
    kubectl.wait_ready(namespace, "client")

    def cli(*args: str) -> str:
        done = kubectl.exec(namespace, "client", *args, "redis-cli", "-h", "redis", "ping")
        return (done.stdout + done.stderr).strip()

    assert cli() == "PONG"
    assert "NOAUTH" in cli("env", "-u", "REDISCLI_AUTH")
    assert "WRONGPASS" in cli("env", "REDISCLI_AUTH=wrong")
    server = charts.pod_of(kubectl, namespace, "deployment/redis")
    _nothing_ran(kubectl, namespace, server)
    _hardened(kubectl, namespace, server)
    kubectl("delete", "namespace", namespace, "--wait=false")


# -- nats, postgres and the services, as the platform chart runs them ----------------------


@pytest.fixture(scope="module")
def platform(kubectl: Kubectl, images: Future[None]) -> Iterator[str]:
    """The platform chart, rendered with values-local.yaml and applied; its namespace
    once every workload is rolled out."""
    namespace = charts.new_namespace(kubectl, "platform")
    charts.apply(kubectl, namespace, *charts.platform(namespace))
    services = [f"deployment/storefleet-{name}" for name in SERVICES]
    charts.rolled_out(kubectl, namespace, "statefulset/storefleet-postgres",
                      "statefulset/storefleet-nats", *services)  # fmt: skip
    yield namespace
    kubectl("delete", "namespace", namespace, "--wait=false")


def _through_ingress(real_cluster: RealCluster, host: str, path: str) -> tuple[int, Any]:
    """GET `path` of `host` through the ingress controller: the status and the JSON body
    (None when there is none)."""
    request = urllib.request.Request(real_cluster.ingress_url + path, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def _monitor(kubectl: Kubectl, namespace: str, path: str) -> Any:
    """NATS's monitoring port, through the API server's pod proxy (the platform's
    NetworkPolicy lets only its own pods reach NATS)."""
    url = f"/api/v1/namespaces/{namespace}/pods/storefleet-nats-0:8222/proxy/{path}"
    return json.loads(kubectl("get", "--raw", url))


def test_the_platform_services_run_ready_on_their_image_and_answer_through_the_ingress(
    kubectl: Kubectl, platform: str, real_cluster: RealCluster
) -> None:
    def public(path: str) -> tuple[int, Any]:
        return _through_ingress(real_cluster, "storefleet.localhost", path)

    eventually(lambda: public("/api/v1/openapi.json")[0] == 200, "the API through the ingress")
    # /readyz and /metrics are on the health port, which the ingress does not route.
    readyz = f"/api/v1/namespaces/{platform}/services/storefleet-gateway:metrics/proxy/readyz"
    assert json.loads(kubectl("get", "--raw", readyz))["checks"] == {"postgres": True, "nats": True}
    assert public("/readyz")[1] is None
    for name in SERVICES:
        pod = charts.pod_of(kubectl, platform, f"deployment/storefleet-{name}")
        _hardened(kubectl, platform, pod)


def test_nats_serves_jetstream_from_the_charts_config_with_its_store_on_the_claim(
    kubectl: Kubectl, platform: str
) -> None:
    health = _monitor(kubectl, platform, "healthz?js-enabled-only=true")
    server = _monitor(kubectl, platform, "varz")
    streams = _monitor(kubectl, platform, "jsz?streams=true")

    assert health == {"status": "ok"}
    assert server["server_name"] == "storefleet-nats-0"  # $POD_NAME, from the environment
    assert streams["config"]["store_dir"] == "/data/jetstream"
    assert streams["config"]["sync_always"] is True
    names = [s["name"] for a in streams["account_details"] for s in a["stream_detail"]]
    assert names == ["STORES"]  # made by the services
    claim = kubectl.get("pvc", "data-storefleet-nats-0", "-n", platform)
    assert claim["spec"]["storageClassName"] == "local-path"
    # The pid file the chart's preStop hook signals for lame duck mode.
    signal = kubectl.exec(platform, "storefleet-nats-0", "nats-server",
                          "--signal", "reopen=/var/run/nats/nats.pid")  # fmt: skip
    assert signal.returncode == 0, signal.stderr


def test_platform_postgres_initialises_as_the_uid_the_chart_gives_it(
    kubectl: Kubectl, platform: str
) -> None:
    pod = "storefleet-postgres-0"
    owner = kubectl.exec(platform, pod, "stat", "-c", "%u", "/var/lib/postgresql/data/pgdata")
    uid = kubectl.exec(platform, pod, "id", "-u")

    # 70, the alpine image's postgres user, unknown to /etc/passwd here.
    assert uid.stdout.strip() == owner.stdout.strip() == "70"
    _hardened(kubectl, platform, pod)


# -- medusa: a whole store of the medusa chart ---------------------------------------------


def test_a_medusa_store_is_set_up_and_serves_its_storefront_through_the_ingress(
    kubectl: Kubectl, images: Future[None], real_cluster: RealCluster
) -> None:
    images.result(timeout=300)
    namespace = charts.new_namespace(kubectl, "medusa")
    slug = namespace.removeprefix("t-")
    rendered = charts.engine("medusa", namespace, slug)
    keys = ("admin_password", "database_password", "jwt_secret", "cookie_secret", "redis_password")
    secret = charts.secret(namespace, admin_username="admin@storefleet.example",
                           **dict.fromkeys(keys, uuid.uuid4().hex))  # fmt: skip
    charts.apply(kubectl, namespace, secret, *rendered)
    kubectl("wait", "-n", namespace, "--for=condition=Complete", "job/medusa-setup",
            "--timeout=170s")  # fmt: skip
    charts.rolled_out(kubectl, namespace, "deployment/medusa", timeout=120)

    def config() -> tuple[int, Any]:
        return _through_ingress(real_cluster, f"{slug}.stores.localhost", "/storefront/config")

    eventually(lambda: config()[0] == 200, "the storefront through the ingress")
    assert config()[1]["store_name"] == f"Shop {slug}"
    _hardened(kubectl, namespace, charts.pod_of(kubectl, namespace, "deployment/medusa"))
    kubectl("delete", "namespace", namespace, "--wait=false")
