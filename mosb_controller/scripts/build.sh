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
#   MOSB_CA_DIR         optional directory of CA certificates (*.crt) to trust: the
#                       registry CA, the cluster's trust bundle, the service CA
#   MOSB_IMAGE_FORMAT   oci (default) | docker; push.sh must be given the same value
#   MOSB_CONTEXT_DIR    optional build context directory (default: an empty directory)
#   MOSB_ENTITLEMENT_DIR optional directory of RHEL entitlement files (a Secret volume):
#                       RUN steps see them under /etc/pki/entitlement, not in the image
#   MOSB_YUM_REPOS_DIR  optional directory of .repo files: RUN steps see /etc/yum.repos.d
#   MOSB_RPM_GPG_DIR    optional directory of RPM GPG keys: RUN steps see /etc/pki/rpm-gpg
#                       (both, like the entitlement, mounted for RUN steps only)
#   MOSB_REGISTRIES_CONF optional path of the cluster's registries.conf (mirrors...)
#   MOSB_SIGNATURE_POLICY optional path of the cluster's policy.json, for the base pull
#                       (either used only if the file is there; see common.sh)
#   MOSB_RESULT_FILE    where the result goes (default /dev/termination-log)
#   HTTP_PROXY, HTTPS_PROXY, NO_PROXY (and lowercase) optional: the cluster proxy, used
#                       by buildah itself and in RUN steps, and build args of those names
# Result: on success exactly the pushed manifest digest "sha256:<64 hex>" (no newline);
# on failure "error: <cause>" and the last lines of the failing command's output
# (under 2048 bytes), and a non-zero exit code.
# What this script shares with push.sh (failing, input checks, registry error causes) is
# in common.sh, next to it in the same ConfigMap.
set -euo pipefail
umask 077

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/common.sh"
install_traps build.sh

# The registry host buildah was talking to when the step failed (from its output).
failed_registry() {
  local host
  host=$(grep -oE 'docker://[^/[:space:]]+/|Trying to pull [^/[:space:]]+/' -- "$step_log" |
    tail -n 1 | sed -E 's#^(docker://|Trying to pull )##; s#/$##') || host=""
  if [ -n "$host" ]; then echo "$host"; else echo "$1"; fi
}

# Plain-words cause of a failed build or push step found in $step_log (empty if none is
# recognised); $1 names the registry, $2 the secret to check.
step_cause() {
  if log_has 'Source image rejected'; then
    echo "$policy_source (the signature policy) rejects the image from registry $1"
  elif log_has 'no image found in (image index|manifest list) for architecture'; then
    echo "the base image has no variant for linux/$arch"
  elif ! registry_cause "$1" "$2" "$not_found_re" "image not found"; then
    if grep -qE 'building at STEP' -- "$step_log"; then
      echo "a step of the Containerfile failed (see below)"
    fi
  fi
}

# --- validate inputs ---------------------------------------------------------------
arch=${MOSB_ARCH:-}
case "$arch" in
  amd64 | arm64 | ppc64le | s390x) ;;
  *) fail "MOSB_ARCH must be one of amd64, arm64, ppc64le, s390x" ;;
esac

containerfile=${MOSB_CONTAINERFILE:-}
if ! readable_file "$containerfile"; then
  fail "the Containerfile (MOSB_CONTAINERFILE) is missing or unreadable"
fi

check_target_image
check_push_authfile
pull_auth=${MOSB_PULL_AUTHFILE:-}
if [ -n "$pull_auth" ] && ! readable_file "$pull_auth"; then
  fail "the pull secret (MOSB_PULL_AUTHFILE) is missing or unreadable"
fi
check_registry_settings
check_containers_config

entitlement_dir=${MOSB_ENTITLEMENT_DIR:-}
if [ -n "$entitlement_dir" ] && [ ! -d "$entitlement_dir" ]; then
  fail "the entitlement directory (MOSB_ENTITLEMENT_DIR) does not exist"
fi
yum_repos_dir=${MOSB_YUM_REPOS_DIR:-}
rpm_gpg_dir=${MOSB_RPM_GPG_DIR:-}
if { [ -n "$yum_repos_dir" ] && [ ! -d "$yum_repos_dir" ]; } ||
  { [ -n "$rpm_gpg_dir" ] && [ ! -d "$rpm_gpg_dir" ]; }; then
  fail "the RPM repositories or keys directory (MOSB_YUM_REPOS_DIR, MOSB_RPM_GPG_DIR) does not exist"
fi

context_dir=${MOSB_CONTEXT_DIR:-}
if [ -n "$context_dir" ] && [ ! -d "$context_dir" ]; then
  fail "the build context (MOSB_CONTEXT_DIR) is not a directory"
fi

# --- set up ------------------------------------------------------------------------
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
set_up_work
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

# Entitlements and the cluster's RPM repositories, as upstream mounts them: RUN steps see
# the files of directory $1 at $3, read-only. A plain copy under $work/$2 (a Secret or
# ConfigMap volume is a tree of symlinks into a hidden timestamped directory),
# bind-mounted into RUN steps only: a mount is never committed to the image. Nothing
# when $1 is unset or holds no file (an optional volume whose source is absent).
volume_opts=()
mount_into_run_steps() {
  local src=$1 copy="$work/$2" f found=""
  if [ -z "$src" ]; then return 0; fi
  mkdir -- "$copy" || fail "cannot copy $2 for the RUN steps"
  for f in "$src"/*; do
    if [ -f "$f" ]; then
      cp -L -- "$f" "$copy/" || fail "cannot copy $2 for the RUN steps"
      found=yes
    fi
  done
  chmod -R a+rX -- "$copy" || fail "cannot copy $2 for the RUN steps"
  if [ -n "$found" ]; then volume_opts+=(--volume "$copy:$3:ro"); fi
}
mount_into_run_steps "$entitlement_dir" entitlement /etc/pki/entitlement
mount_into_run_steps "$yum_repos_dir" yum.repos.d /etc/yum.repos.d
mount_into_run_steps "$rpm_gpg_dir" rpm-gpg /etc/pki/rpm-gpg

# The proxy as build args, which upstream's template declares (ARG HTTP_PROXY ...): by
# name only, so buildah takes each value from this environment and no proxy URL (it may
# hold credentials) is on a command line or in the log.
build_args=()
for name in HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  if [ -n "${!name:-}" ]; then build_args+=(--build-arg "$name"); fi
done

# --- build -------------------------------------------------------------------------
# --pull=always: the base is named by tag in the Containerfile; a rebuild (new MOSB or
# the rebuild annotation) must build on what the tag points to now, never on a copy
# some earlier build left in a reused containers storage. The pod's storage is normally
# empty anyway, so this costs nothing extra.
# --arch/--os: equal to the node's own platform in production; stated so the image config
# is honest and the right variant of a multi-arch base is selected.
echo "mosb: building linux/$arch image for $target"
if ! run_step buildah "${regconf_opts[@]}" bud \
  --arch "$arch" --os linux \
  --format "$image_format" \
  --layers=false \
  --pull=always \
  --authfile "$pull_auth" \
  "${tls_opts[@]}" \
  "${policy_opts[@]}" \
  "${volume_opts[@]}" \
  "${build_args[@]}" \
  --iidfile "$work/iid" \
  -f "$containerfile" \
  -- "$context_dir"; then
  cause=$(step_cause "$(failed_registry "of the base image")" "pull secret")
  fail "build for linux/$arch failed${cause:+: $cause}"
fi
image_id=$(cat -- "$work/iid")
image_id=${image_id#sha256:}
if ! [[ $image_id =~ ^[0-9a-f]{64}$ ]]; then
  fail "build for linux/$arch produced no image ID"
fi

# --- push --------------------------------------------------------------------------
echo "mosb: pushing linux/$arch image to $target"
if ! run_step buildah "${regconf_opts[@]}" push \
  --format "$manifest_format" \
  --authfile "$push_auth" \
  "${tls_opts[@]}" \
  --digestfile "$work/digest" \
  -- "$image_id" "docker://$target"; then
  cause=$(step_cause "$target_host" "push secret")
  fail "push of the linux/$arch image to $target_host failed${cause:+: $cause}"
fi
finish_with_digest "push of the linux/$arch image"
