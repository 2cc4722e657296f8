"""Everything a build's Jobs run with, or why nothing is built. Pure.

The MachineOSConfig's build inputs first (planning/inputs.py), then what the cluster gives
the Jobs: the Secrets they mount (planning/buildsecrets.py) and the image they run
(planning/builderimage.py). Each step may refuse; the first refusal is the answer.
"""

from __future__ import annotations

from mosb_controller.planning import builderimage, buildsecrets
from mosb_controller.planning.inputs import BuildInputs, Refusal, build_inputs
from mosb_controller.planning.observed import Observed

CHECKS = (buildsecrets.check, builderimage.check)


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
