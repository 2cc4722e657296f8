"""Rebuild avoidance: build Jobs run for a scripted sequence of 20 typical admin edits.

The edits go to a real operator on the local cluster (real builds, so reuse is checked
against images that really exist). Two baselines, both upstream's rule extended to N
architectures: the MOSB name hashes the pool's rendered config, the base image, the
architectures and the MOSC spec with `containerFile` in list order; a name not built
before builds every architecture, a name built before is reused (upstream rule 3).
`baseline` is upstream's rule today: besides, a new rendered config that changes none of
osImageURL, kernelType, extensions, kernelArguments reuses the current image (MCO, 2025).
`baseline_old` is the rule before that: every new rendered config builds everything.

The same edits run twice: in builder mode and in alongside-mco mode (our own group, the
base from the osimageurl ConfigMap). There a new rendered config, which publishing our
MachineConfig causes (its osImageURL is our image), must cost 0 builds.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from api import Mode, published_config_name
from api.names import GROUP, VERSION
from hack.bench import audit
from hack.bench.flow import job_names, mosbs, succeeded, wait_for, wait_recorded
from hack.localcluster import LocalCluster, running

POOL = "worker"
# A RUN step, as admins write them: each architecture runs it (here through qemu-user,
# standing in for the native CPU of its node; see hack/binfmt.sh).
COMMON = (
    "FROM configs AS final\nARG TARGETARCH\nLABEL io.mosb.bench.arch=$TARGETARCH\n"
    "RUN uname -m > /etc/mosb-bench-machine"
)


def content(tag: str) -> str:
    return f"{COMMON}\nLABEL io.mosb.bench.edit={tag}"


@dataclass(frozen=True)
class State:
    """What the baseline's hash sees (metadata edits change nothing in it)."""

    entries: tuple[tuple[str, str], ...]  # containerFile, in list order
    rendered: str = f"rendered-{POOL}-1"
    arches: tuple[str, ...] = ("amd64", "arm64", "ppc64le")
    metadata: tuple[tuple[str, str], ...] = ()
    pool_spec: tuple[tuple[str, str], ...] = ()

    def baseline_name(self) -> str:
        canonical = json.dumps([self.rendered, sorted(self.arches), self.entries])
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _set_entry(state: State, arch: str, tag: str | None) -> State:
    """Change (or, with None, remove) one entry in place; a new one goes last."""
    entries = [(a, c) for a, c in state.entries if a != arch or tag is not None]
    if tag is not None:
        if any(a == arch for a, _ in entries):
            entries = [(a, content(tag) if a == arch else c) for a, c in entries]
        else:
            entries.append((arch, content(tag)))
    return replace(state, entries=tuple(entries))


def _reorder(state: State) -> State:
    return replace(state, entries=tuple(reversed(state.entries)))


def _meta(state: State, key: str, value: str) -> State:
    return replace(state, metadata=(*state.metadata, (key, value)))


def _pool(state: State, key: str, value: str) -> State:
    return replace(state, pool_spec=(*state.pool_spec, (key, value)))


Edit = tuple[str, Callable[[State], State]]
RENDERED_2 = f"rendered-{POOL}-2"
EDITS: list[Edit] = [
    ("reorder containerFile", _reorder),
    ("change ARM64 entry", lambda s: _set_entry(s, "ARM64", "a1")),
    ("add a label to the MOSC", lambda s: _meta(s, "label", "team=infra")),
    ("change NoArch entry", lambda s: _set_entry(s, "NoArch", "c1")),
    ("reorder containerFile", _reorder),
    ("add an annotation to the MOSC", lambda s: _meta(s, "annotation", "note=reviewed")),
    ("add a PPC64LE entry", lambda s: _set_entry(s, "PPC64LE", "p0")),
    (
        "new rendered MachineConfig for the pool",
        lambda s: replace(s, rendered=f"rendered-{POOL}-2"),
    ),
    ("add s390x nodes to the pool", lambda s: replace(s, arches=(*s.arches, "s390x"))),
    ("ARM64 entry back to its first content", lambda s: _set_entry(s, "ARM64", "a0")),
    ("reorder containerFile", _reorder),
    ("pool maxUnavailable 1 → 2", lambda s: _pool(s, "maxUnavailable", "2")),
    ("add an S390X entry", lambda s: _set_entry(s, "S390X", "s0")),
    ("ARM64 entry back to a1", lambda s: _set_entry(s, "ARM64", "a1")),
    ("reorder containerFile", _reorder),
    ("pause the pool", lambda s: _pool(s, "paused", "true")),
    ("change NoArch entry", lambda s: _set_entry(s, "NoArch", "c2")),
    ("add a label to the MOSC", lambda s: _meta(s, "label", "tier=1")),
    ("NoArch entry back to c1", lambda s: _set_entry(s, "NoArch", "c1")),
    ("drop the ARM64 entry (arm64 falls back to NoArch)", lambda s: _set_entry(s, "ARM64", None)),
]
FIRST = State(entries=(("NoArch", content("c0")), ("ARM64", content("a0"))))


@dataclass
class Baseline:
    reuse_same_os: bool  # upstream since 2025: a config edit changing no rebuild input
    built: set[str] = field(default_factory=set)

    def jobs(self, before: State | None, state: State) -> int:
        name = state.baseline_name()
        if name in self.built:
            return 0
        self.built.add(name)
        # The bench's rendered configs differ in their name only (same osImageURL, no
        # extensions, kernel type or arguments): upstream now reuses the current image.
        config_only = before is not None and before.rendered != state.rendered
        if self.reuse_same_os and before and config_only:
            return 0 if replace(before, rendered=state.rendered) == state else len(state.arches)
        return len(state.arches)


def _apply(local: LocalCluster, before: State, after: State) -> None:
    """Make the cluster match `after` (one edit away from `before`)."""
    if after.entries != before.entries:
        local.apply_mosc(POOL, after.entries)
    for kind, pair in after.metadata[len(before.metadata) :]:
        key, value = pair.split("=")
        field_name = "labels" if kind == "label" else "annotations"
        local.custom.patch_cluster_custom_object(
            local.group("machineosconfigs"), VERSION, "machineosconfigs", POOL,
            {"metadata": {field_name: {key: value}}},
        )  # fmt: skip
    if after.rendered != before.rendered:
        local.create("machineconfigs", "MachineConfig", {
            "metadata": {"name": after.rendered}, "spec": {"osImageURL": _rendered_image(local)},
        })  # fmt: skip
        _patch_pool(local, {"configuration": {"name": after.rendered}})
    for key, value in after.pool_spec[len(before.pool_spec) :]:
        _patch_pool(local, {key: json.loads(value)})
    if after.arches != before.arches:
        added = [a for a in after.arches if a not in before.arches]
        local.add_nodes(POOL, added, 1, f"{POOL}-added")


def _patch_pool(local: LocalCluster, spec: dict[str, Any]) -> None:
    local.custom.patch_cluster_custom_object(
        GROUP, VERSION, "machineconfigpools", POOL, {"spec": spec}
    )


def _settled(local: LocalCluster, quiet: float = 2.5, timeout: float = 180) -> None:
    """Until no build is under way and nothing has changed for `quiet` seconds."""
    last_change, last_seen = time.monotonic(), None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = job_names(local)
        snapshot = (
            sorted(jobs),
            sorted(
                (m["metadata"]["name"], json.dumps((m.get("status") or {}).get("conditions")))
                for m in mosbs(local)
            ),
        )
        if snapshot != last_seen:
            last_seen, last_change = snapshot, time.monotonic()
        elif not jobs and time.monotonic() - last_change >= quiet:
            return
        time.sleep(0.2)
    raise TimeoutError("the operator did not settle")


def _rendered_image(local: LocalCluster) -> str:
    """The osImageURL the MCO renders: in alongside-mco, our MachineConfig's (it merges
    last); in builder mode, the release's base."""
    if local.mode is Mode.BUILDER:
        return local.base_image
    return str(local.get("machineconfigs", published_config_name(POOL))["spec"]["osImageURL"])


def run() -> dict[str, Any]:
    rows, registry = _run(Mode.BUILDER, measure=True)  # registry bytes: builder mode's
    alongside, _ = _run(Mode.ALONGSIDE_MCO)
    for row, other in zip(rows, alongside, strict=True):
        row["alongside"], row["alongside_jobs"] = other["ours"], other["jobs"]
    edits = rows[1:]
    ours = sum(r["ours"] for r in edits)
    base, old = (sum(r[k] for r in edits) for k in ("baseline", "baseline_old"))
    return {
        "edits": rows,
        "build_jobs_ours": ours,
        "build_jobs_alongside": sum(r["alongside"] for r in edits),
        "push_jobs_ours": sum(r["push"] for r in edits),
        "build_jobs_baseline": base,
        "build_jobs_baseline_old": old,
        "fewer": round(1 - ours / base, 3) if base else None,
        "fewer_than_old": round(1 - ours / old, 3) if old else None,
        "registry": registry,
    }


def _run(mode: Mode, measure: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    baselines = Baseline(reuse_same_os=True), Baseline(reuse_same_os=False)
    registry: dict[str, Any] = {}
    with running(["--no-prune-images"], mode=mode) as local:
        seeded = local.registry.collected_bytes() if measure else 0  # the base image alone
        local.add_pool(POOL, FIRST.arches)
        wait_recorded(local, POOL, FIRST.arches)
        state, start = FIRST, time.time()
        local.apply_mosc(POOL, state.entries)
        _settled(local)
        rows.append(_row("create the MOSC", local, start, [b.jobs(None, state) for b in baselines]))
        for what, edit in EDITS:
            after, start = edit(state), time.time()
            _apply(local, state, after)
            before, state = state, after
            if after.arches != FIRST.arches and what.startswith("add s390x"):
                wait_recorded(local, POOL, after.arches)
            _settled(local)
            rows.append(_row(what, local, start, [b.jobs(before, state) for b in baselines]))
        wait_for(lambda: all(map(succeeded, mosbs(local))), 30, "every MOSB to have succeeded")
        if measure:
            registry = {"seeded_base_bytes": seeded, **_registry_bytes(local)}
    return rows, registry


def _registry_bytes(local: LocalCluster) -> dict[str, Any]:
    """The registry's bytes after garbage collection: as the sequence left it with pruning
    off (retention still deletes the old MOSBs), then after the operator restarted with
    pruning on and pruned what they left. Pruning compares the repository with the live
    records, so the tags left are those continuous pruning leaves."""
    repo = f"ocl/{POOL}"
    without = {"bytes": local.registry.collected_bytes(), "tags": len(local.registry.tags(repo))}
    op = local.operator
    assert op is not None
    op.stop()
    op.extra_args = [a for a in op.extra_args if a != "--no-prune-images"]
    op.start()
    # Pruned once the first round ran (its counter appears) and nothing changes any more.
    counted = re.compile(r'^mosb_pruned_images_total\{mosc="worker"\} (\S+)$', re.M)
    wait_for(lambda: counted.search(op.scrape()), 120, "the first pruning round")
    _quiet(lambda: (counted.findall(op.scrape()), local.registry.tags(repo)))
    pruned = {"bytes": local.registry.collected_bytes(), "tags": len(local.registry.tags(repo))}
    return {"without_pruning": without, "with_pruning": pruned, "mosbs": len(mosbs(local))}


def _quiet(read: Callable[[], Any], quiet: float = 5.0, timeout: float = 120) -> None:
    """Until `read()` returns the same for `quiet` seconds (the pruner is done)."""
    last, since = read(), time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise TimeoutError("the registry's tags did not settle")


def _row(what: str, local: LocalCluster, start: float, baseline_jobs: list[int]) -> dict[str, Any]:
    found = audit.creates(
        audit.between(audit.requests(local.plane.audit_log), start, time.time()), "jobs"
    )
    builds = [r.name for r in found if not r.name.endswith("-push")]
    pushes = len(found) - len(builds)
    base, old = baseline_jobs
    return {"edit": what, "ours": len(builds), "push": pushes, "baseline": base,
            "baseline_old": old, "jobs": builds}  # fmt: skip
