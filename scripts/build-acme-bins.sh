#!/usr/bin/env bash
# Builds the ACME server the certificate tests issue from: Pebble (MPL-2.0), Let's
# Encrypt's small test CA, from its Go module, with pebble-challtestsrv from the same
# module (a DNS server that answers every A query with one address, 127.0.0.1 unless
# told otherwise: `pebble -dnsserver` pointed at it resolves any test domain to the
# node's ingress). Beside the binaries, in certs/, go the files of the module's
# test/certs that a Pebble configuration names: the certificate and key it serves its
# ACME directory with (localhost/cert.pem and key.pem, for localhost and 127.0.0.1) and
# the minica root that signed them (pebble.minica.pem), which a client must trust to
# reach the directory. The chain Pebble issues certificates under is generated afresh at
# each start (GET /roots/0 and /intermediates/0 on its management port).
#
# The binaries land in a cache outside the checkout keyed by the version, so only the
# first build on a machine takes time (under a minute). Prints the bin directory on its
# last line.
set -euo pipefail

PEBBLE_VERSION="${PEBBLE_VERSION:-2.10.3}"
CACHE="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}"
BIN="$CACHE/acme/pebble-$PEBBLE_VERSION"
MODULE="github.com/letsencrypt/pebble/v2"

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
log() { printf '[build-acme-bins] %s\n' "$*" >&2; }

if [ ! -x "$BIN/pebble" ] || [ ! -x "$BIN/pebble-challtestsrv" ]; then
  start=$(date +%s)
  log "building pebble v$PEBBLE_VERSION"
  work="$BIN.partial"
  rm -rf "$work" && mkdir -p "$work/certs"
  GOBIN="$work" go install -trimpath -ldflags "-s -w -X main.version=v$PEBBLE_VERSION" \
    "$MODULE/cmd/pebble@v$PEBBLE_VERSION" \
    "$MODULE/cmd/pebble-challtestsrv@v$PEBBLE_VERSION"
  src=$(cd /tmp && go mod download -json "$MODULE@v$PEBBLE_VERSION" |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  cp -r "$src/test/certs/localhost" "$work/certs/localhost"
  cp "$src/test/certs/pebble.minica.pem" "$work/certs/pebble.minica.pem"
  chmod -R u+w "$work/certs"
  rm -rf "$BIN" && mv "$work" "$BIN"
  log "done in $(( $(date +%s) - start ))s"
fi
echo "$BIN"
