"""Entry points: `run` (the operator) and `architectures` (the record, offline or live)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from mosb_controller import arch
from mosb_controller.config import Settings


def _documents(paths: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """Objects from YAML files; `kind: List` and multi-document files are flattened."""
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            if doc.get("kind", "").endswith("List"):
                yield from doc.get("items") or []
            else:
                yield doc


def cmd_architectures(args: argparse.Namespace) -> int:
    objects = list(_documents(args.files))
    nodes = [arch.node_facts(o) for o in objects if o.get("kind") == "Node"]
    pools = {
        o["metadata"]["name"]: (o.get("spec") or {}).get("nodeSelector")
        for o in objects
        if o.get("kind") == "MachineConfigPool"
    }
    record = arch.detect(nodes, pools)
    out = {
        "cluster": record.cluster.to_json(),
        "pools": {name: s.to_json() for name, s in record.pools.items()},
        "invalidPools": dict(record.invalid_pools),
    }
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import kopf  # imported here: the offline commands need no operator machinery

    from mosb_controller import handlers

    settings = Settings.load(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("kopf.objects", "aiohttp.access"):  # a line per handled event otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handlers.configure(settings)
    kopf.run(
        standalone=True,
        namespaces=[settings.namespace],
        liveness_endpoint=args.liveness,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mosb-controller", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator against the current kubeconfig")
    Settings.add_arguments(run)
    run.add_argument("--liveness", default=None, help="e.g. http://0.0.0.0:8080/healthz")
    run.set_defaults(func=cmd_run)
    archs = sub.add_parser(
        "architectures", help="print the architecture record of Nodes and MachineConfigPools"
    )
    archs.add_argument("files", nargs="+", type=Path, help="YAML files (kubectl get -o yaml)")
    archs.set_defaults(func=cmd_architectures)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
