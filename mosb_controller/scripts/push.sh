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
#   MOSB_RESULT_FILE    where the result goes (default /dev/termination-log)
# Every per-arch image is checked first (exists, is a single image of the stated
# architecture and format); nothing is pushed under the final tag unless all pass. Only
# the list is pushed (manifest push without --all): the images are already in the target
# repository, so no layer is uploaded again.
# Result: on success exactly the list digest "sha256:<64 hex>" (no newline); on failure
# "error: <cause>" and the last lines of the failing command's output (under 2048 bytes).
set -euo pipefail
umask 077

result_file=${MOSB_RESULT_FILE:-/dev/termination-log}
work=""
step_log=""
list_name=""

fail() {
  trap - ERR
  local LC_ALL=C cause=$1 first tail="" budget # C: lengths below count bytes
  first="error: ${cause//$'\n'/ }"
  first=${first:0:1000}
  printf '%s\n' "$first" >&2
  if [ -n "$step_log" ] && [ -s "$step_log" ]; then
    # the last 20 lines of the failing command's output, whole lines only, so that
    # the message stays under 2048 bytes (the kubelet keeps at most 4096)
    budget=$((2000 - ${#first}))
    tail=$(tail -n 20 -- "$step_log" | tail -c "$budget" | sed '1{/^$/d}') || tail=""
    if [ "$(tail -n 20 -- "$step_log" | wc -c)" -gt "$budget" ]; then
      tail=$(printf '%s\n' "$tail" | sed 1d) || tail=""
    fi
  fi
  if [ -n "$tail" ]; then
    printf '%s\n%s\n' "$first" "$tail" >"$result_file" || true
  else
    printf '%s\n' "$first" >"$result_file" || true
  fi
  exit 1
}

cleanup() {
  if [ -n "$list_name" ]; then buildah manifest rm "$list_name" >/dev/null 2>&1 || true; fi
  if [ -n "$work" ]; then rm -rf -- "$work"; fi
}
trap cleanup EXIT
trap 'fail "push.sh stopped by a signal"' TERM INT
trap 'fail "push.sh: unexpected failure at line $LINENO"' ERR

run_step() {
  : >"$step_log"
  "$@" 2>&1 | tee -a -- "$step_log"
  return "${PIPESTATUS[0]}"
}

# Like run_step, but stdout goes to the file $1 (only stderr to the log).
capture_step() {
  local out=$1 rc=0
  shift
  : >"$step_log"
  "$@" >"$out" 2>"$step_log" || rc=$?
  cat -- "$step_log" >&2
  return "$rc"
}

# Plain-words cause of a registry failure found in $step_log; $1 names the registry.
registry_cause() {
  local reg=$1
  if grep -qiE 'unauthorized|authentication required|invalid username|incorrect username|access to the resource is denied' -- "$step_log"; then
    echo "authentication to registry $reg was refused (check the push secret)"
  elif grep -qiE 'x509|certificate' -- "$step_log"; then
    echo "TLS certificate of registry $reg is not trusted (check the CA certificates)"
  elif grep -qiE 'manifest unknown|not found|name unknown|blob unknown' -- "$step_log"; then
    echo "not found in registry $reg"
  elif grep -qiE 'connection refused|no such host|i/o timeout|network is unreachable|no route to host|connection reset' -- "$step_log"; then
    echo "cannot reach registry $reg"
  else
    echo ""
  fi
}

host_re='[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?'
comp_re='[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*'
tag_re='[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'
repo_re="(${host_re})((/${comp_re})+)"
target_re="^${repo_re}:(${tag_re})\$"
arch_ref_re="^${repo_re}@sha256:[0-9a-f]{64}\$"

# --- validate inputs ---------------------------------------------------------------
target=${MOSB_TARGET_IMAGE:-}
if [ ${#target} -gt 512 ] || ! [[ $target =~ $target_re ]]; then
  fail "MOSB_TARGET_IMAGE is not a valid image reference of the form host[:port]/path/name:tag"
fi
target_host=${BASH_REMATCH[1]}
target_repo=${target%:*}
case "$target_host" in
  *.* | *:* | localhost) ;;
  *) fail "MOSB_TARGET_IMAGE must name its registry host (with a dot or a port, or localhost)" ;;
esac

push_auth=${MOSB_PUSH_AUTHFILE:-}
if [ -z "$push_auth" ] || [ ! -f "$push_auth" ] || [ ! -r "$push_auth" ]; then
  fail "the push secret (MOSB_PUSH_AUTHFILE) is missing or unreadable"
fi
tls_verify=${MOSB_TLS_VERIFY:-true}
case "$tls_verify" in
  true | false) ;;
  *) fail "MOSB_TLS_VERIFY must be true or false" ;;
esac
ca_dir=${MOSB_CA_DIR:-}
if [ -n "$ca_dir" ] && [ ! -d "$ca_dir" ]; then
  fail "the CA directory (MOSB_CA_DIR) does not exist"
fi
case "${MOSB_IMAGE_FORMAT:-oci}" in
  oci) list_format=oci want_kind=oci ;;
  docker) list_format=v2s2 want_kind=docker ;;
  *) fail "MOSB_IMAGE_FORMAT must be oci or docker" ;;
esac

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
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
work=$(mktemp -d)
step_log="$work/step.log"
: >"$step_log"
registry_opts=(--authfile "$push_auth" --tls-verify="$tls_verify")
if [ -n "$ca_dir" ]; then registry_opts+=(--cert-dir "$ca_dir"); fi

# --- verify every per-arch image before anything is pushed ---------------------------
problems=()
for i in "${!arches[@]}"; do
  a=${arches[$i]}
  r=${refs[$i]}
  echo "mosb: checking the linux/$a image $r"
  if ! capture_step "$work/raw.$i" skopeo inspect --raw "${registry_opts[@]}" -- "docker://$r"; then
    if grep -qiE 'manifest unknown|not found|name unknown' -- "$step_log"; then
      problems+=("image for $a is missing: $r")
      continue
    fi
    # not about this image (credentials, TLS, network): one clear cause, stop here
    cause=$(registry_cause "$target_host")
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
  if [ "$kind" != "$want_kind" ]; then
    problems+=("image for $a is not of format $want_kind (found $kind): $r")
    continue
  fi
  if ! capture_step "$work/platform.$i" skopeo inspect --no-tags \
    --format '{{.Os}}/{{.Architecture}}' "${registry_opts[@]}" -- "docker://$r"; then
    cause=$(registry_cause "$target_host")
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
  if ! run_step buildah manifest add --arch "$a" --os linux "${registry_opts[@]}" \
    -- "$list_name" "docker://$r"; then
    cause=$(registry_cause "$target_host")
    fail "adding the linux/$a image $r to the list failed${cause:+: $cause}"
  fi
done
echo "mosb: pushing the manifest list of ${arches[*]} to $target"
# No --all: in buildah 1.28 --all also copies every image of the list; without it only
# the list itself is written (the images are already in this repository by digest).
if ! run_step buildah manifest push --format "$list_format" "${registry_opts[@]}" \
  --digestfile "$work/digest" -- "$list_name" "docker://$target"; then
  cause=$(registry_cause "$target_host")
  fail "push of the manifest list to $target failed${cause:+: $cause}"
fi
digest=$(cat -- "$work/digest")
if ! [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]]; then
  fail "push of the manifest list reported no digest"
fi
printf '%s' "$digest" >"$result_file"
echo "mosb: pushed $target as $digest"
