"""Session-wide test services. Each fixture module starts the real thing (Postgres from
initdb, MariaDB from mariadb-install-db, nats-server with JetStream, redis-server,
versitygw as S3-compatible object storage, a kube-apiserver control plane with kwok
nodes, knotd as an authoritative DNS server, Dex as an OpenID Connect provider, and,
per test module, Pebble with cert-manager's controller as an ACME issuer) unless an
environment variable points at an existing one (MariaDB, knotd, Dex and Pebble: none)."""

pytest_plugins = [
    "tests.fixtures.timing",
    "tests.fixtures.sharing",
    "tests.fixtures.tasks",
    "tests.fixtures.postgres",
    "tests.fixtures.mariadb",
    "tests.fixtures.nats",
    "tests.fixtures.redis",
    "tests.fixtures.objectstore",
    "tests.fixtures.cluster",
    "tests.fixtures.dns",
    "tests.fixtures.oidc",
    "tests.fixtures.acme",
]
