"""Play a node's container runtime for one pod, locally, without containers.

``run_pod`` takes a Pod (or a Job, or a Job's pod template) as a dict with exactly one
container and the data of the ConfigMaps/Secrets its volumes refer to, and runs the
container's command locally the way the kubelet would start it:

* each volume is materialised in a directory under ``workdir`` (ConfigMap/Secret data,
  with the volume's ``items`` key -> path projection and modes applied; ``emptyDir``
  volumes start empty);
* ``$(VAR)`` references in env, command and args are expanded as the kubelet does;
* every env value, command word and arg that is a volumeMount's mountPath or lies under
  it (or equals the container's terminationMessagePath) is rewritten to the local
  directory/file, so e.g. ``/bin/bash /etc/mosb/scripts/build.sh`` runs exactly the
  script the ConfigMap holds;
* the command runs directly (never through a shell) in its own session, with a minimal
  environment: the container's env, PATH, and a private HOME, TMPDIR and containers
  storage (``CONTAINERS_STORAGE_CONF`` -> vfs, graphroot/runroot under ``workdir``), so
  concurrent pods share no state;
* the termination message follows the kubelet: the message file's content (its last
  4096 bytes) if non-empty, else with ``FallbackToLogsOnError`` and a non-zero exit the
  log's last 80 lines / 2048 bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hack.registry import popen_dying_with_parent

DEFAULT_TERMINATION_PATH = "/dev/termination-log"
MAX_TERMINATION_MESSAGE = 4096
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PodSpecError(ValueError):
    """The pod uses something this runner doesn't emulate, or is inconsistent."""


@dataclass(frozen=True)
class PodOutcome:
    exit_code: int
    termination_message: str
    log_tail: str
    log_path: Path | None = None
    timed_out: bool = False
    duration: float = 0.0


def pod_spec_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The PodSpec of a Pod, a pod template, or a Job."""
    spec: Mapping[str, Any] = obj.get("spec") or {}
    if obj.get("kind") == "Job" or "template" in spec:
        spec = (spec.get("template") or {}).get("spec") or {}
    if "containers" not in spec:
        raise PodSpecError("no spec.containers (expected a Pod, pod template or Job)")
    return spec


# -- kubelet's $(VAR) expansion (k8s third_party/forked/golang/expansion) -----------------
def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Expand ``$(NAME)`` like the kubelet: ``$$`` -> ``$``; unknown names stay as they are."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(text)
    while cursor < n:
        if text[cursor] == "$" and cursor + 1 < n:
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1 :]
            advance = 1
            if rest[0] == "$":
                out.append("$")
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close == -1:
                    out.append("$(")
                else:
                    name = rest[1:close]
                    value = lookup(name)
                    out.append(value if value is not None else f"$({name})")
                    advance = close + 1
            else:
                out.append("$" + rest[0])
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _project(
    vol: Mapping[str, Any], data: Mapping[str, bytes] | None, dest: Path, vol_name: str
) -> None:
    """Write a ConfigMap/Secret volume's files into ``dest`` as the kubelet projects them."""
    dest.mkdir(parents=True, exist_ok=True)
    if "emptyDir" in vol:
        return
    source = vol.get("configMap") if "configMap" in vol else vol.get("secret")
    if source is None:
        kinds = sorted(k for k in vol if k != "name")
        raise PodSpecError(f"volume {vol_name}: unsupported volume source {kinds}")
    optional = bool(source.get("optional", False))
    if data is None:
        if optional:
            return
        raise PodSpecError(f"volume {vol_name}: no data given for its ConfigMap/Secret")
    default_mode = int(source.get("defaultMode", 0o644))
    items = source.get("items")
    files: list[tuple[str, bytes, int]] = []
    if items:
        for item in items:
            key, rel = item["key"], item["path"]
            if key not in data:
                if optional:
                    continue
                raise PodSpecError(f"volume {vol_name}: key {key!r} not in its source")
            files.append((rel, data[key], int(item.get("mode", default_mode))))
    else:
        files = [(k, v, default_mode) for k, v in data.items()]
    for rel, content, mode in files:
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise PodSpecError(f"volume {vol_name}: invalid path {rel!r}")
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)


def _storage_conf(workdir: Path) -> Path:
    storage = workdir / "containers-storage"
    (storage / "graphroot").mkdir(parents=True, exist_ok=True)
    (storage / "runroot").mkdir(parents=True, exist_ok=True)
    conf = workdir / "storage.conf"
    conf.write_text(
        "[storage]\n"
        'driver = "vfs"\n'
        f"graphroot = {json.dumps(str(storage / 'graphroot'))}\n"
        f"runroot = {json.dumps(str(storage / 'runroot'))}\n"
    )
    return conf


def _tail_bytes(path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - limit))
        return f.read()


def _log_tail(path: Path, lines: int, limit: int | None) -> str:
    data = _tail_bytes(path, limit if limit is not None else 1 << 20)
    text = b"\n".join(data.splitlines()[-lines:])
    if limit is not None:
        text = text[-limit:]
    return text.decode(errors="replace")


def run_pod(
    pod: Mapping[str, Any],
    volumes: Mapping[str, Mapping[str, bytes]],
    *,
    workdir: Path,
    extra_env: Mapping[str, str] | None = None,
    timeout: float,
) -> PodOutcome:
    """Run the pod's single container locally; see the module docstring."""
    spec = pod_spec_of(pod)
    containers = spec["containers"]
    if len(containers) != 1 or spec.get("initContainers"):
        raise PodSpecError("exactly one container and no initContainers are supported")
    ctr: Mapping[str, Any] = containers[0]
    argv_in = [*(ctr.get("command") or []), *(ctr.get("args") or [])]
    if not ctr.get("command"):
        raise PodSpecError("the container must state its command (no image entrypoints here)")
    if ctr.get("envFrom"):
        raise PodSpecError("envFrom is not supported")

    workdir.mkdir(parents=True, exist_ok=True)
    vols_dir = workdir / "volumes"
    pod_vols = {v["name"]: v for v in spec.get("volumes") or []}

    # volumes -> local directories; mounts -> (mountPath, local path)
    local_of_volume: dict[str, Path] = {}
    for name, vol in pod_vols.items():
        dest = vols_dir / name
        _project(vol, volumes.get(name), dest, name)
        local_of_volume[name] = dest
    unknown = set(volumes) - set(pod_vols)
    if unknown:
        raise PodSpecError(f"data given for volumes the pod doesn't declare: {sorted(unknown)}")
    mounts: list[tuple[str, Path]] = []
    for m in ctr.get("volumeMounts") or []:
        if m["name"] not in local_of_volume:
            raise PodSpecError(f"volumeMount of undeclared volume {m['name']!r}")
        local = local_of_volume[m["name"]]
        if m.get("subPath"):
            local = local / m["subPath"]
        mount_path = str(m["mountPath"]).rstrip("/") or "/"
        mounts.append((mount_path, local))
    mounts.sort(key=lambda mp: len(mp[0]), reverse=True)  # longest prefix wins

    term_path = str(ctr.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH)
    term_local = workdir / "termination-log"
    term_local.write_bytes(b"")

    def rewrite(value: str) -> str:
        if value == term_path:
            return str(term_local)
        for mount_path, local in mounts:
            if value == mount_path:
                return str(local)
            if value.startswith(mount_path + "/"):
                return str(local) + value[len(mount_path) :]
        return value

    # the container's env, expanded in order as the kubelet does
    meta = pod.get("metadata") or {}
    if pod.get("kind") == "Job":
        meta = ((pod.get("spec") or {}).get("template") or {}).get("metadata") or meta
    env_k8s: dict[str, str] = {}
    for e in ctr.get("env") or []:
        name = e["name"]
        if "valueFrom" in e:
            field = ((e["valueFrom"] or {}).get("fieldRef") or {}).get("fieldPath")
            if field == "metadata.name":
                env_k8s[name] = str(meta.get("name", ""))
            elif field == "metadata.namespace":
                env_k8s[name] = str(meta.get("namespace", "default"))
            else:
                raise PodSpecError(f"env {name}: only fieldRef metadata.name/namespace")
        else:
            env_k8s[name] = expand(str(e.get("value", "")), env_k8s.get)
    argv = [rewrite(expand(str(a), env_k8s.get)) for a in argv_in]

    home, tmp = workdir / "home", workdir / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env: dict[str, str] = {
        "PATH": os.environ.get("PATH", DEFAULT_PATH),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "HOSTNAME": str(meta.get("name", "pod")),
        "CONTAINERS_STORAGE_CONF": str(_storage_conf(workdir)),
    }
    env.update({k: rewrite(v) for k, v in env_k8s.items()})
    env.update(extra_env or {})

    cwd = workdir / "cwd"
    cwd.mkdir(exist_ok=True)
    if ctr.get("workingDir"):
        wd = Path(rewrite(str(ctr["workingDir"])))
        if not wd.is_dir():
            raise PodSpecError(f"workingDir {ctr['workingDir']!r} is not a local directory")
        cwd = wd
    if shutil.which(argv[0], path=env["PATH"]) is None and not Path(argv[0]).exists():
        raise PodSpecError(f"command {argv[0]!r} not found")

    log_path = workdir / "container.log"
    started = time.monotonic()
    timed_out = False
    with log_path.open("wb") as log:
        proc = popen_dying_with_parent(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            exit_code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            exit_code = 137
        finally:
            # like the kubelet tearing down the container: nothing of it outlives it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if exit_code < 0:  # killed by a signal: report it as a shell/runtime would
        exit_code = 128 - exit_code
    duration = time.monotonic() - started

    message = _tail_bytes(term_local, MAX_TERMINATION_MESSAGE).decode(errors="replace")
    policy = ctr.get("terminationMessagePolicy", "File")
    if not message and policy == "FallbackToLogsOnError" and exit_code != 0:
        message = _log_tail(log_path, FALLBACK_LOG_LINES, FALLBACK_LOG_BYTES)
    return PodOutcome(
        exit_code=exit_code,
        termination_message=message,
        log_tail=_log_tail(log_path, 40, None),
        log_path=log_path,
        timed_out=timed_out,
        duration=duration,
    )
