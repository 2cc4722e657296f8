"""Where hack/build-kube.sh caches the pinned binaries: looked up without building
anything, or built on first use (kube_bin_dir)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_HACK = Path(__file__).resolve().parent
ROOT = _HACK.parent


def pinned_versions() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (_HACK / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def cache_root() -> Path:
    explicit = os.environ.get("MOSB_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mosb-controller"


def cached_bin_dir() -> Path:
    return cache_root() / f"kube-{pinned_versions()['KUBE_VERSION']}" / "bin"


def missing_binaries() -> list[str]:
    names = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"]
    return [name for name in names if not (cached_bin_dir() / name).exists()]


def kubectl() -> str:
    """The pinned kubectl from the cache (a fresh machine has none on PATH)."""
    return str(cached_bin_dir() / "kubectl")


def promtool() -> Path:
    """The pinned promtool hack/build-promtool.sh builds (hack/setup.sh runs it)."""
    version = pinned_versions()["PROMETHEUS_VERSION"]
    return cache_root() / f"prometheus-{version}" / "bin" / "promtool"


def prometheus_operator_crds() -> Path:
    """The ServiceMonitor and PrometheusRule CRDs of the pinned prometheus-operator."""
    version = pinned_versions()["PROMETHEUS_OPERATOR_VERSION"]
    return cache_root() / f"prometheus-operator-{version}" / "crds"


def kube_bin_dir() -> Path:
    """The cached binaries, building them on first use (see hack/build-kube.sh)."""
    out = subprocess.run([str(_HACK / "build-kube.sh")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])
