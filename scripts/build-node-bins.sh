#!/usr/bin/env bash
# Builds what a real worker node runs beside the local control plane, from Go modules:
# kubelet, kube-proxy and kubectl (from the control plane's own wrapper module, so they
# share its compiled packages), kube-router (NetworkPolicy only), Traefik (Ingress),
# local-path-provisioner (dynamic volumes) and CoreDNS (cluster DNS). containerd, runc
# and the CNI plugins are Debian packages (scripts/bootstrap.sh installs them).
#
# Each tool lands in its own cache directory keyed by its version, so bumping one
# rebuilds only that one. Prints `name=path` for every binary, one a line, last.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.36.3}"
# The only /v2 version the module proxy serves; NetworkPolicy enforcement only, on a
# throwaway local node.
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-2.1.0}"
# v3.7.x does not build from the proxy (a nested module missing from its zip).
TRAEFIK_VERSION="${TRAEFIK_VERSION:-3.6.12}"
LOCAL_PATH_VERSION="${LOCAL_PATH_VERSION:-0.0.30}"
COREDNS_VERSION="${COREDNS_VERSION:-1.15.0}"
CACHE="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}"
TOOLS="$CACHE/node"

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
log() { printf '[build-node-bins] %s\n' "$*" >&2; }

# The control plane's build makes the wrapper module these come from.
bash "$(dirname "$0")/build-cluster-bins.sh" >/dev/null

build_kubernetes_node() {
  local out="$1" dir="$CACHE/build/k8s-$K8S_VERSION" minor="${K8S_VERSION#*.}"
  minor="${minor%%.*}"
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  log "building kubelet, kube-proxy, kubectl v$K8S_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$out/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl)
}

build_kube_router() {
  log "building kube-router v$KUBE_ROUTER_VERSION"
  GOBIN="$1" go install -trimpath -ldflags "-s -w" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@v$KUBE_ROUTER_VERSION"
}

build_traefik() {
  # Its go.mod has replace directives, so `go install mod@version` is refused: build in a
  # copy of the module source, where that go.mod is the main module.
  local out="$1" src dir="$CACHE/build/traefik-$TRAEFIK_VERSION"
  log "building traefik v$TRAEFIK_VERSION"
  src=$(cd /tmp && go mod download -json "github.com/traefik/traefik/v3@v$TRAEFIK_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$dir" && mkdir -p "$(dirname "$dir")" && cp -r "$src" "$dir" && chmod -R u+w "$dir"
  (cd "$dir" && go build -trimpath -o "$out/traefik" \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=v$TRAEFIK_VERSION" \
    ./cmd/traefik)
  rm -rf "$dir"
}

build_local_path() {
  log "building local-path-provisioner v$LOCAL_PATH_VERSION"
  GOBIN="$1" go install -trimpath -ldflags "-s -w -X main.VERSION=v$LOCAL_PATH_VERSION" \
    "github.com/rancher/local-path-provisioner@v$LOCAL_PATH_VERSION"
}

build_coredns() {
  log "building coredns v$COREDNS_VERSION"
  GOBIN="$1" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@v$COREDNS_VERSION"
}

# tool version builder binaries...
TABLE=(
  "kubernetes $K8S_VERSION build_kubernetes_node kubelet kube-proxy kubectl"
  "kube-router $KUBE_ROUTER_VERSION build_kube_router kube-router"
  "traefik $TRAEFIK_VERSION build_traefik traefik"
  "local-path $LOCAL_PATH_VERSION build_local_path local-path-provisioner"
  "coredns $COREDNS_VERSION build_coredns coredns"
)

start=$(date +%s)
for row in "${TABLE[@]}"; do
  read -r tool version builder binaries <<<"$row"
  dir="$TOOLS/$tool-$version"
  missing=0
  for bin in $binaries; do [ -x "$dir/$bin" ] || missing=1; done
  if [ "$missing" = 1 ]; then
    mkdir -p "$dir.partial"
    "$builder" "$dir.partial"
    rm -rf "$dir" && mv "$dir.partial" "$dir"
  fi
done
log "done in $(( $(date +%s) - start ))s"
for row in "${TABLE[@]}"; do
  read -r tool version builder binaries <<<"$row"
  for bin in $binaries; do echo "$bin=$TOOLS/$tool-$version/$bin"; done
done
