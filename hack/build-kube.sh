#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet (from the Kubernetes
# Go modules) and kwok at the pinned versions into a cache outside the repo. A second run with
# the same versions builds nothing. Prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"
cache=${MOSB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosb-controller}
bin="$cache/kube-$KUBE_VERSION/bin"
kwok_bin="$cache/kwok-$KWOK_VERSION/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
# A private build cache, removed after a successful build: ~3.5 GB we never need again.
export GOCACHE="$cache/go-build-tmp"
log() { echo "build-kube: $*" >&2; }

kube_commands=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet)

missing_kube_commands() {
  local cmd
  for cmd in "${kube_commands[@]}"; do [ -x "$bin/$cmd" ] || echo "$cmd"; done
}

build_kube() {
  local work="$cache/kube-$KUBE_VERSION/wrapper" minor="v0.${KUBE_VERSION#v1.}"
  mkdir -p "$work" "$bin"
  cd "$work"
  [ -f go.mod ] || go mod init mosb.local/kubewrapper >/dev/null 2>&1
  # k8s.io/kubernetes replaces its staging modules with local paths; mirror every one of
  # those replaces with the published staging version, read from the pinned go.mod.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  local staging
  staging=$(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" | awk '{print $1}' | sort -u)
  [ -n "$staging" ] || { log "no staging replaces found in $gomod"; exit 1; }
  go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
  for m in $staging; do go mod edit -replace="$m=$m@$minor"; done
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  go mod tidy -e >/dev/null 2>&1 || true
  local minor_number ldflags
  minor_number=$(echo "$KUBE_VERSION" | cut -d. -f2)
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor_number"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  for cmd in $(missing_kube_commands); do
    log "building $cmd $KUBE_VERSION (cold: several minutes)"
    go build -trimpath -ldflags "$ldflags" -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
    mv "$bin/$cmd.tmp" "$bin/$cmd"
  done
}

build_kwok() {
  mkdir -p "$kwok_bin"
  log "installing kwok $KWOK_VERSION"
  GOBIN="$kwok_bin" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

[ -z "$(missing_kube_commands)" ] || build_kube
[ -x "$kwok_bin/kwok" ] || build_kwok
ln -sf "$kwok_bin/kwok" "$bin/kwok"
rm -rf "$GOCACHE"
echo "$bin"
