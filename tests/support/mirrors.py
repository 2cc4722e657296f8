"""A release image behind a registry name that cannot be reached, and the registries
files a cluster would render for it: an ImageDigestMirrorSet's mirror (as the MCO writes
it into registries.conf) and a policy.json that rejects the source registry.

The source keeps the release payload's path (`…/openshift-release-dev/ocp-v4.0-art-dev`)
under `quay.invalid`, not `quay.io`: `.invalid` is reserved (RFC 6761) and never
resolves, so a build that goes to the source fails at once, here and on any machine,
and no test ever reaches the real quay.io (where the name would resolve on a machine
with Internet access).
"""

from __future__ import annotations

import json
import socket

from hack import registry

SOURCE_HOST = "quay.invalid"
SOURCE_REPO = f"{SOURCE_HOST}/openshift-release-dev/ocp-v4.0-art-dev"


def resolvable() -> list[str]:
    """What makes the source reachable after all (for `require`): nothing, normally."""
    try:
        socket.getaddrinfo(SOURCE_HOST, 443)
    except OSError:
        return []
    return [f"an unresolvable {SOURCE_HOST} (this resolver answers for it)"]


def mirrored_base(reg: registry.LocalRegistry, seeded: str) -> str:
    """The seeded base `<registry>/<repo>:<tag>` named by digest under the source."""
    digest = registry.sha256_digest(reg.inspect_raw(seeded))
    return f"{SOURCE_REPO}@{digest}"


def registries_conf(mirror: str) -> str:
    """registries.conf as the MCO renders an ImageDigestMirrorSet `SOURCE_REPO` →
    `mirror`: the mirror serves digests only (a tag would still go to the source)."""
    return (
        'unqualified-search-registries = ["registry.access.redhat.com", "docker.io"]\n'
        'short-name-mode = ""\n\n'
        "[[registry]]\n"
        '  prefix = ""\n'
        f'  location = "{SOURCE_REPO}"\n\n'
        "  [[registry.mirror]]\n"
        f'    location = "{mirror}"\n'
        '    pull-from-mirror = "digest-only"\n'
    )


def rejecting_policy() -> str:
    """policy.json accepting anything but images from the source registry."""
    return json.dumps(
        {
            "default": [{"type": "insecureAcceptAnything"}],
            "transports": {
                "docker": {SOURCE_HOST: [{"type": "reject"}]},
                "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]},
            },
        },
        indent=2,
    )
