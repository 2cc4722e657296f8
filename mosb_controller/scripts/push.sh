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
#   MOSB_CA_DIR         optional directory of CA certificates (*.crt) to trust
#   MOSB_IMAGE_FORMAT   oci (default) | docker; the per-arch images must be of that format
#   MOSB_REGISTRIES_CONF optional path of the cluster's registries.conf (see common.sh)
#   MOSB_RESULT_FILE    where the result goes (default /dev/termination-log)
# Every per-arch image is checked first (exists, is a single image of the stated
# architecture and format); nothing is pushed under the final tag unless all pass. Only
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
  if [ -n "$list_name" ]; then buildah manifest rm "$list_name" >/dev/null 2>&1 || true; fi
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
problems=()
for i in "${!arches[@]}"; do
  a=${arches[$i]}
  r=${refs[$i]}
  echo "mosb: checking the linux/$a image $r"
  if ! capture_step "$work/raw.$i" skopeo "${regconf_opts[@]}" inspect --raw \
    "${registry_opts[@]}" -- "docker://$r"; then
    if log_has "$not_found_re"; then
      problems+=("image for $a is missing: $r")
      continue
    fi
    # not about this image (credentials, TLS, network): one clear cause, stop here
    cause=$(target_cause)
    fail "reading the image for $a ($r) failed${cause:+: $cause}; nothing was pushed to $target"
  fi
  raw=$(cat -- "$work/raw.$i")
  case "$raw" in
    *manifest.list.v2+json* | *image.index.v1+json*)
      problems+=("image for $a is a manifest list, not a single image: $r")
      continue
      ;;
  esac
  kind=unknown
  if [[ $raw =~ \"mediaType\"[[:space:]]*:[[:space:]]*\"application/vnd\.(oci|docker)\. ]]; then
    kind=${BASH_REMATCH[1]}
  fi
  if [ "$kind" != "$image_format" ]; then
    problems+=("image for $a is not of format $image_format (found $kind): $r")
    continue
  fi
  if ! capture_step "$work/platform.$i" skopeo "${regconf_opts[@]}" inspect --no-tags \
    --format '{{.Os}}/{{.Architecture}}' "${registry_opts[@]}" -- "docker://$r"; then
    cause=$(target_cause)
    fail "reading the config of the image for $a ($r) failed${cause:+: $cause}; nothing was pushed to $target"
  fi
  platform=$(cat -- "$work/platform.$i")
  if [ "$platform" != "linux/$a" ]; then
    problems+=("image for $a declares platform $platform, not linux/$a: $r")
  fi
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
