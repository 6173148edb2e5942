# storefleet's developer commands. On a fresh machine run them through ./dev, which
# installs the prerequisites first (./dev up, ./dev test).

set dotenv-load := false
export PATH := justfile_directory() + "/.venv/bin:" + env_var("PATH")

python := justfile_directory() + "/.venv/bin/python"

# list the recipes
default:
    @just --list

# install the prerequisites (Debian packages, venv, Go-built control plane, helm, versitygw, promtool)
bootstrap:
    bash scripts/bootstrap.sh

# start the whole platform (NATS, Postgres, control plane, services, dashboard); Ctrl-C stops all
up:
    {{python}} -m devtools.platform up

# stop a platform started by `just up` in another terminal
down:
    {{python}} -m devtools.platform down

# build the dashboard into web/dist (`just up` does it when the sources changed)
web:
    {{python}} -m devtools.platform web

# run the full test suite against real Postgres, NATS and a local control plane, on two
# workers: one takes the real-node tests (mostly waiting), the other the rest
# (tests/fixtures/sharing.py); `just test -n 0 ...` runs in one process
test *args:
    {{python}} -m pytest -n 2 {{args}}

# ruff, mypy --strict and the import contracts
lint:
    ruff check shared services devtools tests scripts images/backup
    ruff format --check shared services devtools tests scripts images/backup
    mypy
    lint-imports

# format the Python code
fmt:
    ruff format shared services devtools tests scripts images/backup
    ruff check --fix shared services devtools tests scripts images/backup

# run the benchmarks (all, or those named); figures go to .run/bench/
bench *names:
    {{python}} -m tests.bench {{names}}

# the platform on simulated nodes under users' load and an administrator's engine rollouts
# while services are killed, then its invariants checked; exits non-zero on a violation
# (workspace .run/soak)
soak minutes="3":
    {{python}} -m devtools.soak --minutes {{minutes}}

# start the local control plane (kind: kwok = simulated nodes, real = with a real worker
# node); kubeconfig at .run/kubeconfig
cluster-up kind="kwok":
    {{python}} -m devtools.cluster_cli up {{kind}} --dir .run/cluster --kubeconfig .run/kubeconfig

# stop the local control plane, and its real node if it has one
cluster-down:
    {{python}} -m devtools.cluster_cli down --dir .run/cluster

# regenerate schemas/events, web/src/live/lifecycle.gen.ts and the chart's NATS permissions from shared/
schemas:
    {{python}} scripts/generate_schemas.py

# build the control-plane binaries and helm (cached outside the checkout)
cluster-bins:
    bash scripts/build-cluster-bins.sh

# build the real node's binaries: kubelet, kube-proxy, kube-router, Traefik, CoreDNS, ...
node-bins:
    bash scripts/build-node-bins.sh

# build the S3-compatible server backups use in tests and `just up` (versitygw, cached)
objectstore-bins:
    bash scripts/build-objectstore-bins.sh

# build the OpenID Connect provider the single sign-on tests sign in through (Dex, cached)
oidc-bins:
    bash scripts/build-oidc-bins.sh

# build the test ACME server (Pebble) and its DNS server for test domains (cached)
acme-bins:
    bash scripts/build-acme-bins.sh

# build cert-manager's controller and HTTP-01 solver from tools/certmanager (cached)
certmanager-bins:
    bash scripts/build-certmanager-bins.sh

# build Prometheus's promtool, which the alert rule tests evaluate the chart's rules with (cached)
promtool:
    bash scripts/build-promtool.sh

# build the images (OCI archives, cached) and import them into the real node if one runs
images *names:
    {{python}} -m devtools.images build {{names}}
    {{python}} -m devtools.node import-images {{names}}
