"""What a build leaves to delete: after it succeeded, and before a MOSB of the same name
starts again. Pure: returns the deletes; the plan carries them out.

A succeeded build's Jobs (one per architecture and the push) and its Secret copies each go
in one request, by the MOSB uid on their BUILD_UID_LABEL (deletecollection): in the scale
benchmark's round of 50 builds that is 250 requests fewer than deleting them one by one.
Objects made before the label existed are deleted one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mosb_controller.planning import buildsecrets
from mosb_controller.planning import objects as jobspec
from mosb_controller.planning.observed import MosbView, Observed


@dataclass
class Deletes:
    jobs: list[str] = field(default_factory=list)
    configmaps: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    jobs_of: list[str] = field(default_factory=list)  # MOSB uids: all their Jobs, at once
    secrets_of: list[str] = field(default_factory=list)  # and all their Secret copies


def leftovers(obs: Observed, desired: str, architectures: Iterable[str]) -> tuple[Deletes, bool]:
    """Jobs and the inputs ConfigMap an earlier MOSB of the same name left (a rebuild or
    retry deletes the MOSB; garbage collection of its children lags), and whether any is
    still there, even being deleted: the new MOSB is created only once they are gone, so
    the new build never meets the old one's objects."""
    names = {jobspec.build_job_name(desired, a) for a in architectures}
    names.add(jobspec.push_job_name(desired))
    left = [n for n in sorted(names) if n in obs.jobs]
    found = Deletes(jobs=[n for n in left if not obs.jobs[n].deleting])
    configmap = jobspec.inputs_configmap_name(desired)
    if configmap in obs.configmaps:
        found.configmaps.append(configmap)
    return found, bool(left or found.configmaps)


def after_success(obs: Observed, mosb: MosbView, architectures: Iterable[str]) -> Deletes:
    """The Jobs, the inputs ConfigMap and the Secret copies have served (the MOSB's
    records keep the digests)."""
    names = [jobspec.build_job_name(mosb.name, a) for a in architectures]
    names.append(jobspec.push_job_name(mosb.name))
    jobs = {
        n: obs.jobs[n].labelled_uid for n in names if n in obs.jobs and not obs.jobs[n].deleting
    }
    copies = [buildsecrets.copy_name(mosb.name, role) for role in buildsecrets.ROLES]
    labelled = {n: obs.secret_copies.get(n, "") for n in copies if n in obs.secrets}
    deletes = Deletes()
    deletes.jobs, deletes.jobs_of = _one_by_one(jobs, mosb.uid)
    deletes.secrets, deletes.secrets_of = _one_by_one(labelled, mosb.uid)
    configmap = jobspec.inputs_configmap_name(mosb.name)
    if configmap in obs.configmaps:
        deletes.configmaps.append(configmap)
    return deletes


def _one_by_one(objects: Mapping[str, str], uid: str) -> tuple[list[str], list[str]]:
    """Of `objects` to delete (name → the MOSB uid on its label): the names to delete one
    by one, and `[uid]` when two or more carry it (one request by the label serves them).
    One alone is deleted by name: the same one request, and no label needed."""
    labelled = [name for name, on in objects.items() if on == uid]
    if len(labelled) < 2:
        return list(objects), []
    return [name for name in objects if name not in labelled], [uid]
