"""Label selectors as Kubernetes evaluates them (metav1.LabelSelectorAsSelector): the
one implementation, for pools' nodeSelectors. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        return not present  # DoesNotExist


class SelectorError(ValueError):
    """A label selector Kubernetes itself would reject."""


@dataclass(frozen=True)
class Selector:
    """A compiled metav1.LabelSelector. `None` selects nothing; `{}` selects everything."""

    requirements: tuple[Requirement, ...] | None

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(r.key for r in self.requirements or ())

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.requirements is None:
            return False
        return all(r.matches(labels) for r in self.requirements)


def compile_selector(selector: Mapping[str, Any] | None) -> Selector:
    if selector is None:
        return Selector(None)
    reqs = [
        Requirement(str(k), "In", frozenset({str(v)}))
        for k, v in (selector.get("matchLabels") or {}).items()
    ]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        values = frozenset(str(v) for v in expr.get("values") or [])
        if op not in {"In", "NotIn", "Exists", "DoesNotExist"}:
            raise SelectorError(f"unknown selector operator {op!r} for key {expr.get('key')!r}")
        if op in {"In", "NotIn"} and not values:
            raise SelectorError(f"operator {op} for key {expr.get('key')!r} needs values")
        if op in {"Exists", "DoesNotExist"} and values:
            raise SelectorError(f"operator {op} for key {expr.get('key')!r} takes no values")
        reqs.append(Requirement(str(expr.get("key")), str(op), values))
    return Selector(tuple(reqs))


# -- the record ------------------------------------------------------------------------
