#!/bin/bash
# mosb-controller: join the per-architecture images into one manifest list and push it.
#
# Run by the push Job once every architecture's image is built (or reused). This script is
# fixed: every admin-supplied value arrives in an environment variable or a file and is
# used only as data (quoted argv, never eval'd). Credentials are never printed.
#
# Environment (the controller's Job renderer must match this contract):
#   MOSB_TARGET_IMAGE   host[:port]/path/name:tag of the list (tag: the MOSB name)
#   MOSB_ARCH_IMAGES    one line per architecture: "<arch> <repo>@sha256:<64 hex>", where
#                       <repo> is the repository of MOSB_TARGET_IMAGE
#   MOSB_PUSH_AUTHFILE  path of a .dockerconfigjson (required)
#   MOSB_TLS_VERIFY     true (default) | false
#   MOSB_CA_DIR         optional directory of CA certificates (*.crt) to trust: the
#                       registry CA, the cluster's trust bundle, the service CA
#   MOSB_IMAGE_FORMAT   oci (default) | docker; the per-arch images must be of that format
#   MOSB_REGISTRIES_CONF optional path of the cluster's registries.conf (see common.sh)
#   MOSB_RESULT_FILE    where the result goes (default /dev/termination-log)
#   HTTP_PROXY, HTTPS_PROXY, NO_PROXY (and lowercase) optional: the cluster proxy, which
#                       buildah uses to reach the registry
# It needs bash, coreutils, grep, sed and buildah only: what upstream's builder, the MCO
# image, ships (no skopeo). Every per-arch image is checked first (exists, is a single
# image of the stated architecture and format); nothing is pushed under the final tag
# unless all pass. Only
# the list is pushed (manifest push without --all): the images are already in the target
# repository, so no layer is uploaded again.
# Result: on success exactly the list digest "sha256:<64 hex>" (no newline); on failure
# "error: <cause>" and the last lines of the failing command's output (under 2048 bytes).
# What this script shares with build.sh (failing, input checks, registry error causes) is
# in common.sh, next to it in the same ConfigMap.
set -euo pipefail
umask 077

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/common.sh"
list_name=""

# Called by cleanup (common.sh) on exit: drop the local manifest list, if one was made.
cleanup_extra() {
  drop_list
}
install_traps push.sh

# Like run_step, but stdout goes to the file $1 (only stderr to the log).
capture_step() {
  local out=$1 rc=0
  shift
  : >"$step_log"
  "$@" >"$out" 2>"$step_log" || rc=$?
  cat -- "$step_log" >&2
  return "$rc"
}

# Plain-words cause of a failure talking to the target registry found in $step_log
# (empty if none is recognised).
target_cause() {
  registry_cause "$target_host" "push secret" "$not_found_re|blob unknown" "not found" || true
}

arch_ref_re="^${repo_re}@sha256:[0-9a-f]{64}\$"

# --- validate inputs ---------------------------------------------------------------
check_target_image
check_push_authfile
check_registry_settings
check_containers_config

arches=()
refs=()
line_no=0
while IFS= read -r line || [ -n "$line" ]; do
  line_no=$((line_no + 1))
  line=${line%$'\r'}
  if [ -z "${line//[[:space:]]/}" ]; then continue; fi
  if ! [[ $line =~ ^[[:space:]]*([a-z0-9]+)[[:space:]]+([^[:space:]]+)[[:space:]]*$ ]]; then
    fail "MOSB_ARCH_IMAGES line $line_no is not of the form '<arch> <repo>@sha256:<digest>'"
  fi
  a=${BASH_REMATCH[1]}
  r=${BASH_REMATCH[2]}
  case "$a" in
    amd64 | arm64 | ppc64le | s390x) ;;
    *) fail "MOSB_ARCH_IMAGES line $line_no: architecture must be one of amd64, arm64, ppc64le, s390x" ;;
  esac
  if ! [[ $r =~ $arch_ref_re ]]; then
    fail "MOSB_ARCH_IMAGES: the image for $a is not a digested reference <repo>@sha256:<digest>"
  fi
  if [ "${r%@*}" != "$target_repo" ]; then
    fail "MOSB_ARCH_IMAGES: the image for $a ($r) is not in the target repository $target_repo"
  fi
  for seen in "${arches[@]}"; do
    if [ "$seen" = "$a" ]; then fail "MOSB_ARCH_IMAGES names $a more than once"; fi
  done
  arches+=("$a")
  refs+=("$r")
done <<<"${MOSB_ARCH_IMAGES:-}"
if [ ${#arches[@]} -eq 0 ]; then
  fail "MOSB_ARCH_IMAGES names no architecture images"
fi
# A fixed order, whatever the order of the lines: the list (and so its digest) is then a
# function of the set of (arch, digest) pairs only, and a re-run republishes the same digest.
sorted_arches=()
sorted_refs=()
for a in amd64 arm64 ppc64le s390x; do
  for i in "${!arches[@]}"; do
    if [ "${arches[$i]}" = "$a" ]; then
      sorted_arches+=("$a")
      sorted_refs+=("${refs[$i]}")
    fi
  done
done
arches=("${sorted_arches[@]}")
refs=("${sorted_refs[@]}")

# --- set up ------------------------------------------------------------------------
set_up_work
registry_opts=(--authfile "$push_auth" "${tls_opts[@]}")

# --- verify every per-arch image before anything is pushed ---------------------------
# With buildah alone (upstream's builder, the MCO image, ships no skopeo): each image is
# added to a throw-away list of its own without --arch, so buildah reads its platform from
# the image's config; the list then shows the manifest's media type and that platform.
# Adding a manifest list by digest silently adds this machine's instance of it instead,
# whose digest differs from the one asked for: that is how a list is told apart.
check_image() { # $1 arch, $2 reference, $3 index: appends to problems, or fails
  local a=$1 r=$2 i=$3 added listed platform kind=unknown
  list_name="localhost/mosb-check:push-$$-$i"
  if ! run_step buildah manifest create -- "$list_name"; then
    fail "could not create a local manifest list"
  fi
  if ! capture_step "$work/added.$i" buildah "${regconf_opts[@]}" manifest add \
    "${registry_opts[@]}" -- "$list_name" "docker://$r"; then
    if log_has "$not_found_re"; then
      problem "image for $a is missing: $r"
      return 0
    fi
    # not about this image (credentials, TLS, network): one clear cause, stop here
    cause=$(target_cause)
    fail "reading the image for $a ($r) failed${cause:+: $cause}; nothing was pushed to $target"
  fi
  added=$(cat -- "$work/added.$i")
  if [ "${added##* }" != "${r#*@}" ]; then
    problem "image for $a is a manifest list, not a single image: $r"
    return 0
  fi
  if ! capture_step "$work/listed.$i" buildah manifest inspect -- "$list_name"; then
    fail "could not read back the local manifest list"
  fi
  drop_list
  listed=$(cat -- "$work/listed.$i")
  # one entry: its media type is the only single-image one, its platform the only one
  if [[ $listed == *'"application/vnd.oci.image.manifest.v1+json"'* ]]; then
    kind=oci
  elif [[ $listed == *'"application/vnd.docker.distribution.manifest.v2+json"'* ]]; then
    kind=docker
  fi
  if [ "$kind" != "$image_format" ]; then
    problem "image for $a is not of format $image_format (found $kind): $r"
    return 0
  fi
  platform="$(json_string os "$listed")/$(json_string architecture "$listed")"
  if [ "$platform" != "linux/$a" ]; then
    problem "image for $a declares platform $platform, not linux/$a: $r"
  fi
}

# Remove the local list being made, if any (it holds no layers: only manifests).
drop_list() {
  if [ -n "$list_name" ]; then buildah manifest rm -- "$list_name" >/dev/null 2>&1 || true; fi
  list_name=""
}

problem() {
  problems+=("$1")
  drop_list
}

# The value of the first "$1": "<string>" member in the JSON text $2 (empty if none).
json_string() {
  local re="\"$1\"[[:space:]]*:[[:space:]]*\"([^\"]*)\""
  if [[ $2 =~ $re ]]; then echo "${BASH_REMATCH[1]}"; fi
}

problems=()
for i in "${!arches[@]}"; do
  echo "mosb: checking the linux/${arches[$i]} image ${refs[$i]}"
  check_image "${arches[$i]}" "${refs[$i]}" "$i"
done
if [ ${#problems[@]} -gt 0 ]; then
  msg=${problems[0]}
  for p in "${problems[@]:1}"; do msg+="; $p"; done
  step_log=""
  fail "$msg; nothing was pushed to $target"
fi

# --- assemble the list by digest and push only the list ------------------------------
list_name="localhost/mosb-manifest-list:push-$$-$RANDOM"
if ! run_step buildah manifest create -- "$list_name"; then
  fail "could not create a local manifest list"
fi
for i in "${!arches[@]}"; do
  a=${arches[$i]}
  r=${refs[$i]}
  if ! run_step buildah "${regconf_opts[@]}" manifest add --arch "$a" --os linux \
    "${registry_opts[@]}" -- "$list_name" "docker://$r"; then
    cause=$(target_cause)
    fail "adding the linux/$a image $r to the list failed${cause:+: $cause}"
  fi
done
echo "mosb: pushing the manifest list of ${arches[*]} to $target"
# No --all: in buildah 1.28 --all also copies every image of the list; without it only
# the list itself is written (the images are already in this repository by digest).
if ! run_step buildah "${regconf_opts[@]}" manifest push --format "$manifest_format" \
  "${registry_opts[@]}" --digestfile "$work/digest" -- "$list_name" "docker://$target"; then
  cause=$(target_cause)
  fail "push of the manifest list to $target failed${cause:+: $cause}"
fi
finish_with_digest "push of the manifest list"
