"""One table of validation cases for both copies of the upstream rules: the Python models
(`api`, tests/unit/test_api_models.py) and the real CRDs on a real kube-apiserver
(manifests/crds, tests/integration/test_crds.py).

Each case edits a valid object of its kind (each side brings its own: a realistic object
read from a cluster for the models, a fresh uniquely named one for the API server): its
name, top-level spec fields, or status fields; says whether the result is valid; and, when
it is not, what each side's message says. The models' messages are their own (written
for an admin); the API server's are the CRDs' (upstream's CEL messages, OpenAPI's
wording). Only single-object rules are here: the transition rules (`oldSelf`) need the
old object, which the models never see (test_crds.py tests them apart).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DELETE: Any = object()  # as a field's value: the case removes the field

DIGEST = "sha256:" + "a" * 64

# Upstream's messages (openshift/api machineconfiguration/v1, see manifests/crds/*.yaml).
MSG_MOSC_NAME = (
    "MachineOSConfig name must match the referenced MachineConfigPool name; "
    "can only have one MachineOSConfig per MachineConfigPool"
)
MSG_PUSH_SPEC = (
    "the OCI Image name should follow the host[:port][/namespace]/name format, resembling "
    "a valid URL without the scheme. Or it must be a valid .svc followed by a port, "
    "repository, image name, and tag."
)
MSG_DIGEST_SUFFIX = (
    "the OCI Image reference must end with a valid '@sha256:<digest>' suffix, "
    "where '<digest>' is 64 characters long"
)
MSG_BUILD_END = "buildEnd must be after buildStart"
MSG_JOB_REQUIRED = "job is required when imageBuilderType is Job, and forbidden otherwise"
MSG_RFC1123 = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
# The models' push spec message ends with the expected form.
EXPECTED_PUSH_SPEC = "Expected host[:port][/namespace]/name:<tag>"


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # MachineOSConfig or MachineOSBuild
    valid: bool
    name: str | None = None  # the object's name, where the case is about it
    spec: Mapping[str, Any] = field(default_factory=dict)  # top-level spec fields
    status: Mapping[str, Any] = field(default_factory=dict)  # status fields
    model_is: str | None = None  # the models' whole message
    model_starts: str | None = None  # how the models' message starts
    model_has: tuple[str, ...] = ()  # texts in the models' message
    server_has: tuple[str, ...] = ()  # texts in the API server's message (422 Invalid)

    def edited(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `body` with this case's name, spec and status fields."""
        out = copy.deepcopy(dict(body))
        if self.name is not None:
            out["metadata"]["name"] = self.name
        for part, fields in (("spec", self.spec), ("status", self.status)):
            if fields:
                merged = {**out.get(part, {}), **fields}
                out[part] = {k: copy.deepcopy(v) for k, v in merged.items() if v is not DELETE}
        return out

    def written_status(self) -> dict[str, Any]:
        """The status fields alone, as written through the status subresource."""
        return {k: copy.deepcopy(v) for k, v in self.status.items() if v is not DELETE}

    def kept(self, obj: Mapping[str, Any]) -> None:
        """Assert that an accepted object holds the case's fields as given."""
        for part, fields in (("spec", self.spec), ("status", self.status)):
            for key, value in fields.items():
                if value is DELETE:
                    assert key not in obj.get(part, {}), (part, key)
                else:
                    assert obj[part][key] == value, (part, key)


def containerfile_entry(arch: str | None, content: str = "FROM configs\n") -> dict[str, str]:
    entry = {"content": content}
    if arch is not None:
        entry["containerfileArch"] = arch
    return entry


FIVE_ARCHES = [containerfile_entry(a) for a in ("ARM64", "AMD64", "PPC64LE", "S390X", "NoArch")]


def _push_spec(spec: str, problem: str, *, case_id: str | None = None) -> Case:
    return Case(
        case_id or f"push-spec-{spec[:40]}",
        "MachineOSConfig",
        valid=False,
        spec={"renderedImagePushSpec": spec},
        model_starts=f"spec.renderedImagePushSpec: {spec!r} is not a valid image push spec",
        model_has=(problem, EXPECTED_PUSH_SPEC),
        server_has=("spec.renderedImagePushSpec", MSG_PUSH_SPEC),
    )


VALID_PUSH_SPECS = [
    "quay.io/myorg/os-image:latest",
    "quay.io/os-image:latest",
    "registry.example.com:5000/a/b/c/os-image:v1.2_3-x",
    "image-registry.openshift-image-registry.svc:5000/openshift-machine-config-operator/os-image:latest",
    "127.0.0.1:5000/mosb/os-image:latest",
    "my_svc.my-ns.svc:5000/repo/image:tag",  # only the .svc alternative accepts '_' here
    "a" * 430 + ".io/o/i:latest",
    "quay.io/name:tag",
    "quay.io/org/os-image:latest",
    "registry.example.com:5000/org/os-image:v1.2.3",
    "127.0.0.1:5000/ocl/os-image:latest",
    "quay.io/team/sub/group/os-image:worker-0123abcd",
    "my_svc.ns.svc:5000/repo/name:tag",
]

_REF = {"group": "batch", "resource": "jobs", "namespace": "mosb", "name": "build-x"}
_COND = {
    "status": "True",
    "reason": "Building",
    "message": "",
    "lastTransitionTime": "2025-03-04T10:12:05Z",
}

MOSC_CASES = [
    Case(
        "mosc-name-is-not-the-pool",
        "MachineOSConfig",
        valid=False,
        name="infra",
        model_is=(
            "MachineOSConfig: MachineOSConfig name 'infra' must match spec.machineConfigPool.name "
            "'worker': there can only be one MachineOSConfig per MachineConfigPool, named after "
            "the pool"
        ),
        server_has=(MSG_MOSC_NAME,),
    ),
    Case(
        "containerfile-four-architectures",
        "MachineOSConfig",
        valid=True,
        spec={"containerFile": FIVE_ARCHES[:4]},
    ),
    Case(
        "containerfile-five-entries",
        "MachineOSConfig",
        valid=False,
        spec={"containerFile": FIVE_ARCHES},
        model_is=(
            "spec.containerFile: has 5 entries; at most 4 are allowed (one per containerfileArch)"
        ),
        server_has=("spec.containerFile", "must have at most 4 items"),
    ),
    Case(
        "containerfile-arch-twice",
        "MachineOSConfig",
        valid=False,
        spec={
            "containerFile": [
                containerfile_entry("AMD64"),
                containerfile_entry("AMD64", "FROM configs\nRUN true\n"),
            ]
        },
        model_has=("containerfileArch AMD64 appears more than once",),
        server_has=("spec.containerFile[1]", "Duplicate value", '"containerfileArch":"AMD64"'),
    ),
    Case(
        "containerfile-arch-twice-once-defaulted",  # the default is NoArch
        "MachineOSConfig",
        valid=False,
        spec={
            "containerFile": [
                containerfile_entry("NoArch"),
                containerfile_entry(None, "FROM configs\nRUN true\n"),
            ]
        },
        model_has=("containerfileArch NoArch appears more than once",),
        server_has=("Duplicate value", '"containerfileArch":"NoArch"'),
    ),
    Case(
        "containerfile-arch-lowercase",
        "MachineOSConfig",
        valid=False,
        spec={"containerFile": [containerfile_entry("amd64")]},
        model_is=(
            "spec.containerFile[0].containerfileArch: containerfileArch 'amd64' is not one of "
            "AMD64, ARM64, PPC64LE, S390X, NoArch"
        ),
        server_has=("spec.containerFile[0].containerfileArch", 'Unsupported value: "amd64"'),
    ),
    Case(
        "containerfile-arch-unknown",
        "MachineOSConfig",
        valid=False,
        spec={"containerFile": [containerfile_entry("RISCV64")]},
        model_is=(
            "spec.containerFile[0].containerfileArch: containerfileArch 'RISCV64' is not one of "
            "AMD64, ARM64, PPC64LE, S390X, NoArch"
        ),
        server_has=(
            "spec.containerFile[0].containerfileArch",
            'Unsupported value: "RISCV64"',
            '"ARM64", "AMD64", "PPC64LE", "S390X", "NoArch"',
        ),
    ),
    Case(  # characters, not bytes
        "containerfile-content-4096-characters",
        "MachineOSConfig",
        valid=True,
        spec={"containerFile": [containerfile_entry("S390X", "é" * 4096)]},
    ),
    Case(
        "containerfile-content-4096",
        "MachineOSConfig",
        valid=True,
        spec={"containerFile": [containerfile_entry("NoArch", "x" * 4096)]},
    ),
    Case(
        "containerfile-content-4097",
        "MachineOSConfig",
        valid=False,
        spec={"containerFile": [containerfile_entry("S390X", "x" * 4097)]},
        model_is=(
            "spec.containerFile[0]: the S390X containerfile content is 4097 characters long; "
            "the maximum is 4096"
        ),
        server_has=("spec.containerFile[0].content", "Too long", "4096"),
    ),
    Case(
        "containerfile-content-required",
        "MachineOSConfig",
        valid=False,
        spec={"containerFile": [{"containerfileArch": "NoArch"}]},
        model_is="spec.containerFile[0].content: Field required",
        server_has=("spec.containerFile[0].content", "Required value"),
    ),
    Case(
        "containerfile-omitted",
        "MachineOSConfig",
        valid=True,
        spec={"containerFile": DELETE},
    ),
    Case(
        "image-builder-type-not-job",
        "MachineOSConfig",
        valid=False,
        spec={"imageBuilder": {"imageBuilderType": "PodImageBuilder"}},
        model_is=(
            "spec.imageBuilder.imageBuilderType: imageBuilderType 'PodImageBuilder' is not "
            "supported: the only image builder type is 'Job'"
        ),
        server_has=("spec.imageBuilder.imageBuilderType", 'Unsupported value: "PodImageBuilder"'),
    ),
    Case(
        "push-secret-required",
        "MachineOSConfig",
        valid=False,
        spec={"renderedImagePushSecret": DELETE},
        model_is="spec.renderedImagePushSecret: Field required",
        server_has=("spec.renderedImagePushSecret", "Required value"),
    ),
    *(
        Case(
            f"{field_name}-name-not-rfc1123",
            "MachineOSConfig",
            valid=False,
            spec={field_name: value},
            model_has=(
                f"spec.{field_name}.name: {value['name']!r} is not valid: a lowercase RFC 1123",
            ),
            server_has=(f"spec.{field_name}.name", MSG_RFC1123),
        )
        for field_name, value in (
            ("renderedImagePushSecret", {"name": "Builder_Secret"}),
            ("baseImagePullSecret", {"name": "-pull"}),
            ("machineConfigPool", {"name": "worker."}),
        )
    ),
    *(
        Case(
            f"push-spec-valid-{spec[:40]}",
            "MachineOSConfig",
            valid=True,
            spec={"renderedImagePushSpec": spec},
        )
        for spec in VALID_PUSH_SPECS
    ),
    _push_spec("quay.io/myorg/os-image", "it has no tag: end it with :<tag>"),
    _push_spec("https://quay.io/myorg/os-image:latest", "remove the scheme 'https://'"),
    _push_spec(f"quay.io/myorg/os-image@{DIGEST}", "it contains a digest ('@')"),
    _push_spec(
        "localhost:5000/os-image:latest", "the registry host 'localhost' must be a name with"
    ),
    _push_spec("quay.io:1/os-image:latest", "the port '1' must be 2 to 5 digits"),
    _push_spec("quay.io/" + "n" * 62 + "/os-image:latest", "must be 1 to 61 characters"),
    _push_spec("quay.io/my org/os-image:latest", "it contains whitespace"),
    _push_spec("quay.io/myorg/os-image:lat+est", "the tag 'lat+est' may only contain"),
    _push_spec("quay.io/myorg/os+image:latest", "the image name 'os+image' may only contain"),
    _push_spec("quay.io", "it has no repository path after the registry host"),
    _push_spec(
        "quay.io/myorg/os-image:latest\n", "it contains whitespace", case_id="push-spec-newline"
    ),
    _push_spec("quay.io/org/os-image", "it has no tag: end it with :<tag>"),
    _push_spec("quay.io/org/os-image:", "the tag '' may only contain"),
    _push_spec("quay.io/org/os-image@sha256:" + "ab" * 32, "it contains a digest ('@')"),
    _push_spec("https://quay.io/org/os-image:latest", "remove the scheme 'https://'"),
    _push_spec(
        "localhost:5000/org/os-image:latest", "the registry host 'localhost' must be a name"
    ),
    _push_spec("quay.io/org/os image:latest", "it contains whitespace"),
    _push_spec("os-image:latest", "it has no repository path after the registry host"),
    _push_spec("quay.io:123456/org/os-image:latest", "the port '123456' must be 2 to 5 digits"),
    _push_spec("quay.io/org/os-image:latest/extra", "it has no tag: end it with :<tag>"),
    Case(
        "push-spec-empty",
        "MachineOSConfig",
        valid=False,
        spec={"renderedImagePushSpec": ""},
        model_is="spec.renderedImagePushSpec: must not be empty",
        server_has=("spec.renderedImagePushSpec", "at least 1 chars long"),
    ),
    Case(  # otherwise well formed
        "push-spec-450-characters",
        "MachineOSConfig",
        valid=False,
        spec={"renderedImagePushSpec": "a" * 441 + ".io/o/i:t"},
        model_is="spec.renderedImagePushSpec: is 450 characters long; the maximum is 447",
        server_has=("spec.renderedImagePushSpec", "Too long", "447"),
    ),
    Case(
        "push-spec-452-characters",
        "MachineOSConfig",
        valid=False,
        spec={"renderedImagePushSpec": "quay.io/" + "a" * 440 + ":tag"},
        model_is="spec.renderedImagePushSpec: is 452 characters long; the maximum is 447",
        server_has=("spec.renderedImagePushSpec", "Too long", "447"),
    ),
    Case(
        "mosc-current-image-by-tag",
        "MachineOSConfig",
        valid=False,
        status={"currentImagePullSpec": "registry.example.com/ocl/os-image:latest"},
        model_starts="status.currentImagePullSpec: ",
        model_has=(MSG_DIGEST_SUFFIX,),
        server_has=("status.currentImagePullSpec", MSG_DIGEST_SUFFIX),
    ),
]

MOSB_CASES = [
    Case(
        "mosb-push-spec-without-host",
        "MachineOSBuild",
        valid=False,
        spec={"renderedImagePushSpec": "os-image:latest"},
        model_starts="spec.renderedImagePushSpec: 'os-image:latest' is not a valid",
        server_has=("spec.renderedImagePushSpec", MSG_PUSH_SPEC),
    ),
    Case(
        "mosb-push-spec-without-tag",
        "MachineOSBuild",
        valid=False,
        spec={"renderedImagePushSpec": "quay.io/x"},
        model_starts="spec.renderedImagePushSpec: 'quay.io/x' is not a valid",
        server_has=("spec.renderedImagePushSpec", MSG_PUSH_SPEC),
    ),
    Case(
        "mosb-rendered-config-name-under-ten-characters",
        "MachineOSBuild",
        valid=False,
        spec={"machineConfig": {"name": "rendered1"}},
        model_is=(
            "spec.machineConfig.name: 'rendered1' is too short: at least 10 characters are required"
        ),
        server_has=("spec.machineConfig.name", "should be at least 10 chars long"),
    ),
    Case(
        "mosb-digested-spec-by-tag",
        "MachineOSBuild",
        valid=False,
        status={
            "digestedImagePushSpec": "image-registry.openshift-image-registry.svc:5000/"
            "openshift-machine-config-operator/os-image:latest"
        },
        model_starts="status.digestedImagePushSpec: ",
        server_has=("status.digestedImagePushSpec", MSG_DIGEST_SUFFIX),
    ),
    Case(
        "mosb-digested-spec-short-digest",
        "MachineOSBuild",
        valid=False,
        status={"digestedImagePushSpec": "registry.example.com/ocl/os@sha256:abc"},
        model_starts="status.digestedImagePushSpec: ",
        model_has=(MSG_DIGEST_SUFFIX,),
        server_has=("status.digestedImagePushSpec", MSG_DIGEST_SUFFIX),
    ),
    *(
        Case(
            f"mosb-build-end-{what}",
            "MachineOSBuild",
            valid=False,
            status={"buildStart": start, "buildEnd": end},
            model_is=f"status: {MSG_BUILD_END}",
            server_has=(MSG_BUILD_END,),
        )
        for what, start, end in (
            ("equal-to-start", "2025-03-04T10:31:40Z", "2025-03-04T10:31:40Z"),
            ("before-start", "2025-03-04T10:31:40Z", "2025-03-04T10:00:00Z"),
            ("without-start", DELETE, "2025-03-04T10:31:40Z"),
        )
    ),
    Case(
        "mosb-builder-job-type-without-job",
        "MachineOSBuild",
        valid=False,
        status={"builder": {"imageBuilderType": "Job"}},
        model_is=f"status.builder: {MSG_JOB_REQUIRED}",
        server_has=(MSG_JOB_REQUIRED,),
    ),
    Case(  # keyed by name and resource: the namespace does not tell them apart
        "mosb-related-object-twice",
        "MachineOSBuild",
        valid=False,
        status={"relatedObjects": [_REF, {**_REF, "namespace": "other"}]},
        model_has=("jobs/build-x appears more than once",),
        server_has=("status.relatedObjects[1]", "Duplicate value"),
    ),
    Case(
        "mosb-related-objects-eleven",
        "MachineOSBuild",
        valid=False,
        status={"relatedObjects": [{**_REF, "name": f"j{i}"} for i in range(11)]},
        model_is="status.relatedObjects: has 11 entries; the maximum is 10",
        server_has=("status.relatedObjects", "must have at most 10 items"),
    ),
    Case(  # upstream rejects "" too: a core-group object can't be named as usual elsewhere
        "mosb-related-object-group-empty",
        "MachineOSBuild",
        valid=False,
        status={"relatedObjects": [{**_REF, "group": ""}]},
        model_is="status.relatedObjects[0].group: must not be empty",
        server_has=("status.relatedObjects[0].group", MSG_RFC1123),
    ),
    Case(
        "mosb-related-object-group-missing",
        "MachineOSBuild",
        valid=False,
        status={"relatedObjects": [{k: v for k, v in _REF.items() if k != "group"}]},
        model_has=("status.relatedObjects[0].group: Field required",),
        server_has=("status.relatedObjects[0].group", "Required value"),
    ),
    Case(
        "mosb-related-object-resource-not-dns1035",
        "MachineOSBuild",
        valid=False,
        status={"relatedObjects": [{**_REF, "resource": "1jobs"}]},
        model_has=("a DNS-1035 label",),
        server_has=("status.relatedObjects[0].resource", "a DNS-1035 label"),
    ),
    Case(
        "mosb-related-object-namespace-not-dns1123-label",
        "MachineOSBuild",
        valid=False,
        status={"relatedObjects": [{**_REF, "namespace": "a.b"}]},
        model_has=("only lowercase alphanumeric characters and hyphens",),
        server_has=(
            "status.relatedObjects[0].namespace",
            "only lowercase alphanumeric characters and hyphens",
        ),
    ),
    Case(
        "mosb-conditions-nine",
        "MachineOSBuild",
        valid=False,
        status={"conditions": [{**_COND, "type": f"Type{i}"} for i in range(9)]},
        model_is="status.conditions: has 9 conditions; the maximum is 8",
        server_has=("status.conditions", "must have at most 8 items"),
    ),
    Case(
        "mosb-condition-type-twice",
        "MachineOSBuild",
        valid=False,
        status={"conditions": [{**_COND, "type": "Building"}] * 2},
        model_has=("condition type 'Building' appears more than once",),
        server_has=("status.conditions[1]", "Duplicate value", '"type":"Building"'),
    ),
    Case(
        "mosb-condition-reason-not-camel-case",
        "MachineOSBuild",
        valid=False,
        status={"conditions": [{**_COND, "type": "Building", "reason": "Not ok"}]},
        model_has=("'Not ok' is not a valid condition reason",),
        server_has=("status.conditions[0].reason", "should match"),
    ),
    Case(
        "mosb-condition-status-lowercase",
        "MachineOSBuild",
        valid=False,
        status={"conditions": [{**_COND, "type": "Building", "status": "true"}]},
        model_has=("status.conditions[0].status: Input should be 'True', 'False' or 'Unknown'",),
        server_has=("status.conditions[0].status", 'Unsupported value: "true"'),
    ),
    Case(
        "mosb-condition-type-with-domain",
        "MachineOSBuild",
        valid=True,
        status={"conditions": [{**_COND, "type": "mosb-controller.io/Amd64"}]},
    ),
]

CASES = [*MOSC_CASES, *MOSB_CASES]
