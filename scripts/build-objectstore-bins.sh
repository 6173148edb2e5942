#!/usr/bin/env bash
# Builds the S3-compatible server that tests and `just up` run as the backups' object
# storage: the Versity S3 Gateway (versitygw, Apache-2.0) from its Go module, served
# from a plain directory by its posix backend. It checks SigV4 signatures, presigned
# query-string URLs (and their expiry) and multipart uploads as S3 does.
#
# The binary lands in a cache outside the checkout keyed by its version, so only the
# first build on a machine is slow (about two minutes). Prints the bin directory on its
# last line.
set -euo pipefail

VERSITYGW_VERSION="${VERSITYGW_VERSION:-1.8.0}"
CACHE="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}"
BIN="$CACHE/objectstore/versitygw-$VERSITYGW_VERSION"

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
log() { printf '[build-objectstore-bins] %s\n' "$*" >&2; }

if [ ! -x "$BIN/versitygw" ]; then
  start=$(date +%s)
  log "building versitygw v$VERSITYGW_VERSION"
  rm -rf "$BIN.partial" && mkdir -p "$BIN.partial"
  GOBIN="$BIN.partial" go install -trimpath \
    -ldflags "-s -w -X main.Version=v$VERSITYGW_VERSION -X main.Build=release" \
    "github.com/versity/versitygw/cmd/versitygw@v$VERSITYGW_VERSION"
  rm -rf "$BIN" && mv "$BIN.partial" "$BIN"
  log "done in $(( $(date +%s) - start ))s"
fi
echo "$BIN"
