#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine (Debian 12, root or sudo):
# system packages, a virtualenv with the package and its dev tools, and the pinned
# Kubernetes binaries (control plane, kubelet) + kwok, promtool and the prometheus-operator
# CRDs, the test base images and the real node's images (cached under
# ~/.cache/mosb-controller), and qemu-user binfmt handlers for foreign-arch RUN steps.
# Idempotent: a second run only checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { echo "setup: $*" >&2; }

apt_packages=(etcd-server buildah skopeo docker-registry apache2-utils golang-go qemu-user-static
  tinyproxy) # the proxy tests' HTTP CONNECT proxy: they run their own instance, never its service
# The real node (hack/realnode.py): its runtime, its pods' network, the images it runs.
apt_packages+=(containerd runc containernetworking-plugins iproute2 mmdebstrap)
missing=()
for p in "${apt_packages[@]}"; do
  [ "$p" = golang-go ] && command -v go >/dev/null && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's etcd-server package starts a system etcd on 2379; we run our own on other ports.
# Likewise containerd: hack/realnode.py runs its own, with its own socket, root and config.

venv="$root/.venv"
stamp="$venv/.installed-$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "creating virtualenv and installing the package (editable) with dev tools"
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -e "$root[dev]"
  rm -f "$venv"/.installed-*; touch "$stamp"
fi

"$root/hack/build-kube.sh" >/dev/null
"$root/hack/build-promtool.sh" >/dev/null  # promtool and the prometheus-operator CRDs
"$root/hack/build-bases.sh" >/dev/null
# The real node's builder and pause images; without them its tests skip (fail in CI).
"$root/hack/build-node-images.sh" >/dev/null || log "the real node's images were not built"
# Test fixture: foreign-architecture RUN steps of local builds run through qemu-user.
# Where it can't be set up, tests with RUN steps skip (and fail in CI), saying so.
binfmt=("$root/hack/binfmt.sh"); [ "$(id -u)" -eq 0 ] || binfmt=(sudo "${binfmt[@]}")
"${binfmt[@]}" || log "foreign-architecture RUN steps will not run on this machine"
log "ready"
