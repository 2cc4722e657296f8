"""kubectl-mosb: operate mosb-controller's builds from kubectl or oc (`kubectl mosb …`,
`oc mosb …`). Exit 0: done (the build succeeded, for rebuild and retry-failed); 1: the
build ended Failed or Interrupted, or an API error; 2: bad input or nothing to act on."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from api import REBUILD_ANNOTATION, RETRY_FAILED_ANNOTATION, BuildProgress
from mosb_controller import cli
from mosb_controller.plugin import commands
from mosb_controller.plugin.commands import PluginError, Target
from mosb_controller.settings import Settings

EXIT_FAILED = 1
REQUESTS = {"rebuild": REBUILD_ANNOTATION, "retry-failed": RETRY_FAILED_ANNOTATION}


def _target(args: argparse.Namespace) -> Target:
    from mosb_controller.cluster.kube import load_api_client
    from mosb_controller.cluster.operate import Operate

    client = load_api_client(args.kubeconfig, args.context)
    namespace = Settings.load(argparse.Namespace(namespace=args.namespace)).namespace
    return Target(Operate(client, namespace), args.mosc, args.group)


def cmd_status(args: argparse.Namespace) -> int:
    print(commands.status(_target(args)), end="")
    return 0


def cmd_request(args: argparse.Namespace) -> int:
    target = _target(args)
    annotation = REQUESTS[args.command]
    commands.request(target, annotation)
    if args.no_wait:
        return 0
    state = commands.follow(target, annotation, args.timeout)
    print(f"{target.name}: {state.value}")
    return 0 if state is BuildProgress.SUCCEEDED else EXIT_FAILED


def cmd_logs(args: argparse.Namespace) -> int:
    print(commands.logs(_target(args), args.arch), end="")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """`mosb-controller plan --live`, the same code."""
    args.live, args.filename = True, []
    return cli.cmd_plan(args)


def _common(parser: argparse.ArgumentParser, *, namespace: bool = True) -> None:
    parser.add_argument("mosc", nargs="?", metavar="MOSC", help="the MachineOSConfig (if several)")
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube/config)"
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument(
        "--group",
        help="API group of the MachineOSConfigs (default: discovered; ours, "
        "machineconfiguration.mosb-controller.io, in alongside-mco mode when it holds the "
        "MachineOSConfig, else machineconfiguration.openshift.io)",
    )
    if namespace:
        parser.add_argument(
            "-n", "--namespace", help="the controller's namespace (its build Jobs; default "
            "MOSB_NAMESPACE or mosb-controller)"
        )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl mosb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="per-architecture table of the current build")
    _common(status)
    status.set_defaults(func=cmd_status)
    for name, what in (("rebuild", "every architecture"), ("retry-failed", "failed ones")):
        req = sub.add_parser(name, help=f"build {what} again, then follow until it settles")
        _common(req)
        req.add_argument("--no-wait", action="store_true", help="only set the annotation")
        req.add_argument("--timeout", type=float, default=3600, help="seconds (default 3600)")
        req.set_defaults(func=cmd_request)
    logs = sub.add_parser("logs", help="the build log of one architecture of the current build")
    logs.add_argument("arch", metavar="ARCH", help="amd64, arm64, ppc64le or s390x")
    _common(logs)
    logs.set_defaults(func=cmd_logs)
    plan = sub.add_parser("plan", help="dry run: what the operator would build, and why")
    _common(plan, namespace=False)  # the operator's settings below carry --namespace
    cli.add_plan_arguments(plan)
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return cli.guarded(f"kubectl mosb {args.command}", lambda: args.func(args), (PluginError,))
    except KeyboardInterrupt:  # while following a build: the request stays set
        print(f"kubectl mosb {args.command}: interrupted", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
