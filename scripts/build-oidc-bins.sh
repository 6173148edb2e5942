#!/usr/bin/env bash
# Builds the OpenID Connect provider the single sign-on tests sign in through: Dex
# (Apache-2.0), from its Go module, with its embedded login pages and its static
# password connector.
#
# Dex tags its releases v2.x without a /v2 module path, so the module proxy serves them
# only as commits; DEX_VERSION is one of those (Dex 2.30, September 2021: authorization
# code with PKCE, nonce, RS256 ID tokens). Its module zip leaves out the nested
# api/v2 module its go.mod replaces with ./api/v2, so that module is fetched beside it.
#
# The binary lands in a cache outside the checkout keyed by its version, so only the
# first build on a machine is slow (about a minute and a half). Prints the bin directory
# on its last line.
set -euo pipefail

DEX_VERSION="${DEX_VERSION:-v0.0.0-20210917061239-f0186ff2651e}"
DEX_API_VERSION="${DEX_API_VERSION:-v2.0.0}"
CACHE="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}"
BIN="$CACHE/oidc/dex-$DEX_VERSION"

# Its SQLite storage (unused here) is built with cgo, so Dex needs gcc (bootstrap installs it).
export CGO_ENABLED=1 GOFLAGS=-mod=mod GOTOOLCHAIN=local
log() { printf '[build-oidc-bins] %s\n' "$*" >&2; }

module_dir() {
  go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

if [ ! -x "$BIN/dex" ]; then
  start=$(date +%s)
  log "building dex $DEX_VERSION"
  work="$BIN.partial"
  rm -rf "$work" && mkdir -p "$work"
  # `go mod download` needs a module to run in; an empty one in the work dir will do.
  (cd "$work" && go mod init storefleet.local/dexbuild >/dev/null 2>&1)
  src=$(cd "$work" && module_dir "github.com/dexidp/dex@$DEX_VERSION")
  api=$(cd "$work" && module_dir "github.com/dexidp/dex/api/v2@$DEX_API_VERSION")
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  mkdir -p "$work/src/api" && cp -r "$api" "$work/src/api/v2" && chmod -R u+w "$work/src/api"
  (cd "$work/src" && go build -trimpath -ldflags "-s -w" -o "$work/dex" ./cmd/dex)
  mkdir -p "$work/bin" && mv "$work/dex" "$work/bin/dex" && rm -rf "$work/src" "$work/go.mod"
  rm -rf "$BIN" && mv "$work/bin" "$BIN" && rm -rf "$work"
  log "done in $(( $(date +%s) - start ))s"
fi
echo "$BIN"
