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

    async def check(self, ref: str, push_secret: str) -> ImageCheck:
        cached = self._found.get(ref)
        if cached is not None:
            return cached
        answer = await asyncio.to_thread(self._check, ref, push_secret)
        if answer.state == RegistryAnswer.EXISTS:
            self._found[ref] = answer
        return answer

    def _check(self, ref: str, push_secret: str) -> ImageCheck:
        self.calls += 1
        namespace = self.settings.namespace
        auth = self.writer.read_secret_data(namespace, push_secret, ".dockerconfigjson")
        if auth is None:
            return ImageCheck(RegistryAnswer.UNKNOWN, detail=f"push secret {push_secret} not found")
        with tempfile.TemporaryDirectory(prefix="mosb-check-") as tmp:
            authfile = Path(tmp) / "auth.json"
            authfile.touch(mode=0o600)
            authfile.write_bytes(auth)
            argv = [
                self.skopeo,
                "inspect",
                "--raw",
                "--retry-times=1",
                f"--authfile={authfile}",
                f"--tls-verify={'true' if self.settings.registry_tls_verify else 'false'}",
            ]
            if self.settings.registry_ca_configmap:
                cas = self.writer.read_configmap_data(
                    namespace, self.settings.registry_ca_configmap
                )
                if cas and "ca-bundle.crt" in cas:
                    (Path(tmp) / "certs").mkdir()
                    (Path(tmp) / "certs" / "ca.crt").write_text(cas["ca-bundle.crt"])
                    argv.append(f"--cert-dir={Path(tmp) / 'certs'}")
            argv += ["--", f"docker://{ref}"]
            try:
                done = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_SECONDS)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return ImageCheck(RegistryAnswer.UNKNOWN, detail=type(exc).__name__)
        answer = classify(done.returncode, done.stdout, done.stderr.decode(errors="replace"))
        log.info("image %s: %s %s", ref, answer.state, answer.detail)
        return answer
