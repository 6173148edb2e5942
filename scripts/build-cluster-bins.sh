#!/usr/bin/env bash
# Builds the local control plane from Go modules: kube-apiserver, kube-controller-manager,
# kube-scheduler (through a small wrapper module that pins k/k's staging modules), etcd,
# kwok and helm. Binaries land in a cache outside the checkout, keyed by version, so only
# the first build on a machine is slow. Prints the bin directory on its last line.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
HELM_VERSION="${HELM_VERSION:-3.21.4}"
CACHE="${STOREFLEET_CACHE:-$HOME/.cache/storefleet}"
BIN="$CACHE/bin-k8s${K8S_VERSION}-etcd${ETCD_VERSION}-kwok${KWOK_VERSION}-helm${HELM_VERSION}"
BUILD="$CACHE/build"

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$BIN" "$BUILD"
log() { printf '[build-cluster-bins] %s\n' "$*" >&2; }
have() { [ -x "$BIN/$1" ]; }

build_kubernetes() {
  local dir="$BUILD/k8s-$K8S_VERSION" minor="${K8S_VERSION#*.}"
  minor="${minor%%.*}"
  mkdir -p "$dir"
  local gomod
  gomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    printf 'module storefleet.local/k8sbins\n\ngo 1.26\n\nrequire k8s.io/kubernetes v%s\n\n' "$K8S_VERSION"
    # k/k requires each staging module at v0.0.0 and replaces it with a local path; a
    # dependency's replace lines are ignored, so pin each one to its published tag.
    grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0\s*$' "$gomod" | awk -v v="v0.$minor.${K8S_VERSION##*.}" '{printf "replace %s => %s %s\n", $1, $1, v}' | sort -u
  } >"$dir/go.mod"
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  log "building kube-apiserver, kube-controller-manager, kube-scheduler v$K8S_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
}

build_etcd() {
  local dir="$BUILD/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  printf 'module storefleet.local/etcdbin\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$dir/go.mod"
  log "building etcd v$ETCD_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  log "building kwok v$KWOK_VERSION"
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  # kwok v0.8.0 has no built-in stages: its controller does only what these Stage objects
  # say. The set kwokctl embeds: node initialize, node heartbeat with lease (kwok renews the
  # node Leases itself), pod ready, pod complete (Job pods reach Succeeded) and pod delete
  # (without it nothing finalizes pods and namespaces never finish deleting). Named one by
  # one: the module also holds kustomizations, chaos stages and testdata.
  local src stage
  src=$(go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$BIN/kwok-stages"
  mkdir -p "$BIN/kwok-stages"
  for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    cp "$src/kustomize/stage/$stage.yaml" "$BIN/kwok-stages/"
  done
  chmod -R u+w "$BIN/kwok-stages"
}

# Bump when the helm build flags change, so cached binaries are rebuilt.
HELM_RECIPE=2

build_helm() {
  log "building helm v$HELM_VERSION"
  # As helm's own Makefile: the Kubernetes version `helm template` assumes without
  # --kube-version is its client-go's (v0.36), not the default v1.20.
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ld="$ld -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=36"
  done
  GOBIN="$BIN" go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  echo "$HELM_RECIPE" >"$BIN/helm.recipe"
}

start=$(date +%s)
have kube-apiserver && have kube-controller-manager && have kube-scheduler || build_kubernetes
have etcd || build_etcd
have kwok || build_kwok
{ have helm && [ "$(cat "$BIN/helm.recipe" 2>/dev/null)" = "$HELM_RECIPE" ]; } || build_helm
log "done in $(( $(date +%s) - start ))s"
echo "$BIN"
