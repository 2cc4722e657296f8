#!/usr/bin/env bash
# TEST FIXTURE builder: the container images the real node (hack/realnode.py) runs,
# made here from Debian packages (no other registry is reachable from this machine):
#   builder-amd64            bash, buildah and skopeo from Debian (mmdebstrap rootfs,
#                            `buildah from scratch`): the build and push Jobs' image.
#                            amd64 only: the real node is this amd64 machine; the other
#                            architectures' pods run on kwok nodes through the harness.
#   builder-nobuildah-amd64  the same with /usr/bin/buildah removed: a builder image that
#                            cannot work, to show how such a build pod fails.
#   pause-amd64              the same rootfs waiting for SIGTERM: containerd's sandbox
#                            image (the upstream pause image is not reachable here).
#   operator-base-amd64      python3.11 (+venv) and skopeo from Debian, and a microdnf
#                            stand-in (hack/fixtures/operator-base/microdnf): both bases
#                            of the project's Containerfile when built here
#                            (hack/operatorimage.py); its pip trusts this machine's CA
#                            bundle, as this machine's egress to PyPI needs.
# into an OCI layout cached like the Kubernetes binaries:
#   ~/.cache/mosb-controller/node-images-<key>/layout  (key: a hash of this script, so an
#   edit builds again; a warm run builds and fetches nothing)
#   ~/.cache/mosb-controller/node-images-<key>/images.json  what went in (package versions)
# hack/realnode.py copies them into each local registry it uses. --path prints the cache
# directory without building.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "build-node-images: $*" >&2; }
fixtures="$here/fixtures/operator-base"

suite=bookworm
mirror=${MOSB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${MOSB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosb-controller}
key=$(cat -- "$0" "$fixtures"/* | sha256sum | cut -c1-16)
out="$cache/node-images-$key"
if [ "${1:-}" = --path ]; then
  echo "$out"
  exit 0
fi
if [ -f "$out/images.json" ]; then
  echo "$out"
  exit 0
fi
for tool in mmdebstrap buildah; do
  command -v "$tool" >/dev/null || { log "missing $tool (hack/setup.sh installs it)"; exit 1; }
done
[ "$(dpkg --print-architecture)" = amd64 ] || { log "the real node's images are amd64 only"; exit 1; }

mkdir -p "$cache"
work=$(mktemp -d "$cache/node-images-build.XXXXXX")
store="$work/buildah"
bah() {
  TMPDIR="$work" buildah --root "$store/root" --runroot "$store/runroot" \
    --storage-driver vfs "$@"
}
cleanup() {
  # vfs layers may hold read-only directories; buildah removes its own storage best.
  bah rm --all >/dev/null 2>&1 || true
  rm -rf -- "$work"
}
trap cleanup EXIT

log "debootstrapping $suite with bash, buildah, skopeo (cold: a minute or two)"
# essential: Debian's Essential packages only (bash, coreutils, …), no apt inside;
# no docs, man pages or locales: nothing a build reads.
mmdebstrap --quiet --variant=essential --arch=amd64 \
  --include=buildah,skopeo,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='chroot "$1" dpkg-query -W -f="\${Package} \${Version}\n" >"$1/.packages"' \
  "$suite" "$work/rootfs.tar" "$mirror"
tar -xOf "$work/rootfs.tar" ./.packages >"$work/packages"

layout="$work/out/layout"
mkdir -p "$layout"
env_opts=(
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  # As the upstream buildah image: no kernel overlay or user namespace needed in a pod.
  --env STORAGE_DRIVER=vfs --env BUILDAH_ISOLATION=chroot
)
ctr=$(bah from --name builder scratch)
bah add "$ctr" "$work/rootfs.tar" / >/dev/null
bah config --arch amd64 --os linux "${env_opts[@]}" --cmd /bin/bash \
  --label io.mosb.test.fixture=true --label io.mosb.test.image=builder "$ctr"
bah commit -q --rm "$ctr" localhost/builder >/dev/null
bah push -q localhost/builder "oci:$layout:builder-amd64"

# The two others are layers on top of the builder's (a whiteout, a config change); pushed
# alike (gzip), they share its layer blob in the layout.
ctr=$(bah from --name nobuildah localhost/builder)
bah config --label io.mosb.test.image=builder-nobuildah "$ctr"
mnt=$(bah mount "$ctr")
rm -f -- "$mnt/usr/bin/buildah"
bah umount "$ctr" >/dev/null
bah commit -q --rm "$ctr" localhost/builder-nobuildah >/dev/null
bah push -q localhost/builder-nobuildah "oci:$layout:builder-nobuildah-amd64"

# The sandbox keeps the pod's namespaces; bash as PID 1 exits on the runtime's SIGTERM.
ctr=$(bah from --name pause localhost/builder)
bah config --label io.mosb.test.image=pause --cmd '' \
  --entrypoint '["/bin/bash","-c","trap \"exit 0\" TERM INT; sleep infinity & wait"]' "$ctr"
bah commit -q --rm "$ctr" localhost/pause >/dev/null
bah push -q localhost/pause "oci:$layout:pause-amd64"

log "debootstrapping $suite with python3.11 and skopeo"
mmdebstrap --quiet --variant=essential --arch=amd64 \
  --include=python3.11,python3.11-venv,skopeo,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  "$suite" "$work/python.tar" "$mirror"
ctr=$(bah from --name operator-base scratch)
bah add "$ctr" "$work/python.tar" / >/dev/null
bah copy --chmod 0755 "$ctr" "$fixtures/microdnf" /usr/bin/microdnf >/dev/null
bah copy "$ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/host-ca-bundle.crt >/dev/null
bah config --arch amd64 --os linux --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt --cmd /bin/bash \
  --label io.mosb.test.fixture=true --label io.mosb.test.image=operator-base "$ctr"
bah commit -q --rm "$ctr" localhost/operator-base >/dev/null
bah push -q localhost/operator-base "oci:$layout:operator-base-amd64"

python3 - "$work/packages" "$suite" "$work/out/images.json" <<'PY'
import json, sys
packages, suite, dest = sys.argv[1:]
with open(packages) as f:
    versions = dict(line.split(" ", 1) for line in f.read().splitlines() if line)
wanted = ("bash", "buildah", "skopeo")
json.dump({"suite": suite, "arch": "amd64",
           "images": ["builder-amd64", "builder-nobuildah-amd64", "pause-amd64",
                      "operator-base-amd64"],
           "packages": {p: versions[p] for p in wanted}}, open(dest, "w"), indent=1)
PY
# Publish whole or not at all (one rename), as hack/build-bases.sh does.
if ! mv -T -- "$work/out" "$out" 2>/dev/null && [ ! -f "$out/images.json" ]; then
  log "could not publish $out"
  exit 1
fi
log "built builder-amd64, builder-nobuildah-amd64, pause-amd64, operator-base-amd64"
echo "$out"
