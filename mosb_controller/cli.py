"""Entry points: `run` (the operator), `architectures` (the record, offline) and `plan`
(a dry run: which MachineOSBuild an edit leads to, and per architecture build or reuse)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from api import MachineConfig, describe_validation_error
from mosb_controller import arch, dryrun
from mosb_controller.runtime import logs
from mosb_controller.settings import Settings

EXIT_REFUSED = 2  # a refusal or bad input
EXIT_UNEXPECTED = 1


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


def _read_objects(filenames: Sequence[str]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for name in filenames:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise dryrun.DryRunError(f"{name}: cannot read: {reason}") from None
        objects += dryrun.load_documents(text, "<stdin>" if name == "-" else name)
    return objects


def _plan(args: argparse.Namespace) -> int:
    if args.live and args.filename:
        raise dryrun.DryRunError("--live reads the cluster: give either --live or -f, not both")
    if not args.live and not args.filename:
        raise dryrun.DryRunError("give -f FILE (repeatable, - for stdin) or --live")
    if args.authfile is not None and not args.check_registry:
        raise dryrun.DryRunError("--authfile is for --check-registry")
    if args.authfile is not None and not args.authfile.is_file():
        raise dryrun.DryRunError(f"--authfile {args.authfile}: no such file")
    try:
        settings = Settings.load(args)
    except ValidationError as exc:
        raise dryrun.DryRunError(describe_validation_error(exc)) from None
    secrets_checked = jobs_known = None
    if args.live:
        from mosb_controller.cluster.kube import Kube, load_api_client
        from mosb_controller.cluster.live import LiveReader

        kube = Kube(
            load_api_client(getattr(args, "kubeconfig", None), getattr(args, "context", None)),
            mode=settings.mode,
        )
        osimageurl = (settings.osimageurl_namespace, settings.osimageurl_configmap)
        live = LiveReader(kube, settings.namespace, osimageurl).read(args.mosc)
        objects = live.objects
        secrets_checked, jobs_known = live.secrets_checked, live.jobs_known
    else:
        objects = _read_objects(args.filename)
    obs = dryrun.observed_from_objects(
        objects,
        mosc_name=args.mosc,
        settings=settings,
        now=dt.datetime.now(dt.UTC).replace(microsecond=0),
        registry=None,
        secrets_checked=secrets_checked,
        jobs_known=jobs_known,
    )
    answer = None
    if args.check_registry:
        answer = _registry_answers(args.authfile, settings.registry_tls_verify, obs.rendered)
    plan, obs = dryrun.complete_plan(obs, answer)
    if args.output == "json":
        print(json.dumps(dryrun.render_json(plan, obs), indent=2))
    else:
        print(dryrun.render_table(plan, obs), end="")
    return EXIT_REFUSED if plan.refusal is not None else 0


def _registry_answers(
    authfile: Path | None, tls_verify: bool, rendered: MachineConfig | None
) -> dryrun.Answerer:
    """Ask the registry, as the operator does (the same skopeo driver, through the
    pool's registries.conf)."""
    from mosb_controller.cluster.imagecheck import Access, Skopeo
    from mosb_controller.planning import clusterfiles

    auth = authfile.read_bytes() if authfile is not None else None
    access = Access(auth=auth, registries_conf=clusterfiles.registries_conf(rendered))
    skopeo = Skopeo(tls_verify=tls_verify)
    return lambda refs: skopeo.answers(refs, access)


def guarded(say: str, call: Callable[[], int], bad_input: tuple[type[Exception], ...] = ()) -> int:
    """Run a command that talks to the cluster; its failures said in one line on stderr
    prefixed `say`. Exit 2: bad input (`bad_input`, no kubeconfig); 1: anything else."""
    import kubernetes
    import urllib3

    from mosb_controller.cluster.kube import api_error

    try:
        return call()
    except bad_input as exc:
        print(f"{say}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except kubernetes.config.ConfigException as exc:
        print(f"{say}: no cluster configuration: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except kubernetes.client.ApiException as exc:
        print(f"{say}: API error {api_error(exc)}", file=sys.stderr)
        return EXIT_UNEXPECTED
    except urllib3.exceptions.HTTPError as exc:
        print(f"{say}: cannot reach the API server: {exc}", file=sys.stderr)
        return EXIT_UNEXPECTED
    except Exception:
        traceback.print_exc()
        print(f"{say}: unexpected error (above)", file=sys.stderr)
        return EXIT_UNEXPECTED


def cmd_plan(args: argparse.Namespace) -> int:
    """Exit 0: plan printed; 2: a refusal (printed) or bad input; 1: anything else."""
    return guarded("mosb-controller plan", lambda: _plan(args), (dryrun.DryRunError,))


def cmd_run(args: argparse.Namespace) -> int:
    import kopf  # imported here: the offline commands need no operator machinery
    from kopf._core.engines.peering import Identity  # kopf exports no name for its type

    from mosb_controller.runtime import handlers, memory
    from mosb_controller.runtime.leader import default_identity

    settings = Settings.load(args)
    logs.configure(settings.log_format)
    handlers.configure(settings)
    memory.tune()
    kopf.run(
        standalone=True,
        namespaces=[settings.namespace],
        liveness_endpoint=settings.liveness or None,
        # Without it kopf names itself after the user (getpass), and fails where the UID
        # has no passwd entry: the image's 1001, OpenShift's arbitrary UIDs.
        identity=Identity(default_identity()),
    )
    return 0


def add_plan_arguments(plan: argparse.ArgumentParser) -> None:
    """What `plan` and the plugin's `plan` share (the plugin reads only live, and takes
    the MachineOSConfig as an argument)."""
    plan.add_argument("-o", "--output", choices=("table", "json"), default="table")
    plan.add_argument(
        "--check-registry",
        action="store_true",
        help="ask the registry (skopeo inspect) instead of assuming recorded images exist",
    )
    plan.add_argument("--authfile", type=Path, help="registry credentials for --check-registry")
    # The operator's settings (namespace, timeouts, ...); own parser, so no clash with `run`.
    Settings.add_arguments(plan)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mosb-controller", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator against the current kubeconfig")
    Settings.add_arguments(run)
    run.set_defaults(func=cmd_run)
    archs = sub.add_parser(
        "architectures", help="print the architecture record of Nodes and MachineConfigPools"
    )
    archs.add_argument("files", nargs="+", type=Path, help="YAML files (kubectl get -o yaml)")
    archs.set_defaults(func=cmd_architectures)
    plan = sub.add_parser(
        "plan",
        help="dry run: the MachineOSBuild an edit leads to, per architecture build or reuse",
        description="Dry run: which MachineOSBuild the MachineOSConfig leads to and, per "
        "architecture, whether it is built or reused and why. Writes nothing. Exit 0: plan "
        "printed; 2: the operator would refuse (printed), or bad input; 1: anything else.",
    )
    plan.add_argument(
        "-f",
        "--filename",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML of MachineOSConfig, MachineConfigPool, rendered MachineConfig, Nodes and "
        "optionally MachineOSBuilds, Secrets, Jobs, Pods (multi-document, kind: List); "
        "repeatable; - for stdin",
    )
    plan.add_argument("--mosc", metavar="NAME", help="the MachineOSConfig (if several)")
    plan.add_argument(
        "--live", action="store_true", help="read the objects from the current kubeconfig"
    )
    add_plan_arguments(plan)
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
