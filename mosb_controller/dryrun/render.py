"""The dry run's answer for a person (a table) or a program (JSON). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mosb_controller.dryrun.outcome import mosb_outcome, notes
from mosb_controller.planning.observed import Observed
from mosb_controller.planning.plan import Plan
from mosb_controller.planning.reuse import ArchDecision

SHORT_KEY = 12


def _rows(plan: Plan) -> list[ArchDecision]:
    return sorted(plan.decisions, key=lambda d: d.arch)


def render_json(plan: Plan, obs: Observed) -> dict[str, Any]:
    outcome = mosb_outcome(plan, obs)
    refusal = plan.refusal
    return {
        "machineOSConfig": obs.mosc.name,
        "machineOSBuild": outcome.name,
        "exists": outcome.exists,
        "machineOSBuildAction": outcome.action,
        "architectures": [
            {"arch": d.arch, "action": d.action, "key": d.key, "reason": d.reason}
            for d in _rows(plan)
        ],
        "refusal": None
        if refusal is None
        else {"reason": refusal.reason, "message": refusal.message},
        "notes": notes(plan, obs),
    }


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def render_table(plan: Plan, obs: Observed) -> str:
    outcome = mosb_outcome(plan, obs)
    head = [["MachineOSConfig", obs.mosc.name]]
    if plan.refusal is not None:
        head.append(["Refused", f"{plan.refusal.reason}: {plan.refusal.message}"])
    else:
        rows = _rows(plan)
        head.append(["MachineOSBuild", f"{outcome.name}  {outcome.text}"])
        head.append(["Architectures", ", ".join(d.arch for d in rows) or "-"])
    lines = _table(head)
    if plan.refusal is None:
        body = [["ARCH", "ACTION", "KEY", "REASON"]]
        body += [[d.arch, d.action, d.key[:SHORT_KEY], d.reason] for d in _rows(plan)]
        lines += ["", *_table(body)]
    found = notes(plan, obs)
    if found:
        lines += ["", "Notes:", *(f"  - {note}" for note in found)]
    return "\n".join(lines) + "\n"
