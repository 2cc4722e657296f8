#!/usr/bin/env bash
# Test fixture, local machine only: lets this host run the RUN steps of foreign-architecture
# builds, standing in for the native CPU of a kwok node of that architecture. Production
# never emulates (the build Jobs and scripts never ask for it); only the node harness's
# builds on this machine go through it.
#
# Mounts binfmt_misc if needed and registers Debian's qemu-user-static handlers for the
# architectures the project builds (other than this host's own). The handlers carry the
# F flag (qemu is opened at registration), so foreign binaries run inside buildah's chroot
# too. Idempotent: a registered handler is left as it is. Needs root.
# Exit 0: every foreign architecture runs; 1: not possible here (the message says why).
set -euo pipefail
log() { echo "binfmt: $*" >&2; }

binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
  if ! mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null; then
    log "cannot mount binfmt_misc on $binfmt (not root, or not allowed in this sandbox)"
    exit 1
  fi
fi

host=$(uname -m)
status=0
# qemu's names for amd64, arm64, ppc64le, s390x
for name in x86_64 aarch64 ppc64le s390x; do
  [ "$name" = "$host" ] && continue
  [ -e "$binfmt/qemu-$name" ] && continue
  conf=/usr/lib/binfmt.d/qemu-$name.conf
  if [ ! -f "$conf" ]; then
    log "no $conf: install Debian's qemu-user-static"
    status=1
    continue
  fi
  # The conf line is exactly what the kernel's register file takes.
  if ! cat -- "$conf" >"$binfmt/register" 2>/dev/null; then
    log "registering qemu-$name failed"
    status=1
  fi
done
exit "$status"
