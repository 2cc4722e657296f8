#!/bin/bash
# mosb-controller: build one architecture's OS image and push it by tag.
#
# Run by the per-architecture build Job on a node of that architecture (so --arch equals
# the host architecture: no emulation). This script is fixed: every admin-supplied value
# arrives in an environment variable or a file and is used only as data (quoted argv,
# never eval'd, never spliced into code). Credentials are never printed (no set -x).
#
# Environment (the controller's Job renderer must match this contract):
#   MOSB_ARCH           amd64 | arm64 | ppc64le | s390x
#   MOSB_CONTAINERFILE  path of the rendered Containerfile (its FROM names the base image)
#   MOSB_TARGET_IMAGE   host[:port]/path/name:tag to push to (tag: <mosb>-<arch>)
#   MOSB_PUSH_AUTHFILE  path of a .dockerconfigjson for pushing (required)
#   MOSB_PULL_AUTHFILE  path of a .dockerconfigjson for pulling the base (optional; unset
#                       or empty means anonymous pulls, never the machine's own auth files)
#   MOSB_TLS_VERIFY     true (default) | false
#   MOSB_CA_DIR         optional directory of CA certificates (*.crt) to trust
#   MOSB_IMAGE_FORMAT   oci (default) | docker; push.sh must be given the same value
#   MOSB_CONTEXT_DIR    optional build context directory (default: an empty directory)
#   MOSB_RESULT_FILE    where the result goes (default /dev/termination-log)
# Result: on success exactly the pushed manifest digest "sha256:<64 hex>" (no newline);
# on failure "error: <cause>" and the last lines of the failing command's output
# (under 2048 bytes), and a non-zero exit code.
set -euo pipefail
umask 077

result_file=${MOSB_RESULT_FILE:-/dev/termination-log}
work=""
step_log=""

# Write "error: $1" plus the tail of the step log (if any) to the result file; exit 1.
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
  if [ -n "$work" ]; then rm -rf -- "$work"; fi
}
trap cleanup EXIT
trap 'fail "build.sh stopped by a signal"' TERM INT
trap 'fail "build.sh: unexpected failure at line $LINENO"' ERR

# Run a command; its output goes to the pod log and to $step_log (replaced per step).
run_step() {
  : >"$step_log"
  "$@" 2>&1 | tee -a -- "$step_log"
  return "${PIPESTATUS[0]}"
}

# The registry host buildah was talking to when the step failed (from its output).
failed_registry() {
  local host
  host=$(grep -oE 'docker://[^/[:space:]]+/|Trying to pull [^/[:space:]]+/' -- "$step_log" |
    tail -n 1 | sed -E 's#^(docker://|Trying to pull )##; s#/$##') || host=""
  if [ -n "$host" ]; then echo "$host"; else echo "$1"; fi
}

# Plain-words cause of a registry failure found in $step_log; $1 names the registry,
# $2 the secret to check.
registry_cause() {
  local reg=$1 secret=$2
  if grep -qiE 'no image found in (image index|manifest list) for architecture' -- "$step_log"; then
    echo "the base image has no variant for linux/$MOSB_ARCH"
  elif grep -qiE 'unauthorized|authentication required|invalid username|incorrect username|access to the resource is denied' -- "$step_log"; then
    echo "authentication to registry $reg was refused (check the $secret)"
  elif grep -qiE 'x509|certificate' -- "$step_log"; then
    echo "TLS certificate of registry $reg is not trusted (check the CA certificates)"
  elif grep -qiE 'manifest unknown|not found|name unknown' -- "$step_log"; then
    echo "image not found in registry $reg"
  elif grep -qiE 'connection refused|no such host|i/o timeout|network is unreachable|no route to host|connection reset' -- "$step_log"; then
    echo "cannot reach registry $reg"
  elif grep -qE 'building at STEP' -- "$step_log"; then
    echo "a step of the Containerfile failed (see below)"
  else
    echo ""
  fi
}

# A fully qualified image reference with a tag: registry host (with a dot or a port, or
# localhost) / lowercase path components : tag. No digest, no spaces, nothing else.
host_re='[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?'
comp_re='[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*'
tag_re='[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'
ref_re="^(${host_re})((/${comp_re})+):(${tag_re})\$"

# --- validate inputs ---------------------------------------------------------------
arch=${MOSB_ARCH:-}
case "$arch" in
  amd64 | arm64 | ppc64le | s390x) ;;
  *) fail "MOSB_ARCH must be one of amd64, arm64, ppc64le, s390x" ;;
esac

containerfile=${MOSB_CONTAINERFILE:-}
if [ -z "$containerfile" ] || [ ! -f "$containerfile" ] || [ ! -r "$containerfile" ]; then
  fail "the Containerfile (MOSB_CONTAINERFILE) is missing or unreadable"
fi

target=${MOSB_TARGET_IMAGE:-}
if [ ${#target} -gt 512 ] || ! [[ $target =~ $ref_re ]]; then
  fail "MOSB_TARGET_IMAGE is not a valid image reference of the form host[:port]/path/name:tag"
fi
target_host=${BASH_REMATCH[1]}
case "$target_host" in
  *.* | *:* | localhost) ;;
  *) fail "MOSB_TARGET_IMAGE must name its registry host (with a dot or a port, or localhost)" ;;
esac

push_auth=${MOSB_PUSH_AUTHFILE:-}
if [ -z "$push_auth" ] || [ ! -f "$push_auth" ] || [ ! -r "$push_auth" ]; then
  fail "the push secret (MOSB_PUSH_AUTHFILE) is missing or unreadable"
fi
pull_auth=${MOSB_PULL_AUTHFILE:-}
if [ -n "$pull_auth" ] && { [ ! -f "$pull_auth" ] || [ ! -r "$pull_auth" ]; }; then
  fail "the pull secret (MOSB_PULL_AUTHFILE) is missing or unreadable"
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
  oci) bud_format=oci push_format=oci ;;
  docker) bud_format=docker push_format=v2s2 ;;
  *) fail "MOSB_IMAGE_FORMAT must be oci or docker" ;;
esac

context_dir=${MOSB_CONTEXT_DIR:-}
if [ -n "$context_dir" ] && [ ! -d "$context_dir" ]; then
  fail "the build context (MOSB_CONTEXT_DIR) is not a directory"
fi

# --- set up ------------------------------------------------------------------------
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
work=$(mktemp -d)
step_log="$work/step.log"
: >"$step_log"
if [ -z "$context_dir" ]; then
  context_dir="$work/context"
  mkdir -- "$context_dir"
fi
if [ -z "$pull_auth" ]; then
  # An explicitly empty auth file: "no pull secret" must not fall back to whatever
  # auth files the node or image happen to have.
  pull_auth="$work/no-auth.json"
  printf '{"auths":{}}\n' >"$pull_auth"
fi
registry_opts=(--tls-verify="$tls_verify")
if [ -n "$ca_dir" ]; then registry_opts+=(--cert-dir "$ca_dir"); fi

# --- build -------------------------------------------------------------------------
# --pull=always: the base is named by tag in the Containerfile; a rebuild (new MOSB or
# the rebuild annotation) must build on what the tag points to now, never on a copy
# some earlier build left in a reused containers storage. The pod's storage is normally
# empty anyway, so this costs nothing extra.
# --arch/--os: equal to the node's own platform in production; stated so the image config
# is honest and the right variant of a multi-arch base is selected.
echo "mosb: building linux/$arch image for $target"
if ! run_step buildah bud \
  --arch "$arch" --os linux \
  --format "$bud_format" \
  --layers=false \
  --pull=always \
  --authfile "$pull_auth" \
  "${registry_opts[@]}" \
  --iidfile "$work/iid" \
  -f "$containerfile" \
  -- "$context_dir"; then
  cause=$(registry_cause "$(failed_registry "of the base image")" "pull secret")
  fail "build for linux/$arch failed${cause:+: $cause}"
fi
image_id=$(cat -- "$work/iid")
image_id=${image_id#sha256:}
if ! [[ $image_id =~ ^[0-9a-f]{64}$ ]]; then
  fail "build for linux/$arch produced no image ID"
fi

# --- push --------------------------------------------------------------------------
echo "mosb: pushing linux/$arch image to $target"
if ! run_step buildah push \
  --format "$push_format" \
  --authfile "$push_auth" \
  "${registry_opts[@]}" \
  --digestfile "$work/digest" \
  -- "$image_id" "docker://$target"; then
  cause=$(registry_cause "$target_host" "push secret")
  fail "push of the linux/$arch image to $target_host failed${cause:+: $cause}"
fi
digest=$(cat -- "$work/digest")
if ! [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]]; then
  fail "push of the linux/$arch image reported no digest"
fi

printf '%s' "$digest" >"$result_file"
echo "mosb: pushed $target as $digest"
