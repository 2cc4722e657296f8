"""Does an image exist in the registry? Answered by skopeo (no hand-written registry
client), authenticated with the MOSC's push secret, cached briefly with cachetools.

A definite "no" (manifest unknown) lets the planner build; anything else that is not a
"yes" is UNKNOWN, which the planner also treats as "build" for reuse decisions. The
credentials live in a 0600 temporary file for the duration of one call and never reach
logs: skopeo's error text is reduced to one line that names no secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cachetools import TTLCache

from mosb_controller.config import Settings
from mosb_controller.kube import Writer
from mosb_controller.plan.observed import ImageCheck, RegistryAnswer

log = logging.getLogger(__name__)
_ABSENT_MARKERS = ("manifest unknown", "name unknown", "not found", "404")
TIMEOUT_SECONDS = 30


def classify(returncode: int, stdout: bytes, stderr: str) -> ImageCheck:
    """Turn a `skopeo inspect --raw` outcome into an answer. Pure."""
    if returncode == 0 and stdout:
        return ImageCheck(RegistryAnswer.EXISTS, "sha256:" + hashlib.sha256(stdout).hexdigest())
    text = stderr.strip().splitlines()
    detail = text[-1][-300:] if text else f"skopeo exited with {returncode}"
    lowered = stderr.lower()
    if any(marker in lowered for marker in _ABSENT_MARKERS):
        return ImageCheck(RegistryAnswer.ABSENT, detail=detail)
    return ImageCheck(RegistryAnswer.UNKNOWN, detail=detail)


class ImageChecker:
    def __init__(self, writer: Writer, settings: Settings, skopeo: str = "skopeo") -> None:
        self.writer, self.settings, self.skopeo = writer, settings, skopeo
        # Only "exists" is cached, briefly: a "no" can turn into a "yes" the moment a build
        # pushes, and a stale "no" would rebuild what a retry should reuse.
        self._found: TTLCache[str, ImageCheck] = TTLCache(maxsize=4096, ttl=60)
        self.calls = 0

    async def check_all(self, refs: Sequence[str], push_secret: str) -> list[ImageCheck]:
        """Answers for `refs`, in order; the credentials and CA are read once for all."""
        missing = [ref for ref in refs if ref not in self._found]
        if missing:
            access = await asyncio.to_thread(self._access, push_secret)
            answers = await asyncio.gather(
                *(asyncio.to_thread(self._check, ref, access) for ref in missing)
            )
            for ref, answer in zip(missing, answers, strict=True):
                if answer.state == RegistryAnswer.EXISTS:
                    self._found[ref] = answer
            fresh = dict(zip(missing, answers, strict=True))
        else:
            fresh = {}
        return [fresh.get(ref) or self._found[ref] for ref in refs]

    def _access(self, push_secret: str) -> _Access | ImageCheck:
        """What skopeo needs to reach the registry, or why it can't be asked."""
        namespace = self.settings.namespace
        auth = self.writer.read_secret_data(namespace, push_secret, ".dockerconfigjson")
        if auth is None:
            return ImageCheck(RegistryAnswer.UNKNOWN, detail=f"push secret {push_secret} not found")
        ca = None
        if self.settings.registry_ca_configmap:
            cas = self.writer.read_configmap_data(namespace, self.settings.registry_ca_configmap)
            ca = (cas or {}).get("ca-bundle.crt")
        return _Access(auth, ca)

    def _check(self, ref: str, access: _Access | ImageCheck) -> ImageCheck:
        if isinstance(access, ImageCheck):
            return access
        self.calls += 1
        with tempfile.TemporaryDirectory(prefix="mosb-check-") as tmp:
            authfile = Path(tmp) / "auth.json"
            authfile.touch(mode=0o600)
            authfile.write_bytes(access.auth)
            argv = [
                self.skopeo,
                "inspect",
                "--raw",
                "--retry-times=1",
                f"--authfile={authfile}",
                f"--tls-verify={'true' if self.settings.registry_tls_verify else 'false'}",
            ]
            if access.ca is not None:
                (Path(tmp) / "certs").mkdir()
                (Path(tmp) / "certs" / "ca.crt").write_text(access.ca)
                argv.append(f"--cert-dir={Path(tmp) / 'certs'}")
            argv += ["--", f"docker://{ref}"]
            try:
                done = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_SECONDS)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return ImageCheck(RegistryAnswer.UNKNOWN, detail=type(exc).__name__)
        answer = classify(done.returncode, done.stdout, done.stderr.decode(errors="replace"))
        log.info("image %s: %s %s", ref, answer.state, answer.detail)
        return answer


@dataclass(frozen=True)
class _Access:
    auth: bytes  # the .dockerconfigjson
    ca: str | None  # PEM bundle the registry's certificate chains to, if configured
