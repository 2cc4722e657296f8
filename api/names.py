"""Every name the API gives: group, version, plurals, and the label and annotation keys.

One constant per key, each with who sets it. Upstream's keys come first (the MCO and its
API define them), then this extension's own (domain mosb-controller.io). Code elsewhere
names these constants, never the strings.
"""

from __future__ import annotations

GROUP = "machineconfiguration.openshift.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"

# Plurals of the kinds we read and write (the CRDs' spec.names.plural).
MACHINE_OS_CONFIGS = "machineosconfigs"
MACHINE_OS_BUILDS = "machineosbuilds"
MACHINE_CONFIG_POOLS = "machineconfigpools"
MACHINE_CONFIGS = "machineconfigs"

# -- upstream (the MCO) -----------------------------------------------------------------
# On a MachineOSConfig, set by the builder: name of its current MachineOSBuild.
CURRENT_MACHINE_OS_BUILD_ANNOTATION = "machineconfiguration.openshift.io/current-machine-os-build"
# On a MachineOSConfig, set by the admin: build afresh; the builder removes it when done.
REBUILD_ANNOTATION = "machineconfiguration.openshift.io/rebuild"
# Labels the builder sets on a MachineOSBuild (MCO build/utils.GetMachineOSBuildLabels).
TARGET_MACHINE_CONFIG_POOL_LABEL = "machineconfiguration.openshift.io/target-machine-config-pool"
RENDERED_MACHINE_CONFIG_LABEL = "machineconfiguration.openshift.io/rendered-machine-config"
MACHINE_OS_CONFIG_LABEL = "machineconfiguration.openshift.io/machine-os-config"
# Labels upstream puts on the build Job and its ephemeral objects (and on our images).
MACHINE_OS_BUILD_LABEL = "machineconfiguration.openshift.io/machine-os-build"
ON_CLUSTER_LAYERING_LABEL = "machineconfiguration.openshift.io/on-cluster-layering"
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
# On the same objects: the architecture built, the MachineOSBuild and the MachineOSConfig
# they serve (the MOSC's name lets their events reach it after the MOSB is gone).
ARCH_ANNOTATION = f"{EXTENSION_DOMAIN}/arch"
MOSB_ANNOTATION = f"{EXTENSION_DOMAIN}/machine-os-build"
MOSC_ANNOTATION = f"{EXTENSION_DOMAIN}/machine-os-config"
# On the architecture record ConfigMap, set by the recorder (the recommended label: it is
# not a build object, so the build loop's watch leaves it out).
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "mosb-controller"
