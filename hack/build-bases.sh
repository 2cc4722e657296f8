#!/usr/bin/env bash
# TEST FIXTURE builder: the local stand-ins for the multi-architecture RHCOS base image.
#
# For each architecture the project builds (amd64, arm64, ppc64le, s390x) it downloads
# Debian's busybox-static for that architecture through apt (a private apt configuration:
# the machine's own sources, architectures and state are left as they are), and makes two
# single-architecture OCI images of it:
#   userland-<arch>  busybox as /bin/busybox with its applets (sh, coreutils, uname, …),
#                    so a RUN step has a shell of the image's own architecture
#   os-like-<arch>   the same plus recording stand-ins for the OS tools the upstream OCL
#                    template calls (hack/fixtures/os-tools/record-call.sh installed as
#                    ignition-apply, rpm-ostree, ostree and update-ca-trust)
# into an OCI layout cached like the Kubernetes binaries:
#   ~/.cache/mosb-controller/bases-<key>/layout   (key: a hash of this script and the
#   fixtures, so an edit of either builds again; a warm run builds and fetches nothing)
#   ~/.cache/mosb-controller/bases-<key>/bases.json  what went in (packages, versions, sha256)
# hack/registry.py's seed_base_image takes its per-architecture images from there.
# A foreign architecture's RUN steps run through qemu-user binfmt (hack/binfmt.sh); this
# script runs none. --path prints the cache directory without building.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "build-bases: $*" >&2; }

suite=bookworm
mirror=${MOSB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
arches=(amd64 arm64 ppc64le s390x)
tools=(ignition-apply rpm-ostree ostree update-ca-trust)
fixtures="$here/fixtures/os-tools"

cache=${MOSB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosb-controller}
key=$(cat -- "$0" "$fixtures"/* | sha256sum | cut -c1-16)
out="$cache/bases-$key"
if [ "${1:-}" = --path ]; then
  echo "$out"
  exit 0
fi
if [ -f "$out/bases.json" ]; then
  echo "$out"
  exit 0
fi

# Debian's name of an architecture, where it differs from the OCI one.
debian_arch() { if [ "$1" = ppc64le ]; then echo ppc64el; else echo "$1"; fi; }

for tool in apt-get dpkg-deb buildah tar; do
  command -v "$tool" >/dev/null || { log "missing $tool"; exit 1; }
done
host_arch=$(dpkg --print-architecture)
case " ${arches[*]/ppc64le/ppc64el} " in
  *" $host_arch "*) ;;
  *) log "this host ($host_arch) is none of ${arches[*]}: its busybox lists the applets"; exit 1 ;;
esac

mkdir -p "$cache"
work=$(mktemp -d "$cache/bases-build.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# --- fetch: a private apt, so the machine's apt setup is never touched ------------------
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$work/debs"
: >"$apt_dir/status"
debian_arches=()
for a in "${arches[@]}"; do debian_arches+=("$(debian_arch "$a")"); done
printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" >"$apt_dir/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/none"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status"
  -o "Dir::Cache=$apt_dir" -o "Dir::Cache::archives=$apt_dir/archives"
  -o "APT::Architecture=$host_arch"
  -o "APT::Architectures=$(IFS=,; echo "${debian_arches[*]}")"
  -o Debug::NoLocking=1 -o APT::Sandbox::User=root
)
log "fetching the $suite package lists for ${debian_arches[*]} (cold: once)"
apt-get "${apt_opts[@]}" -qq update
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download \
  "${debian_arches[@]/#/busybox-static:}" >/dev/null)

# --- the applet list: from this host's own busybox (same version and configuration) ---
deb_of() { ls "$work/debs"/busybox-static_*_"$1".deb; }
dpkg-deb -x "$(deb_of "$host_arch")" "$work/host"
"$work/host/bin/busybox" --list-full >"$work/applets"

# --- images -----------------------------------------------------------------------------
store="$work/buildah"
bah() {
  TMPDIR="$work" buildah --root "$store/root" --runroot "$store/runroot" \
    --storage-driver vfs "$@"
}
layout="$work/out/layout"
mkdir -p "$layout"
manifest="$work/out/bases.json.parts"
: >"$manifest"
for a in "${arches[@]}"; do
  d=$(debian_arch "$a")
  deb=$(deb_of "$d")
  root="$work/rootfs-$a"
  dpkg-deb -x "$deb" "$root"
  rm -rf -- "$root/usr/share/doc"
  while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname -- "$applet")"
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done <"$work/applets"
  mkdir -p "$root/tmp" "$root/root" "$root/etc" "$root/var/tmp"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  printf 'ID=mosb-test-base\nNAME="mosb-controller test base (busybox-static %s, %s)"\n' \
    "$(dpkg-deb -f "$deb" Version)" "$a" >"$root/etc/os-release"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$work/rootfs-$a.tar" .

  ctr=$(bah from --name "userland-$a" scratch)
  bah add "$ctr" "$work/rootfs-$a.tar" / >/dev/null
  bah config --arch "$a" --os linux --cmd /bin/sh \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label io.mosb.test.fixture=true --label "io.mosb.test.base-flavour=userland" "$ctr"
  bah commit -q --format oci "$ctr" "oci:$layout:userland-$a" >/dev/null
  for tool in "${tools[@]}"; do
    bah copy --chmod 0755 "$ctr" "$fixtures/record-call.sh" "/usr/bin/$tool" >/dev/null
  done
  bah config --label "io.mosb.test.base-flavour=os-like" "$ctr"
  bah commit -q --format oci "$ctr" "oci:$layout:os-like-$a" >/dev/null
  bah rm "$ctr" >/dev/null
  printf '{"arch":"%s","package":"busybox-static:%s","version":"%s","sha256":"%s"}\n' \
    "$a" "$d" "$(dpkg-deb -f "$deb" Version)" "$(sha256sum "$deb" | cut -c1-64)" >>"$manifest"
  log "built userland-$a and os-like-$a"
done
python3 - "$manifest" "$suite" "$work/out/bases.json" <<'PY'
import json, sys
parts, suite, dest = sys.argv[1:]
with open(parts) as f:
    images = [json.loads(line) for line in f]
json.dump({"suite": suite, "images": images, "flavours": ["userland", "os-like"]},
          open(dest, "w"), indent=1)
PY
rm -f -- "$manifest"
# Publish whole or not at all (one rename): a half-built directory never looks built.
# A concurrent run may have published the same key first; its result is as good.
if ! mv -T -- "$work/out" "$out" 2>/dev/null && [ ! -f "$out/bases.json" ]; then
  log "could not publish $out"
  exit 1
fi
echo "$out"
