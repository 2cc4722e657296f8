"""The dry run: what would this edit build? The operator's own planner, settled with
registry answers, over objects from YAML files or the live cluster. Pure: the live
reader (`cluster.live`) and the registry (`cluster.imagecheck.Skopeo`) are the caller's.

`objects`: plain objects → `Observed`; `outcome`: the settled plan and its notes;
`render`: a table or JSON.
"""

from mosb_controller.dryrun.objects import (
    DryRunError,
    DryRunObserved,
    load_documents,
    observed_from_objects,
    pick_mosc,
)
from mosb_controller.dryrun.outcome import (
    ASSUMED_ABSENT,
    ASSUMED_EXISTS,
    Answerer,
    MosbOutcome,
    assumed_answers,
    complete_plan,
    mosb_outcome,
    notes,
)
from mosb_controller.dryrun.render import render_json, render_table

__all__ = [
    "ASSUMED_ABSENT",
    "ASSUMED_EXISTS",
    "Answerer",
    "DryRunError",
    "DryRunObserved",
    "MosbOutcome",
    "assumed_answers",
    "complete_plan",
    "load_documents",
    "mosb_outcome",
    "notes",
    "observed_from_objects",
    "pick_mosc",
    "render_json",
    "render_table",
]
