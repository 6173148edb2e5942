#!/usr/bin/env bash
# Builds Prometheus's promtool from its Go module, for the chart's alert rule tests
# (tests/chart/test_alert_rules.py runs `promtool test rules` on the rendered
# PrometheusRule: the rules are evaluated by Prometheus's own engine, not read).
#
# Prometheus 3.x tags its Go module v0.3XY.Z (3.16.0 is v0.316.0). The binary lands in a
# cache outside the checkout keyed by its version, so only the first build on a machine
# is slow (about four minutes on two cores, most of it downloading and compiling
# Prometheus's service-discovery SDKs). Prints the bin directory on its last line.
set -euo pipefail

PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-3.16.0}"
CACHE="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}"
BIN="$CACHE/promtool/prometheus-$PROMETHEUS_VERSION"
MODULE_VERSION="v0.$(( ${PROMETHEUS_VERSION%%.*} * 100 + $(cut -d. -f2 <<<"$PROMETHEUS_VERSION") )).${PROMETHEUS_VERSION##*.}"

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
log() { printf '[build-promtool] %s\n' "$*" >&2; }

if [ ! -x "$BIN/promtool" ]; then
  start=$(date +%s)
  log "building promtool of Prometheus $PROMETHEUS_VERSION ($MODULE_VERSION)"
  rm -rf "$BIN.partial" && mkdir -p "$BIN.partial"
  GOBIN="$BIN.partial" go install -trimpath \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@$MODULE_VERSION"
  rm -rf "$BIN" && mv "$BIN.partial" "$BIN"
  log "done in $(( $(date +%s) - start ))s"
fi
echo "$BIN"
