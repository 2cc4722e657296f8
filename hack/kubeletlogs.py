"""The kubelet's log endpoint for the node harness's pods, so `kubectl logs` (and the
plugin's `logs`) read a build pod's log through the API server as on a real cluster.

The API server proxies `pods/log` to `https://<node InternalIP>:<daemonEndpoints
.kubeletEndpoint.Port>/containerLogs/<namespace>/<pod>/<container>`. kwok's nodes all
have InternalIP 127.0.0.1 (kwok --node-ip), so one HTTPS server on loopback serves every
node; `point_node` sets a node's kubelet port to it. The API server verifies no kubelet
certificate (no --kubelet-certificate-authority), so a self-signed one will do.
"""

from __future__ import annotations

import http.server
import logging
import re
import ssl
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import kubernetes
import urllib3

log = logging.getLogger("nodeharness")

_PATH = re.compile(r"/containerLogs/([^/]+)/([^/]+)/([^/?]+)")


class KubeletLogs:
    """Serves `log_of(namespace, pod)` (a file, or None for 404) until stop()."""

    def __init__(self, workdir: Path, log_of: Callable[[str, str], Path | None]) -> None:
        cert, key = workdir / "kubelet.crt", workdir / "kubelet.key"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
                *("-subj", "/CN=kwok-kubelet", "-keyout", str(key), "-out", str(cert)),
            ],
            check=True,
            capture_output=True,
        )
        handler = _handler(log_of)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        self._pointed: set[str] = set()

    def point_node(self, core: kubernetes.client.CoreV1Api, node: str) -> None:
        """Make the API server send this node's log requests here (once per node; kwok's
        stages patch only the node's conditions, so the port stays)."""
        if node in self._pointed:
            return
        body = {"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}}}}
        try:
            core.patch_node_status(node, body)
        except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError) as exc:
            # Logs are a convenience: a pod still runs if the API server is away just now.
            log.warning("node %s: kubelet log port not set: %s", node, exc)
            return
        self._pointed.add(node)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(
    log_of: Callable[[str, str], Path | None],
) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            match = _PATH.match(self.path)
            found = log_of(match.group(1), match.group(2)) if match else None
            if found is None or not found.is_file():
                self.send_error(404, "no log for this container")
                return
            body = found.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the harness's log is about pods, not requests

    return Handler
