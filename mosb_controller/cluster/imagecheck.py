"""Does an image exist in the registry? Answered by skopeo (no hand-written registry
client): `Skopeo` drives it, `ImageChecker` is the operator's use of it, authenticated
with the MOSC's push secret and caching "yes" briefly with cachetools.

A definite "no" (manifest unknown) lets the planner build; anything else that is not a
"yes" is UNKNOWN, which the planner also treats as "build" for reuse decisions. Several
tags of one repository are answered by one `skopeo list-tags` (a new MOSB asks for one
tag per architecture), then `inspect --raw` only for the tags that exist (the digest). The
credentials live in a 0600 temporary file for the duration of one call and never reach
logs: skopeo's error text is reduced to one line that names no secret. With the pool's
registries.conf (from its rendered MachineConfig) skopeo reads as the build and push pods
and the nodes do: through the same mirrors, with the same blocked and insecure registries.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import subprocess
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from cachetools import TTLCache

from api import ImageReference
from mosb_controller.cluster.kube import Writer
from mosb_controller.cluster.network import NetworkReader
from mosb_controller.cluster.secrets import SecretReader
from mosb_controller.planning import buildsecrets, clusterfiles
from mosb_controller.planning.network import ClusterNetwork
from mosb_controller.planning.observed import ImageCheck, Observed, RegistryAnswer
from mosb_controller.settings import Settings

log = logging.getLogger(__name__)
# Whole words: a message names references whose digests may hold "404".
_ABSENT = re.compile(r"\b(manifest unknown|name unknown|not found|404)\b")
TIMEOUT_SECONDS = 30
CONCURRENT_CHECKS = 4  # skopeo processes at once: each costs ~40 ms of CPU


def classify(returncode: int, stdout: bytes, stderr: str) -> ImageCheck:
    """Turn a `skopeo inspect --raw` outcome into an answer. Pure."""
    if returncode == 0 and stdout:
        return ImageCheck(RegistryAnswer.EXISTS, "sha256:" + hashlib.sha256(stdout).hexdigest())
    text = stderr.strip().splitlines()
    detail = text[-1][-300:] if text else f"skopeo exited with {returncode}"
    lowered = stderr.lower()
    if _ABSENT.search(lowered):
        return ImageCheck(RegistryAnswer.ABSENT, detail=detail)
    return ImageCheck(RegistryAnswer.UNKNOWN, detail=detail)


def split_tag(ref: str) -> tuple[str, str] | None:
    """(repository, tag) of a tagged reference, "latest" when it names none; None for a
    reference by digest (nothing to list)."""
    parsed = ImageReference.parse(ref)
    return None if parsed.digest else (parsed.repository, parsed.tag or "latest")


@dataclass(frozen=True)
class Access:
    auth: bytes | None  # a .dockerconfigjson; None: anonymous
    ca: str | None = None  # PEM bundle the registry's certificate chains to, if any
    proxy: Mapping[str, str] = field(default_factory=dict)  # the builds' proxy variables
    registries_conf: str | None = None  # the pool's registries.conf; None: skopeo's own

    def environment(self) -> dict[str, str] | None:
        """skopeo's environment: the operator's own, with the builds' proxy over it (the
        checks reach the registry the way the builds do); None: unchanged."""
        return {**os.environ, **self.proxy} if self.proxy else None


class Skopeo:
    """Answers "does this image exist, and with which digest?" for many references at
    once, in parallel, with skopeo. The one place skopeo is driven for checks."""

    def __init__(self, *, tls_verify: bool, skopeo: str = "skopeo") -> None:
        self.tls_verify, self.skopeo = tls_verify, skopeo
        # Its own threads: checks never hold up the API writes waiting in other pools.
        self._pool = ThreadPoolExecutor(CONCURRENT_CHECKS, thread_name_prefix="skopeo")
        self._lock = threading.Lock()
        self.calls = 0

    def version(self) -> str | None:
        """skopeo's version line, or None when it can't run. Called once at start: it says
        early when skopeo is missing, and loads the binary before the first check needs
        it (on a fresh machine that first start alone took most of a second)."""
        done = self._call([self.skopeo, "--version"])
        if isinstance(done, ImageCheck) or done.returncode != 0:
            return None
        return done.stdout.decode(errors="replace").strip()

    def answers(self, refs: Sequence[str], access: Access) -> dict[str, ImageCheck]:
        by_repo: dict[str, list[str]] = defaultdict(list)
        for ref in refs:
            split = split_tag(ref)
            if split is not None:
                by_repo[split[0]].append(ref)
        listed = [repo for repo, tagged in by_repo.items() if len(tagged) > 1]
        tags = dict(
            zip(listed, self._pool.map(lambda r: self._tags(r, access), listed), strict=True)
        )
        answers: dict[str, ImageCheck] = {}
        for ref in refs:
            split = split_tag(ref)
            known = tags.get(split[0]) if split else None
            if isinstance(known, ImageCheck):  # the repository doesn't exist
                answers[ref] = known
            elif split is not None and known is not None and split[1] not in known:
                answers[ref] = ImageCheck(RegistryAnswer.ABSENT, detail="no such tag")
        rest = [ref for ref in refs if ref not in answers]
        inspected = self._pool.map(lambda r: self._inspect(r, access), rest)
        return answers | dict(zip(rest, inspected, strict=True))

    @contextlib.contextmanager
    def _argv(self, command: str, access: Access) -> Iterator[list[str]]:
        """skopeo's argv up to the image, with the credentials in a 0600 file meanwhile."""
        with tempfile.TemporaryDirectory(prefix="mosb-check-") as tmp:
            conf = []
            if access.registries_conf is not None:  # a global option: before the command
                (Path(tmp) / "registries.conf").write_text(access.registries_conf)
                conf = [f"--registries-conf={Path(tmp) / 'registries.conf'}"]
            argv = [
                self.skopeo,
                *conf,
                command,
                "--retry-times=1",
                f"--tls-verify={'true' if self.tls_verify else 'false'}",
            ]
            if access.auth is not None:
                authfile = Path(tmp) / "auth.json"
                authfile.touch(mode=0o600)
                authfile.write_bytes(access.auth)
                argv.append(f"--authfile={authfile}")
            if access.ca is not None:
                (Path(tmp) / "certs").mkdir()
                (Path(tmp) / "certs" / "ca.crt").write_text(access.ca)
                argv.append(f"--cert-dir={Path(tmp) / 'certs'}")
            yield argv

    def _call(
        self, argv: list[str], access: Access | None = None
    ) -> subprocess.CompletedProcess[bytes] | ImageCheck:
        with self._lock:
            self.calls += 1
        env = access.environment() if access else None
        try:
            return subprocess.run(argv, capture_output=True, timeout=TIMEOUT_SECONDS, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return ImageCheck(RegistryAnswer.UNKNOWN, detail=type(exc).__name__)

    def _tags(self, repository: str, access: Access) -> frozenset[str] | ImageCheck | None:
        """The repository's tags; an ABSENT answer if it has none; None if unknown."""
        with self._argv("list-tags", access) as argv:
            done = self._call([*argv, "--", f"docker://{repository}"], access)
        if isinstance(done, ImageCheck):
            return None
        if done.returncode == 0:
            with contextlib.suppress(ValueError, AttributeError):
                return frozenset(json.loads(done.stdout).get("Tags") or ())
            return None
        answer = classify(done.returncode, b"", done.stderr.decode(errors="replace"))
        log.info("repository %s: %s %s", repository, answer.state, answer.detail)
        return answer if answer.state == RegistryAnswer.ABSENT else None

    # -- for the pruner (cluster/imageprune.py): the same argv, auth and trust ----------
    def tags(self, repository: str, access: Access) -> frozenset[str] | ImageCheck | None:
        return self._tags(repository, access)

    def raw(self, ref: str, access: Access) -> bytes | str:
        """The manifest's bytes as stored, or why they could not be read."""
        with self._argv("inspect", access) as argv:
            done = self._call([*argv, "--raw", "--", f"docker://{ref}"], access)
        if isinstance(done, ImageCheck):
            return done.detail
        if done.returncode == 0 and done.stdout:
            return done.stdout
        return classify(done.returncode, b"", done.stderr.decode(errors="replace")).detail

    def delete(self, ref: str, access: Access) -> tuple[int, str]:
        """`skopeo delete`: its exit code and the last line of what it said."""
        with self._argv("delete", access) as argv:
            done = self._call([*argv, "--", f"docker://{ref}"], access)
        if isinstance(done, ImageCheck):
            return -1, done.detail
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        return done.returncode, lines[-1][-300:] if lines else ""

    def _inspect(self, ref: str, access: Access) -> ImageCheck:
        with self._argv("inspect", access) as argv:
            done = self._call([*argv, "--raw", "--", f"docker://{ref}"], access)
        if isinstance(done, ImageCheck):
            return done
        answer = classify(done.returncode, done.stdout, done.stderr.decode(errors="replace"))
        log.info("image %s: %s %s", ref, answer.state, answer.detail)
        return answer


class ImageChecker:
    """The operator's checks: credentials from the MOSC's push secret and the builds' CAs
    and proxy, each read at most once per few seconds; "exists" cached for a minute."""

    def __init__(self, writer: Writer, settings: Settings, skopeo: str = "skopeo") -> None:
        self.writer, self.settings = writer, settings
        self.network = NetworkReader(writer, settings)  # the build loop reads it too
        self.secrets = SecretReader(writer)  # and these, for the build's Secret copies
        self.skopeo = Skopeo(tls_verify=settings.registry_tls_verify, skopeo=skopeo)
        # Only "exists" is cached, briefly: a "no" can turn into a "yes" the moment a build
        # pushes, and a stale "no" would rebuild what a retry should reuse.
        # By (registries.conf, reference): pools' mirrors may differ.
        self._found: TTLCache[tuple[str, str], ImageCheck] = TTLCache(maxsize=4096, ttl=60)
        self._lock = threading.Lock()  # passes ask from several threads at once

    @property
    def calls(self) -> int:
        return self.skopeo.calls

    def asker(self, obs: Observed) -> Callable[[Sequence[str]], Mapping[str, ImageCheck]]:
        """The planner's questions about `obs`'s MOSC answered with its push secret, read
        through its pool's registries.conf and with the pass's proxy and CAs, as the
        builds read."""
        return functools.partial(
            self.answers,
            push_secret=obs.mosc.spec.rendered_image_push_secret.name,
            registries_conf=clusterfiles.registries_conf(obs.rendered),
            network=obs.network,
        )

    def answers(
        self,
        refs: Sequence[str],
        push_secret: str,
        registries_conf: str | None = None,
        network: ClusterNetwork | None = None,
    ) -> Mapping[str, ImageCheck]:
        """Answers for `refs` (blocking: call it from a worker thread), read with the
        pool's `registries_conf` if it has one, and `network` (None: read it now)."""
        conf = hashlib.sha256((registries_conf or "").encode()).hexdigest()
        with self._lock:
            known = {ref: self._found[conf, ref] for ref in refs if (conf, ref) in self._found}
        missing = [ref for ref in refs if ref not in known]
        fresh: dict[str, ImageCheck] = {}
        if missing:
            access = self.access(push_secret, network)
            fresh = (
                dict.fromkeys(missing, access)
                if isinstance(access, ImageCheck)
                else self.skopeo.answers(missing, replace(access, registries_conf=registries_conf))
            )
            with self._lock:
                for ref, answer in fresh.items():
                    if answer.state == RegistryAnswer.EXISTS:
                        self._found[conf, ref] = answer
        return {ref: fresh.get(ref) or known[ref] for ref in refs}

    def access(
        self, push_secret: str, network: ClusterNetwork | None = None
    ) -> Access | ImageCheck:
        """What skopeo needs to reach the registry, or why it can't be asked; with the
        pass's proxy and CAs (`network`; None: read them now)."""
        # The MOSC's secret where it lives, in either type, as the build's copy has it.
        found = self.secrets.secret(buildsecrets.secrets_namespace(self.settings), push_secret)
        auth = buildsecrets.dockerconfigjson(*found) if found else None
        if auth is None:
            return ImageCheck(RegistryAnswer.UNKNOWN, detail=f"push secret {push_secret} not found")
        # Every CA the builds trust, in one file of skopeo's --cert-dir.
        network = self.network.read() if network is None else network
        ca = "".join(network.trust[name] for name in sorted(network.trust)) or None
        return Access(auth, ca, network.proxy_env())
