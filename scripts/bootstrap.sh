#!/usr/bin/env bash
# Installs everything storefleet needs on a fresh machine, and nothing twice:
# Debian packages (Postgres server, MariaDB server and client for the backup tool's
# tests, Redis for the rate limit tests, Chromium for the dashboard's browser test, and
# for the real worker node containerd, runc, the CNI
# plugins, the firewall tools kube-proxy and kube-router use, and mmdebstrap for building
# images), the Python venv with the project and its dev tools (just, nats-server, ruff,
# mypy, pytest), the Go-built control plane, helm, the node's binaries, the backups'
# S3-compatible server (versitygw), Prometheus's promtool (the alert rule tests), the
# OpenID Connect provider the single sign-on tests sign in through (Dex), the test
# ACME server (Pebble) and cert-manager's controller and HTTP-01 solver the certificate
# tests issue with (cert-manager's first build takes about five minutes), and the
# dashboard's npm packages and build (web/dist).
# Safe to run again: each step checks first. Called by ./dev and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[bootstrap] %s\n' "$*" >&2; }

APT_PACKAGES=(postgresql mariadb-server mariadb-client redis-server openssl ca-certificates chromium
  containerd runc containernetworking-plugins iptables nftables ipset iproute2
  mmdebstrap busybox-static gcc libc6-dev knot)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Tests start their own throwaway mariadbd; a system one the package started would
  # only hold memory (and port 3306).
  if [[ " ${missing[*]} " == *" mariadb-server "* ]]; then
    if [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now mariadb >/dev/null 2>&1 || true
    else
      $SUDO service mariadb stop >/dev/null 2>&1 || true
    fi
  fi
  # Likewise knotd: the tests start their own (tests/fixtures/dns.py) on a free port.
  if [[ " ${missing[*]} " == *" knot "* ]]; then
    if [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now knot >/dev/null 2>&1 || true
    else
      $SUDO service knot stop >/dev/null 2>&1 || true
    fi
  fi
fi

PY="${PYTHON:-python3}"
stamp=.venv/.installed
if [ ! -x .venv/bin/python ] || [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "creating the Python venv in .venv"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

bash scripts/build-cluster-bins.sh >/dev/null
bash scripts/build-node-bins.sh >/dev/null
bash scripts/build-objectstore-bins.sh >/dev/null
bash scripts/build-promtool.sh >/dev/null
bash scripts/build-oidc-bins.sh >/dev/null
bash scripts/build-acme-bins.sh >/dev/null
bash scripts/build-certmanager-bins.sh >/dev/null

# The dashboard: Node.js comes with the machine; its packages from package-lock.json.
if ! command -v npm >/dev/null; then
  log "npm not found: install Node.js 20.19+ and npm, then run this again"
  exit 1
fi
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  log "installing the dashboard's npm packages (npm ci in web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
.venv/bin/python -c "from devtools.dashboard import ensure_dashboard; ensure_dashboard()"
log "ready"
