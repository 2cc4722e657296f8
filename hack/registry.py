"""A real local OCI registry for tests, benchmarks and the demo.

``LocalRegistry`` runs Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1 (or
another address of this machine: Go's clients never send loopback addresses through a
proxy, so the proxy tests address it by the machine's own IP) with TLS (its own throw-away
CA), htpasswd auth and filesystem storage in a temporary directory.  The registry runs in
its own session and dies with the process that started it (``PR_SET_PDEATHSIG``), so an
interrupted test run leaves nothing behind.

``seed_base_image`` plays the multi-architecture RHCOS base image: per-arch images of a
real userland of that architecture (Debian's busybox-static, from hack/build-bases.sh via
``bases``) and a manifest list over them.

Every buildah call here uses its own storage (``--root``/``--runroot`` under a temporary
directory, vfs driver): nothing touches the machine's default containers storage.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from hack import bases

REQUIRED_TOOLS = ("buildah", "skopeo", "docker-registry", "htpasswd", "openssl")

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))

_PR_SET_PDEATHSIG = 1


def missing_tools(tools: Sequence[str] = REQUIRED_TOOLS) -> list[str]:
    """The tools of ``tools`` not found on PATH."""
    return [t for t in tools if shutil.which(t) is None]


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child get SIGKILL when its parent thread exits.

    Only meaningful when the parent is a long-lived thread (the main thread in pytest and
    in scripts); the caller must not start children from a short-lived worker thread.
    """
    parent = os.getpid()

    def _preexec() -> None:
        with contextlib.suppress(OSError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return _preexec


def pdeathsig_prefix() -> list[str]:
    """argv prefix that makes the command get SIGKILL when its parent thread exits.

    ``setpriv --pdeathsig`` (util-linux) sets it in the child just before exec, without a
    Python ``preexec_fn`` (which is unsafe when other threads run). Empty if unavailable;
    callers then fall back to ``die_with_parent()``.
    """
    return ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []


def popen_dying_with_parent(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``Popen`` in a new session, killed (SIGKILL) when the calling thread's process dies."""
    prefix = pdeathsig_prefix()
    if not prefix:
        kwargs["preexec_fn"] = die_with_parent()
    return subprocess.Popen([*prefix, *argv], start_new_session=True, **kwargs)


def _free_port(address: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def _run(argv: Sequence[str], *, input_: bytes | None = None, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        list(argv), input=input_, capture_output=True, cwd=cwd, check=False, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{argv[0]} {argv[1] if len(argv) > 1 else ''} failed ({proc.returncode}): "
            f"{proc.stderr.decode(errors='replace')[-2000:]}"
        )
    return proc.stdout.decode(errors="replace")


@dataclass(frozen=True)
class AccessLogEntry:
    """One line of the registry's access log (combined log format)."""

    method: str
    path: str
    query: str
    status: int
    response_bytes: int


_ACCESS_RE = re.compile(
    r'^\S+ \S+ \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<uri>\S+) [^"]*" '
    r"(?P<status>\d{3}) (?P<size>\d+|-)"
)


class LocalRegistry:
    """A running ``docker-registry`` with TLS and htpasswd auth; use as a context manager."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        username: str = "mosb",
        port: int = 0,
        deletes: bool = True,
        address: str = "127.0.0.1",
    ) -> None:
        self._requested_port = port  # 0: any free port
        self.address = address  # an IPv4 address of this machine, in the certificate too
        self.deletes = deletes  # False: a registry that refuses deletes (405), as many do
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix="mosb-registry-")) if workdir is None else workdir
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = secrets.token_urlsafe(18)
        self.ca_dir = self.workdir / "ca"
        self.storage_dir = self.workdir / "storage"
        self.log_path = self.workdir / "registry.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- lifecycle -------------------------------------------------------------------
    @property
    def host(self) -> str:
        return f"{self.address}:{self.port}"

    def start(self, *, timeout: float = 30.0) -> Self:
        missing = missing_tools(("docker-registry", "htpasswd", "openssl"))
        if missing:
            raise RuntimeError(f"missing tools: {', '.join(missing)}")
        self._make_tls()
        self._make_htpasswd()
        self.storage_dir.mkdir(exist_ok=True)
        last_error = ""
        for _attempt in range(5):  # a free port can be taken between probe and bind
            self.port = self._requested_port or _free_port(self.address)
            config = self._write_config()
            self._log_file = self.log_path.open("ab")
            self._proc = popen_dying_with_parent(
                ["docker-registry", "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
            )
            atexit.register(self.stop)
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError as e:
                last_error = str(e)
                self.stop(remove=False)
        raise RuntimeError(f"registry did not start: {last_error}; log: {self.log_tail()}")

    def stop(self, *, remove: bool = True) -> None:
        """Kill the registry (and its process group) and wait for it; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue
            atexit.unregister(self.stop)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if remove and self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- setup -----------------------------------------------------------------------
    def _make_tls(self) -> None:
        tls = self.workdir / "tls"
        tls.mkdir(exist_ok=True)
        self.ca_dir.mkdir(exist_ok=True)
        ca_key, ca_crt = tls / "ca.key", self.ca_dir / "ca.crt"
        key, csr, crt = tls / "server.key", tls / "server.csr", tls / "server.crt"
        ext = tls / "server.ext"
        ext.write_text(
            "basicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            f"subjectAltName=IP:127.0.0.1,DNS:localhost,IP:{self.address}\n"
        )
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
              "-days", "2", "-subj", "/CN=mosb test registry CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-keyout", str(ca_key), "-out", str(ca_crt)])  # fmt: skip
        _run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
              "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr)])  # fmt: skip
        _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt),
              "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2", "-sha256",
              "-extfile", str(ext), "-out", str(crt)])  # fmt: skip

    def _make_htpasswd(self) -> None:
        out = _run(["htpasswd", "-niB", self.username], input_=self.password.encode() + b"\n")
        (self.workdir / "htpasswd").write_text(out.strip() + "\n")

    def _write_config(self) -> Path:
        tls = self.workdir / "tls"
        config = {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_dir)},
                "delete": {"enabled": self.deletes},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": self.host,
                "secret": secrets.token_hex(16),
                "tls": {"certificate": str(tls / "server.crt"), "key": str(tls / "server.key")},
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
            "auth": {"htpasswd": {"realm": "mosb-test", "path": str(self.workdir / "htpasswd")}},
        }
        path = self.workdir / "config.yml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        return path

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError("registry exited")
            try:
                status, _, _ = self.request("GET", "/v2/", auth=False)
                if status == 401:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("registry not ready in time")

    # -- client side -----------------------------------------------------------------
    def authfile(self, path: Path, *, wrong_password: bool = False) -> Path:
        """Write a ``.dockerconfigjson`` for this registry to ``path`` and return it."""
        password = self.password + "-wrong" if wrong_password else self.password
        auth = base64.b64encode(f"{self.username}:{password}".encode()).decode()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"auths": {self.host: {"auth": auth}}}))
        path.chmod(0o600)
        return path

    def dockerconfigjson(self, *, wrong_password: bool = False) -> bytes:
        """The bytes of a ``.dockerconfigjson`` (what a Secret of that type holds)."""
        password = self.password + "-wrong" if wrong_password else self.password
        auth = base64.b64encode(f"{self.username}:{password}".encode()).decode()
        return json.dumps({"auths": {self.host: {"auth": auth}}}).encode()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_dir / "ca.crt"))

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTPS request to the registry's API; returns (status, headers, body)."""
        req = urllib.request.Request(f"https://{self.host}{path}", method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if auth:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=10) as resp:  # noqa: S310
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), e.read()

    def manifest(self, repo: str, reference: str) -> tuple[str, str, bytes] | None:
        """(media type, Docker-Content-Digest, raw bytes) of a manifest, or None if absent."""
        status, headers, body = self.request(
            "GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT}
        )
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"GET manifest {repo}:{reference}: HTTP {status} {body[:200]!r}")
        return headers.get("Content-Type", ""), headers.get("Docker-Content-Digest", ""), body

    def tags(self, repo: str) -> list[str]:
        status, _, body = self.request("GET", f"/v2/{repo}/tags/list")
        if status == 404:
            return []
        if status != 200:
            raise RuntimeError(f"GET tags {repo}: HTTP {status}")
        tags: list[str] | None = json.loads(body).get("tags")
        return sorted(tags or [])

    def delete_manifest(self, repo: str, digest: str) -> None:
        status, _, body = self.request("DELETE", f"/v2/{repo}/manifests/{digest}")
        if status != 202:
            raise RuntimeError(f"DELETE {repo}@{digest}: HTTP {status} {body[:200]!r}")

    def collected_bytes(self) -> int:
        """The storage's bytes after the registry's garbage collection, measured on a copy
        (`docker-registry garbage-collect` wants the registry stopped; this one keeps
        running). Not `--delete-untagged`: distribution 2.8 then deletes an index's untagged
        children (a seeded base image's)."""
        with tempfile.TemporaryDirectory(prefix="mosb-gc-") as tmp:
            copy = Path(tmp) / "storage"
            shutil.copytree(self.storage_dir, copy)
            config = {
                "version": 0.1,
                "storage": {"filesystem": {"rootdirectory": str(copy)}},
                "http": {"addr": "127.0.0.1:0"},
            }
            (Path(tmp) / "config.yml").write_text(json.dumps(config))
            _run(["docker-registry", "garbage-collect", str(Path(tmp) / "config.yml")])
            return sum(f.stat().st_size for f in copy.rglob("*") if f.is_file())

    def blob_size(self, digest: str) -> int | None:
        """Size of a stored blob (from the storage directory), None if not stored."""
        algo, _, hexpart = digest.partition(":")
        data = self.storage_dir / "docker/registry/v2/blobs" / algo / hexpart[:2] / hexpart / "data"
        return data.stat().st_size if data.exists() else None

    def access_log(self) -> list[AccessLogEntry]:
        """The registry's access log so far, parsed."""
        entries = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            m = _ACCESS_RE.match(line)
            if not m:
                continue
            path, _, query = m["uri"].partition("?")
            size = m["size"]
            entries.append(
                AccessLogEntry(
                    m["method"], path, query, int(m["status"]), 0 if size == "-" else int(size)
                )
            )
        return entries

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def skopeo(self, *args: str, authfile: Path | None = None) -> bytes:
        """Run ``skopeo`` against this registry (auth and CA added) and return stdout."""
        with tempfile.TemporaryDirectory(prefix="mosb-skopeo-") as tmp:
            auth = authfile or self.authfile(Path(tmp) / "auth.json")
            argv = ["skopeo", args[0], "--authfile", str(auth), "--cert-dir", str(self.ca_dir)]
            proc = subprocess.run([*argv, *args[1:]], capture_output=True, check=False, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(
                f"skopeo {' '.join(args)}: {proc.stderr.decode(errors='replace')[-1500:]}"
            )
        return proc.stdout

    def inspect_raw(self, ref: str) -> bytes:
        """``skopeo inspect --raw docker://<ref>``: the manifest bytes exactly as stored."""
        return self.skopeo("inspect", "--raw", f"docker://{ref}")

    def inspect_config(self, ref: str) -> dict[str, Any]:
        """``skopeo inspect --config docker://<ref>``: the image config (OCI form)."""
        config: dict[str, Any] = json.loads(self.skopeo("inspect", "--config", f"docker://{ref}"))
        return config


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Buildah:
    """buildah with private storage (vfs) under ``root_dir``; nothing touches the default."""

    def __init__(self, root_dir: Path) -> None:
        self.root_dir = root_dir
        root_dir.mkdir(parents=True, exist_ok=True)

    def argv(self, *args: str) -> list[str]:
        return [
            "buildah",
            "--root", str(self.root_dir / "root"),
            "--runroot", str(self.root_dir / "runroot"),
            "--storage-driver", "vfs",
            *args,
        ]  # fmt: skip

    def __call__(self, *args: str) -> str:
        env = {**os.environ, "TMPDIR": str(self.root_dir / "tmp"), "BUILDAH_ISOLATION": "chroot"}
        (self.root_dir / "tmp").mkdir(exist_ok=True)
        proc = subprocess.run(
            self.argv(*args), capture_output=True, check=False, timeout=600, env=env
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"buildah {' '.join(args[:2])} failed: {proc.stderr.decode(errors='replace')}"
            )
        return proc.stdout.decode().strip()


@contextlib.contextmanager
def buildah_store(prefix: str = "mosb-buildah-") -> Iterator[Buildah]:
    """A throw-away buildah storage, removed on exit."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield Buildah(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def seed_base_image(
    registry: LocalRegistry,
    repo: str,
    arches: Sequence[str],
    *,
    tag: str = "latest",
    content: str = "",
    payload_bytes: int = 0,
    flavour: str = "userland",
    files: Callable[[str], Mapping[str, str]] | None = None,
) -> str:
    """Push a small multi-arch base image (an OCI index) to ``<host>/<repo>:<tag>``.

    Each per-arch image is the cached base ``flavour`` of that architecture (``userland``:
    busybox, so RUN steps work; ``os-like``: plus the OS tool stand-ins) or, when those
    are not built or ``flavour`` is ``scratch``, empty; on top one copied file naming its
    architecture (so every architecture has a distinct layer) and ``--arch`` in its config;
    ``payload_bytes`` > 0 adds a file of that many random (incompressible) bytes, for
    measurements where a re-uploaded layer must show; ``files(arch)`` adds files (path →
    text) to that architecture's image. Returns ``<host>/<repo>:<tag>``.
    """
    target = f"{registry.host}/{repo}:{tag}"
    with buildah_store("mosb-seed-") as b:
        auth = registry.authfile(b.root_dir / "auth.json")
        common = ["--authfile", str(auth), "--cert-dir", str(registry.ca_dir)]
        list_name = f"seed-{secrets.token_hex(4)}"
        b("manifest", "create", list_name)
        for arch in arches:
            ctx = b.root_dir / f"ctx-{arch}"
            (ctx / "etc").mkdir(parents=True)
            (ctx / "etc" / "base-release").write_text(
                f"mosb test base image\narch={arch}\n{content}"
            )
            base = None
            if flavour != "scratch":
                base = bases.copy_into_storage(
                    flavour, arch, b.root_dir / "root", b.root_dir / "runroot"
                )
            ctr = b("from", "--arch", arch, "--name", f"seed-{arch}", base or "scratch")
            b("copy", ctr, str(ctx / "etc" / "base-release"), "/etc/base-release")
            if payload_bytes > 0:
                (ctx / "payload").write_bytes(os.urandom(payload_bytes))
                b("copy", ctr, str(ctx / "payload"), "/usr/share/mosb-test/payload")
            for n, (path, text) in enumerate(sorted((files(arch) if files else {}).items())):
                (ctx / f"file-{n}").write_text(text)
                b("copy", ctr, str(ctx / f"file-{n}"), path)
            b("config", "--arch", arch, "--os", "linux",
              "--label", f"io.mosb.test.base-arch={arch}", ctr)  # fmt: skip
            b("commit", "--format", "oci", ctr, f"localhost/seed-{arch}:{tag}")
            b("manifest", "add", "--arch", arch, "--os", "linux", list_name,
              f"localhost/seed-{arch}:{tag}")  # fmt: skip
        b("manifest", "push", "--all", "--format", "oci", *common, list_name, f"docker://{target}")
    return target
