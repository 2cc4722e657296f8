"""Waiting on a real system, and saying what is missing when a real part is absent.

In CI (env CI set) a missing part fails the run; elsewhere the test skips with a message
naming what is missing (run hack/setup.sh)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes.client import ApiException

from hack import kube_paths

IN_CI = bool(os.environ.get("CI"))

T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    timeout: float = 20.0,
    interval: float = 0.1,
    *,
    what: str = "",
    retry_on: tuple[type[BaseException], ...] = (AssertionError, ApiException),
) -> T:
    """Poll `check` until it returns a truthy value; exceptions in `retry_on` count as
    "not yet" (the last one is raised at the deadline)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except retry_on as exc:
            last = exc
        time.sleep(interval)
    if last is not None:
        raise last
    raise AssertionError(f"not within {timeout}s: {what or check}")


def require(what_is_missing: list[str], hint: str) -> None:
    """Fail in CI, skip elsewhere, when a real part the test needs is missing."""
    if not what_is_missing:
        return
    message = f"missing {', '.join(what_is_missing)}: {hint}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def control_plane_missing() -> list[str]:
    """The binaries of the local control plane (and kwok) that are not installed."""
    missing = kube_paths.missing_binaries()
    if not (shutil.which("etcd") or Path("/usr/bin/etcd").exists()):
        missing.append("etcd")
    return missing


def delete_quietly(delete: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(ApiException):
        delete(*args)
