#!/usr/bin/env bash
# Builds promtool (from the Prometheus Go module) and takes the ServiceMonitor and
# PrometheusRule CRDs (from the prometheus-operator Go module) at the pinned versions into
# the cache beside the Kubernetes binaries. A second run with the same versions builds
# nothing. Prints the promtool path on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
source "$here/versions.env"
cache=${MOSB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosb-controller}
bin="$cache/prometheus-$PROMETHEUS_VERSION/bin"
crds="$cache/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION/crds"
export GOTOOLCHAIN=local CGO_ENABLED=0
# Its own build cache (build-kube.sh removes its own when done), removed after a build.
export GOCACHE="$cache/go-build-promtool-tmp"
log() { echo "build-promtool: $*" >&2; }

build_promtool() {
  # The module's v0.3MM.P is Prometheus 3.MM.P: say so in `promtool --version`.
  local n=${PROMETHEUS_VERSION#v0.} minor patch
  minor=${n%%.*}
  patch=${n#*.}
  local version="$((minor / 100)).$((minor % 100)).$patch"
  log "building promtool $version ($PROMETHEUS_VERSION; cold: minutes)"
  mkdir -p "$bin"
  GOBIN="$bin.tmp" go install -trimpath \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$version" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
  mv "$bin.tmp/promtool" "$bin/promtool"
  rm -rf "$bin.tmp" "$GOCACHE"
}

take_crds() {
  log "taking the prometheus-operator $PROMETHEUS_OPERATOR_VERSION CRDs from its Go module"
  local dir
  dir=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$crds.tmp"
  # Only the kinds manifests/monitoring uses: the others are large and never applied.
  for kind in servicemonitors prometheusrules; do
    cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$crds.tmp/"
  done
  chmod -R u+w "$crds.tmp"
  rm -rf "$crds"
  mv "$crds.tmp" "$crds"
}

[ -x "$bin/promtool" ] || build_promtool
[ -f "$crds/monitoring.coreos.com_prometheusrules.yaml" ] || take_crds
echo "$bin/promtool"
