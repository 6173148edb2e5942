#!/usr/bin/env bash
# Builds cert-manager's controller and HTTP-01 solver (Apache-2.0) for the certificate
# tests: tools/certmanager holds our own main packages over cert-manager's main module
# (the module proxy does not serve its nested cmd/controller and cmd/acmesolver
# modules), pinned by tools/certmanager/go.mod. The webhook and cainjector are not
# built: issuing needs neither. The CRDs the controller needs are in the module's
# deploy/crds, copied beside the binaries as crds/ (apply them before starting it).
#
# The binaries land in a cache outside the checkout keyed by the cert-manager version
# and a hash of tools/certmanager, so only the first build on a machine, or after a
# change there, is slow (four and a half minutes cold on two busy cores). Prints the bin
# directory on its last line.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)/tools/certmanager"
CERTMANAGER_VERSION=$(sed -n 's#^\tgithub.com/cert-manager/cert-manager v\(.*\)$#\1#p' "$SRC/go.mod")
CACHE="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}"
SOURCES_HASH=$(cd "$SRC" && cat go.mod go.sum $(find . -name '*.go' | sort) | sha256sum | cut -c1-12)
BIN="$CACHE/certmanager/cert-manager-$CERTMANAGER_VERSION-$SOURCES_HASH"
MODULE="github.com/cert-manager/cert-manager"

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
log() { printf '[build-certmanager-bins] %s\n' "$*" >&2; }

if [ ! -x "$BIN/controller" ] || [ ! -x "$BIN/acmesolver" ]; then
  start=$(date +%s)
  log "building cert-manager v$CERTMANAGER_VERSION controller and acmesolver"
  work="$BIN.partial"
  rm -rf "$work" && mkdir -p "$work"
  ld="-s -w -X $MODULE/pkg/util.AppVersion=v$CERTMANAGER_VERSION"
  (cd "$SRC" && go build -trimpath -ldflags "$ld" -o "$work/" ./controller ./acmesolver)
  crds=$(cd "$SRC" && go mod download -json "$MODULE@v$CERTMANAGER_VERSION" |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')/deploy/crds
  mkdir -p "$work/crds" && cp "$crds"/*.yaml "$work/crds/" && chmod -R u+w "$work/crds"
  rm -rf "$BIN" && mv "$work" "$BIN"
  log "done in $(( $(date +%s) - start ))s"
fi
echo "$BIN"
