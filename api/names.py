"""Every name the API gives: group, version, plurals, and the label and annotation keys.

One constant per key, each with who sets it. Upstream's keys come first (the MCO and its
API define them), then this extension's own (domain mosb-controller.io). Code elsewhere
names these constants, never the strings.
"""

from __future__ import annotations

from api.enums import Mode

GROUP = "machineconfiguration.openshift.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
# alongside-mco mode: the same MachineOSConfig and MachineOSBuild kinds, schema-identical,
# served by our own CRDs (manifests/crds/ours-*.yaml), so the MCO never sees them.
EXTENSION_GROUP = "machineconfiguration.mosb-controller.io"
EXTENSION_API_VERSION = f"{EXTENSION_GROUP}/{VERSION}"

# Plurals of the kinds we read and write (the CRDs' spec.names.plural).
MACHINE_OS_CONFIGS = "machineosconfigs"
MACHINE_OS_BUILDS = "machineosbuilds"
MACHINE_CONFIG_POOLS = "machineconfigpools"
MACHINE_CONFIGS = "machineconfigs"
# Short names of our own group's kinds (upstream's have none): `oc get mamosc,mamosb`.
EXTENSION_MOSC_SHORT_NAME = "mamosc"
EXTENSION_MOSB_SHORT_NAME = "mamosb"


def build_group(mode: Mode) -> str:
    """The group of the MachineOSConfigs and MachineOSBuilds the operator acts on."""
    return GROUP if mode is Mode.BUILDER else EXTENSION_GROUP


def group_of(plural: str, mode: Mode) -> str:
    """The group a plural is served in for a mode: MOSC and MOSB move with the mode;
    pools and MachineConfigs are always the MCO's."""
    return build_group(mode) if plural in (MACHINE_OS_CONFIGS, MACHINE_OS_BUILDS) else GROUP


# -- upstream (the MCO) -----------------------------------------------------------------
# On a MachineOSConfig, set by the builder: name of its current MachineOSBuild.
CURRENT_MACHINE_OS_BUILD_ANNOTATION = "machineconfiguration.openshift.io/current-machine-os-build"
# On a MachineOSConfig, set by the admin: build afresh; the builder removes it when done.
REBUILD_ANNOTATION = "machineconfiguration.openshift.io/rebuild"
# On a MachineOSBuild, set by the builder: the push secret's name (upstream's image pruner
# reads it to delete the build's image).
RENDERED_IMAGE_PUSH_SECRET_ANNOTATION = (
    "machineconfiguration.openshift.io/rendered-image-push-secret"  # noqa: S105 - a key
)
# On a MachineConfig, set by its author: the pool role it belongs to (pools select their
# MachineConfigs by it).
MACHINE_CONFIG_ROLE_LABEL = "machineconfiguration.openshift.io/role"
# The MCO's ConfigMap naming the release's OS images (alongside-mco reads the base from it),
# and its key for the base OS container image (a manifest list on multi-arch payloads).
OSIMAGEURL_NAMESPACE = "openshift-machine-config-operator"
OSIMAGEURL_CONFIGMAP = "machine-config-osimageurl"
BASE_OS_CONTAINER_IMAGE_KEY = "baseOSContainerImage"
# The MCO's ConfigMap naming the release payload's images, its key (a JSON document) and
# that document's field naming the MCO's own image: upstream's builder image (multi-arch,
# in every mirror of the payload), used here on OpenShift when no builder image is set.
MCO_IMAGES_CONFIGMAP = "machine-config-operator-images"
MCO_IMAGES_KEY = "images.json"
MCO_IMAGE_FIELD = "machineConfigOperator"
# Labels the builder sets on a MachineOSBuild (MCO build/utils.GetMachineOSBuildLabels).
TARGET_MACHINE_CONFIG_POOL_LABEL = "machineconfiguration.openshift.io/target-machine-config-pool"
RENDERED_MACHINE_CONFIG_LABEL = "machineconfiguration.openshift.io/rendered-machine-config"
MACHINE_OS_CONFIG_LABEL = "machineconfiguration.openshift.io/machine-os-config"
# Labels upstream puts on the build Job and its ephemeral objects (and on our images).
MACHINE_OS_BUILD_LABEL = "machineconfiguration.openshift.io/machine-os-build"
ON_CLUSTER_LAYERING_LABEL = "machineconfiguration.openshift.io/on-cluster-layering"
# Image labels upstream's on-cluster-build template sets on the OS image (short names, as
# upstream: the MCD and `oc image info` read these).
IMAGE_MACHINE_CONFIG_LABEL = "machineconfig"
IMAGE_MACHINE_CONFIG_POOL_LABEL = "machineconfigpool"
IMAGE_BASE_OS_LABEL = "baseOSContainerImage"
# On a Node, set by the MCO's node controller (desired) and the MCD (current): the OS image
# it is moving to and the one it runs. The pruner keeps every image they name.
DESIRED_IMAGE_ANNOTATION = "machineconfiguration.openshift.io/desiredImage"
CURRENT_IMAGE_ANNOTATION = "machineconfiguration.openshift.io/currentImage"

# -- this extension (mosb-controller.io) ------------------------------------------------
EXTENSION_DOMAIN = "mosb-controller.io"
# On a MachineConfigPool, set by the recorder: its architectures, e.g. "amd64,arm64".
ARCHITECTURES_ANNOTATION = f"{EXTENSION_DOMAIN}/architectures"
# On a MachineOSBuild, set by the planner: JSON arch → ArchBuildRecord.
ARCH_BUILDS_ANNOTATION = f"{EXTENSION_DOMAIN}/arch-builds"
# On a MachineOSBuild, set by the planner: JSON arch → image digest.
ARCH_DIGESTS_ANNOTATION = f"{EXTENSION_DOMAIN}/arch-digests"
# On a MachineOSConfig, set by the admin: rebuild only the failed architectures.
RETRY_FAILED_ANNOTATION = f"{EXTENSION_DOMAIN}/retry-failed"
# On a MachineOSBuild, set by the planner: created for a rebuild request, so nothing is
# reused; removed (with the MOSC's rebuild annotation) once it finished.
FORCED_REBUILD_ANNOTATION = f"{EXTENSION_DOMAIN}/forced-rebuild"
# On build and push Jobs, their pods and inputs ConfigMaps, set by the planner: the objects
# the build loop watches (value "true"), and their role ("build" or "push").
BUILD_OBJECT_LABEL = f"{EXTENSION_DOMAIN}/managed"
ROLE_LABEL = f"{EXTENSION_DOMAIN}/role"
# On the same objects and the build's Secret copies, set by the planner: the uid of the
# MachineOSBuild that owns them (a label, unlike its name: always a valid label value),
# so that its cleanup after success deletes each kind in one request (deletecollection).
BUILD_UID_LABEL = f"{EXTENSION_DOMAIN}/machine-os-build-uid"
# On the same objects: the architecture built, the MachineOSBuild and the MachineOSConfig
# they serve (the MOSC's name lets their events reach it after the MOSB is gone).
ARCH_ANNOTATION = f"{EXTENSION_DOMAIN}/arch"
MOSB_ANNOTATION = f"{EXTENSION_DOMAIN}/machine-os-build"
MOSC_ANNOTATION = f"{EXTENSION_DOMAIN}/machine-os-config"
# On the architecture record ConfigMap, set by the recorder (the recommended label: it is
# not a build object, so the build loop's watch leaves it out).
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "mosb-controller"
# alongside-mco: the MachineConfig we own per pool, named to merge after every other (the
# MCO merges a pool's MachineConfigs sorted by name; the last osImageURL set wins), and
# labelled ours with the MOSC it publishes.
PUBLISHED_CONFIG_PREFIX = "zz-mosb-controller-"
PUBLISHED_CONFIG_SUFFIX = "-os-image"
PUBLISHED_BY_LABEL = f"{EXTENSION_DOMAIN}/published-for"
# On that MachineConfig, set by the planner: the release base image its image was built on
# (a new base in the osimageurl ConfigMap is a release upgrade).
BASE_IMAGE_ANNOTATION = f"{EXTENSION_DOMAIN}/base-image"
# On a MachineConfigPool, set by the build loop while it holds the pool's rollout for an
# upgrade's rebuild: JSON {"reason", "mosb", "since", "until"}; its presence means the
# pause is ours to lift (an admin's pause never carries it).
PAUSED_BY_US_ANNOTATION = f"{EXTENSION_DOMAIN}/paused-for-rebuild"


def published_config_name(pool: str) -> str:
    """The MachineConfig alongside-mco publishes a pool's image through."""
    return f"{PUBLISHED_CONFIG_PREFIX}{pool}{PUBLISHED_CONFIG_SUFFIX}"


# -- Kubernetes registry-credential Secrets (set by whoever makes the Secret) ------------
# The two types a MachineOSConfig's secrets may have; our copies are always the first.
DOCKERCONFIGJSON_TYPE = "kubernetes.io/dockerconfigjson"
DOCKERCFG_TYPE = "kubernetes.io/dockercfg"
# Their data keys: {"auths": {host: {...}}}, and the older bare {host: {...}}.
DOCKERCONFIGJSON_KEY = ".dockerconfigjson"
DOCKERCFG_KEY = ".dockercfg"


# -- OpenShift's cluster configuration (config.openshift.io, and what it names) ----------
# The Proxy: one object, canonically `cluster`; the admin sets its spec, the network
# operator validates it and publishes the values in effect in its status.
CONFIG_GROUP = "config.openshift.io"
PROXIES = "proxies"
CLUSTER_PROXY = "cluster"
# The namespace of the ConfigMap a Proxy's spec.trustedCA names (fixed by its API), and the
# additional trust bundle the installer and admins put there.
OPENSHIFT_CONFIG_NAMESPACE = "openshift-config"
USER_CA_BUNDLE_CONFIGMAP = "user-ca-bundle"
# The key of a CA-bundle ConfigMap: user-ca-bundle, trustedCA's, our registry CA's.
CA_BUNDLE_KEY = "ca-bundle.crt"
# The service CA: OpenShift's service-ca operator puts this ConfigMap into every namespace.
SERVICE_CA_CONFIGMAP = "openshift-service-ca.crt"
SERVICE_CA_KEY = "service-ca.crt"
