"""Architecture detection. Pure: node → architecture, pool → architecture set, the record
and the writes that keep it current. No I/O, no clock: the runtime feeds it nodes and
pools and writes what it returns.

`nodes`: a node's facts and architecture; `selector`: label selectors; `record`: the
record and `detect`; `tally`: the same, kept incrementally; `writes`: what to write.
"""

from mosb_controller.arch.nodes import (
    ARCH_LABEL,
    ARCH_TAINT_KEYS,
    SUPPORTED_ARCHES,
    NodeFacts,
    Taint,
    build_tolerations,
    node_facts,
    normalise_arch,
)
from mosb_controller.arch.record import (
    ArchSummary,
    ClusterRecord,
    detect,
)
from mosb_controller.arch.selector import (
    Requirement,
    Selector,
    SelectorError,
    compile_selector,
)
from mosb_controller.arch.tally import (
    ArchTally,
)

__all__ = [
    "ARCH_LABEL",
    "ARCH_TAINT_KEYS",
    "SUPPORTED_ARCHES",
    "ArchSummary",
    "ArchTally",
    "ClusterRecord",
    "NodeFacts",
    "Requirement",
    "Selector",
    "SelectorError",
    "Taint",
    "build_tolerations",
    "compile_selector",
    "detect",
    "node_facts",
    "normalise_arch",
]
