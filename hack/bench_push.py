"""Measure the push step: what publishing the manifest list costs once the images exist.

Starts a local registry, seeds a multi-arch base image with an incompressible payload
per architecture (so a re-uploaded layer can't hide), runs the controller's rendered build
Job of every architecture (build.sh, through the pod runner), then the controller's
rendered push Job (push.sh) several times, each rendered for a new MachineOSBuild name so
each publishes a new tag, and reads the registry's access log for what each run sent:

* requests: all HTTP requests of the run;
* upload requests: POST/PATCH/PUT to ``/v2/<repo>/blobs/uploads/`` (zero is the goal),
  of which mounts: cross-repository blob mounts (POST ?mount=, no data sent);
* uploaded bytes: the size of every blob whose upload the run completed;
* manifest PUTs and their bytes (the list itself).

The builds themselves are measured once, as a reference row (they do upload).

``--compare-all`` also measures ``buildah manifest push --all`` of the same list, to show
what the flag push.sh deliberately leaves out would cost.

Usage: ``.venv/bin/python -m hack.bench_push [--runs 5] [--payload-mib 8] [--json out.json]``
The table goes to stderr; the JSON to stdout, or to ``--json PATH``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The rendered Jobs and the cluster data their volumes name: shared with the tests.
from hack import jobcontract as contract
from hack import registry


@dataclass(frozen=True)
class RunFigures:
    method: str
    run: int
    seconds: float
    ok: bool
    requests: int
    upload_requests: int
    mounted_blobs: int
    uploaded_blobs: int
    uploaded_bytes: int
    manifest_puts: int
    manifest_bytes: int


def measure(
    reg: registry.LocalRegistry, method: str, run: int, action: Callable[[], bool]
) -> RunFigures:
    before = len(reg.access_log())
    started = time.monotonic()
    ok = action()
    seconds = time.monotonic() - started
    time.sleep(0.2)  # let the registry flush its access log
    entries = reg.access_log()[before:]
    uploads = [
        e for e in entries if "/blobs/uploads/" in e.path and e.method in {"POST", "PATCH", "PUT"}
    ]
    completed = [
        q.split("=", 1)[1].replace("%3A", ":")
        for e in uploads
        if e.method in {"PUT", "POST"}
        for q in e.query.split("&")
        if q.startswith("digest=")
    ]
    uploaded = sum(reg.blob_size(d) or 0 for d in completed)
    mounted = [e for e in uploads if e.method == "POST" and "mount=" in e.query and e.status == 201]
    manifest_puts = [e for e in entries if e.method == "PUT" and "/manifests/" in e.path]
    manifest_bytes = 0
    for e in manifest_puts:
        repo, _, ref = e.path.removeprefix("/v2/").partition("/manifests/")
        stored = reg.manifest(repo, ref)
        manifest_bytes += len(stored[2]) if stored else 0
    return RunFigures(
        method=method,
        run=run,
        seconds=round(seconds, 3),
        ok=ok,
        requests=len(entries),
        upload_requests=len(uploads),
        mounted_blobs=len(mounted),
        uploaded_blobs=len(completed),
        uploaded_bytes=uploaded,
        manifest_puts=len(manifest_puts),
        manifest_bytes=manifest_bytes,
    )


def summarise(figures: Sequence[RunFigures]) -> list[dict[str, Any]]:
    rows = []
    for method in dict.fromkeys(f.method for f in figures):
        runs = [f for f in figures if f.method == method]
        secs = [f.seconds for f in runs]
        rows.append(
            {
                "method": method,
                "runs": len(runs),
                "all_ok": all(f.ok for f in runs),
                "seconds_min": min(secs),
                "seconds_median": round(statistics.median(secs), 3),
                "seconds_max": max(secs),
                "requests_median": statistics.median(f.requests for f in runs),
                "upload_requests_max": max(f.upload_requests for f in runs),
                "mounted_blobs_max": max(f.mounted_blobs for f in runs),
                "uploaded_bytes_max": max(f.uploaded_bytes for f in runs),
                "manifest_puts_median": statistics.median(f.manifest_puts for f in runs),
                "manifest_bytes_median": statistics.median(f.manifest_bytes for f in runs),
            }
        )
    return rows


def print_table(rows: Sequence[dict[str, Any]], out: Any) -> None:
    cols = [
        ("method", "method", "{}"),
        ("runs", "runs", "{}"),
        ("ok", "all_ok", "{}"),
        ("s min", "seconds_min", "{:.2f}"),
        ("s med", "seconds_median", "{:.2f}"),
        ("s max", "seconds_max", "{:.2f}"),
        ("requests", "requests_median", "{:g}"),
        ("upload reqs", "upload_requests_max", "{}"),
        ("mounts", "mounted_blobs_max", "{}"),
        ("uploaded B", "uploaded_bytes_max", "{}"),
        ("manifest PUTs", "manifest_puts_median", "{:g}"),
        ("manifest B", "manifest_bytes_median", "{:g}"),
    ]
    cells = [[fmt.format(r[key]) for _, key, fmt in cols] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (h, _, _) in enumerate(cols)]
    print("  ".join(h.ljust(w) for (h, _, _), w in zip(cols, widths, strict=True)), file=out)
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)), file=out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--arches", default=",".join(contract.ALL_ARCHES))
    ap.add_argument("--payload-mib", type=float, default=8.0, help="per-arch base layer size")
    ap.add_argument("--format", choices=("oci", "docker"), default="oci")
    ap.add_argument("--compare-all", action="store_true", help="also time manifest push --all")
    ap.add_argument("--json", type=Path, help="write the JSON here instead of stdout")
    args = ap.parse_args(argv)
    arches = [a for a in args.arches.split(",") if a]

    missing = registry.missing_tools()
    if missing:
        print(f"bench_push: missing tools: {', '.join(missing)}", file=sys.stderr)
        return 2

    figures: list[RunFigures] = []
    with registry.LocalRegistry() as reg, tempfile.TemporaryDirectory(prefix="mosb-bench-") as t:
        tmp = Path(t)
        base = registry.seed_base_image(
            reg, contract.BASE_REPO, arches, payload_bytes=int(args.payload_mib * 1024 * 1024)
        )
        inputs = contract.make_inputs(reg, base, arches, mosc="bench-" + time.strftime("%H%M%S"))
        sc = contract.scenario(reg, inputs, image_format=args.format)
        built: dict[str, contract.Built] = {}

        def build() -> bool:
            built.update(contract.build_all(sc, tmp))
            return all(b.outcome.exit_code == 0 for b in built.values())

        # a reference row: the builds' own pushes do upload (their new layers and configs;
        # the base layers are mounted from the base repository), so the counter can't be
        # stuck at zero
        figures.append(measure(reg, f"build.sh x{len(arches)} (reference)", 0, build))
        build_seconds = figures[-1].seconds
        refs = contract.digested(sc, built)

        for i in range(args.runs):
            # the same images, published by the push Job of another MOSB name (a new tag)
            run_sc = dataclasses.replace(sc, mosb=f"{sc.mosb}-list{i}")
            job = run_sc.push_job(refs)

            def push(
                run_sc: contract.Scenario = run_sc, job: dict[str, Any] = job, i: int = i
            ) -> bool:
                outcome = run_sc.run(job, tmp / f"push-{i}")
                if outcome.exit_code != 0:
                    print(outcome.termination_message, file=sys.stderr)
                return outcome.exit_code == 0

            figures.append(measure(reg, "push.sh (manifest push)", i, push))

        if args.compare_all:
            list_format = "oci" if args.format == "oci" else "v2s2"
            for i in range(args.runs):
                with registry.buildah_store("mosb-bench-all-") as b:
                    auth = reg.authfile(b.root_dir / "auth.json")
                    opts = ["--authfile", str(auth), "--cert-dir", str(reg.ca_dir)]
                    b("manifest", "create", "bench-list")
                    for a, ref in refs.items():
                        b("manifest", "add", *opts, "--arch", a, "--os", "linux",
                          "bench-list", f"docker://{ref}")  # fmt: skip
                    target = f"docker://{reg.host}/{contract.REPO}:{sc.mosb}-all{i}"

                    def push_all(
                        b: registry.Buildah = b, opts: list[str] = opts, target: str = target
                    ) -> bool:
                        b("manifest", "push", "--all", "--format", list_format, *opts,
                          "bench-list", target)  # fmt: skip
                        return True

                    figures.append(measure(reg, "manifest push --all", i, push_all))

    rows = summarise(figures)
    print(
        f"{len(arches)} architectures, {args.payload_mib:g} MiB base layer each, "
        f"format {args.format}; building them took {build_seconds:.1f}s",
        file=sys.stderr,
    )
    print_table(rows, sys.stderr)
    result = {
        "arches": arches,
        "format": args.format,
        "payload_mib": args.payload_mib,
        "build_seconds": round(build_seconds, 2),
        "summary": rows,
        "runs": [asdict(f) for f in figures],
    }
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    else:
        print(text)
    return 0 if all(f.ok for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
