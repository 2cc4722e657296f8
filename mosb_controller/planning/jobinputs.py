"""Everything a build's Jobs run with, or why nothing is built. Pure.

The MachineOSConfig's build inputs first (planning/inputs.py), then what the cluster gives
the Jobs: the Secrets they mount (planning/buildsecrets.py) and the image they run
(planning/builderimage.py), and the pool's registries files (planning/clusterfiles.py). Each
step may refuse; the first refusal is the answer.
"""

from __future__ import annotations

from dataclasses import replace

from api import EventReason
from mosb_controller.planning import builderimage, buildsecrets, clusterfiles
from mosb_controller.planning.inputs import BuildInputs, Refusal, build_inputs
from mosb_controller.planning.observed import Observed


def registries_files(inputs: BuildInputs, obs: Observed) -> BuildInputs | Refusal:
    """The inputs with the pool's registries.conf and policy.json (planning/clusterfiles.py),
    or a refusal naming the one that can't be decoded."""
    try:
        found = clusterfiles.from_rendered(obs.rendered)
    except ValueError as exc:
        config = inputs.rendered_config
        return Refusal(EventReason.INVALID_BUILD_INPUTS, f"MachineConfig {config}: {exc}")
    files = replace(inputs.cluster_files, registries_conf=found.registries_conf,
                    policy_json=found.policy_json)  # fmt: skip
    return replace(inputs, cluster_files=files)


CHECKS = (registries_files, buildsecrets.check, builderimage.check)


def job_inputs(obs: Observed) -> BuildInputs | Refusal:
    inputs = build_inputs(
        obs.mosc,
        obs.pool,
        obs.rendered,
        obs.pool_arches,
        obs.settings.mode,
        obs.release_base,
        obs.network,
    )
    for check in CHECKS:
        if isinstance(inputs, Refusal):
            break
        inputs = check(inputs, obs)
    return inputs
