# shellcheck shell=bash
# shellcheck disable=SC2034 # what this file sets is used by the scripts that source it
# mosb-controller: what build.sh and push.sh share. Sourced by both from their own
# directory (all three come from the same ConfigMap), never run on its own; it only sets
# variables and defines functions.
#
# Like the scripts, it uses every admin-supplied value only as data (quoted argv, never
# eval'd, never spliced into code) and never prints credentials.
#
# The functions run under the scripts' errexit, but bash never runs the ERR trap inside a
# function: every command in them that can fail is therefore handled explicitly, so a
# failure still ends in "error: <cause>" in the result file.

result_file=${MOSB_RESULT_FILE:-/dev/termination-log}
work=""
step_log=""
script_name=""

# --- failing, cleaning up, running steps ---------------------------------------------

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

# On exit: the script's own cleanup_extra (if it defines one), then the work directory.
cleanup() {
  if declare -F cleanup_extra >/dev/null; then cleanup_extra; fi
  if [ -n "$work" ]; then rm -rf -- "$work"; fi
}

# Install the traps; $1 is the script's name, for the failure messages.
install_traps() {
  script_name=$1
  trap cleanup EXIT
  trap 'fail "$script_name stopped by a signal"' TERM INT
  trap 'fail "$script_name: unexpected failure at line $LINENO"' ERR
}

# Run a command; its output goes to the pod log and to $step_log (replaced per step).
run_step() {
  : >"$step_log"
  "$@" 2>&1 | tee -a -- "$step_log"
  return "${PIPESTATUS[0]}"
}

# --- registry failures ---------------------------------------------------------------

# What registries and their clients say, as extended regexes (matched ignoring case).
auth_refused_re='unauthorized|authentication required|invalid username|incorrect username|access to the resource is denied'
tls_untrusted_re='x509|certificate'
not_found_re='manifest unknown|not found|name unknown'
unreachable_re='connection refused|no such host|i/o timeout|network is unreachable|no route to host|connection reset'

# True if the output of the last step matches the extended regex $1, ignoring case.
log_has() {
  grep -qiE -e "$1" -- "$step_log"
}

# Print the plain-words cause of a registry failure found in $step_log; return 1 (and
# print nothing) if none is recognised. $1 names the registry, $2 the secret to check,
# $3 is the regex of "not found" messages and $4 what to call that case ("... in
# registry $1").
registry_cause() {
  local reg=$1 secret=$2 not_found=$3 not_found_text=$4
  if log_has "$auth_refused_re"; then
    echo "authentication to registry $reg was refused (check the $secret)"
  elif log_has "$tls_untrusted_re"; then
    echo "TLS certificate of registry $reg is not trusted (check the CA certificates)"
  elif log_has "$not_found"; then
    echo "$not_found_text in registry $reg"
  elif log_has "$unreachable_re"; then
    echo "cannot reach registry $reg"
  else
    return 1
  fi
}

# --- inputs --------------------------------------------------------------------------

# A fully qualified image reference with a tag: registry host (with a dot or a port, or
# localhost) / lowercase path components : tag. No digest, no spaces, nothing else.
host_re='[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?'
comp_re='[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*'
tag_re='[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'
repo_re="(${host_re})((/${comp_re})+)"
target_re="^${repo_re}:(${tag_re})\$"

# True if $1 names a regular file this process can read.
readable_file() {
  [ -f "$1" ] && [ -r "$1" ]
}

# MOSB_TARGET_IMAGE: sets target, target_host and target_repo (target without the tag).
check_target_image() {
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
}

# MOSB_PUSH_AUTHFILE (required): sets push_auth.
check_push_authfile() {
  push_auth=${MOSB_PUSH_AUTHFILE:-}
  if ! readable_file "$push_auth"; then
    fail "the push secret (MOSB_PUSH_AUTHFILE) is missing or unreadable"
  fi
}

# MOSB_TLS_VERIFY, MOSB_CA_DIR and MOSB_IMAGE_FORMAT: sets tls_opts (the TLS options of
# buildah and skopeo), image_format (oci | docker) and manifest_format (the same as
# buildah push/manifest push --format calls it: oci | v2s2).
check_registry_settings() {
  local tls_verify ca_dir
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
    oci) image_format=oci manifest_format=oci ;;
    docker) image_format=docker manifest_format=v2s2 ;;
    *) fail "MOSB_IMAGE_FORMAT must be oci or docker" ;;
  esac
  tls_opts=(--tls-verify="$tls_verify")
  if [ -n "$ca_dir" ]; then tls_opts+=(--cert-dir "$ca_dir"); fi
}

# --- the cluster's registries files --------------------------------------------------

# MOSB_REGISTRIES_CONF and MOSB_SIGNATURE_POLICY: where the cluster's registries.conf and
# policy.json (from the pool's rendered MachineConfig) are; each is used when it is there
# and not empty, else the builder image's own applies, as without them. Sets
# regconf_opts (buildah's global option, before the subcommand: a flag, not
# CONTAINERS_REGISTRIES_CONF, so each call shows what it reads with, as the operator's
# skopeo calls must: skopeo 1.9 ignores that variable), policy_opts (buildah bud's, for
# pulling the base: a signature policy is about what is pulled, as on the nodes) and
# policy_source (for messages).
check_containers_config() {
  local conf=${MOSB_REGISTRIES_CONF:-} policy=${MOSB_SIGNATURE_POLICY:-}
  regconf_opts=()
  policy_opts=()
  policy_source="the builder image's policy.json"
  if [ -n "$conf" ] && [ -s "$conf" ]; then
    readable_file "$conf" || fail "the registries.conf (MOSB_REGISTRIES_CONF) is unreadable"
    regconf_opts=(--registries-conf "$conf")
    echo "mosb: using the cluster's registries.conf (mirrors, registry settings)"
  fi
  if [ -n "$policy" ] && [ -s "$policy" ]; then
    readable_file "$policy" || fail "the policy.json (MOSB_SIGNATURE_POLICY) is unreadable"
    policy_opts=(--signature-policy "$policy")
    policy_source="the cluster's policy.json"
    echo "mosb: using the cluster's policy.json (signature policy)"
  fi
}

# --- set up, finish ------------------------------------------------------------------

# buildah there (a builder image without it fails saying so, before anything else is
# tried), containers storage on vfs (unless set), and a private work directory with the
# step log.
set_up_work() {
  if ! command -v buildah >/dev/null 2>&1; then
    fail "the builder image has no buildah: set --builder-image to an image with bash, coreutils, grep, sed and buildah (the MCO's own has them)"
  fi
  echo "mosb: $script_name running as user $(id -un 2>/dev/null || id -u)"
  export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
  work=$(mktemp -d) || fail "$script_name: cannot create a work directory"
  step_log="$work/step.log"
  : >"$step_log" || fail "$script_name: cannot create the step log"
}

# Succeed: the digest buildah wrote to $work/digest becomes the result. $1 names the push,
# for the failure message if there is no digest.
finish_with_digest() {
  local digest
  digest=$(cat -- "$work/digest") || digest=""
  if ! [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]]; then
    # buildah 1.28 exits 0 without writing the digest when the registry answers the
    # manifest PUT with a server error (503 seen): name that instead of a bare "no digest".
    fail "$1 to $target was not confirmed by registry $target_host (no digest came back; the registry may be failing with a server error); nothing was published under $target"
  fi
  printf '%s' "$digest" >"$result_file" || fail "$script_name: cannot write the result file"
  echo "mosb: pushed $target as $digest"
}
