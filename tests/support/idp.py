"""Start the development OpenID provider for tests: idp/server.mjs, oidc-provider under Keycloak's URLs.

    idp = start_idp()
    try:
        KeycloakOpenID(server_url=idp.base_url, realm_name=idp.realm, client_id="dept-psb", ...)
    finally:
        idp.stop()

The IdP listens on a free port on 127.0.0.1 and prints ``CPIP_IDP_LISTENING <base url>`` once ready.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[2]
IDP_DIR = REPO_ROOT / "idp"
IDP_SERVER = IDP_DIR / "server.mjs"
DEFAULT_REALM_FILE = REPO_ROOT / "security" / "realm" / "cpip-realm.json"
READY_PREFIX = "CPIP_IDP_LISTENING "
START_TIMEOUT_SECONDS = 20.0


class IdpStartError(RuntimeError):
    """The IdP process did not report readiness."""


@dataclass
class RunningIdp:
    """A running IdP: ``base_url`` is the Keycloak server URL (with trailing slash), ``realm`` the realm."""

    base_url: str
    realm: str
    realm_file: Path
    process: subprocess.Popen[str] = field(repr=False)
    log_path: Path = field(repr=False)
    _log: IO[str] = field(repr=False)
    _reader: threading.Thread = field(repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.base_url}realms/{self.realm}"

    def log(self) -> str:
        """What the IdP wrote to stderr so far (oidc-provider warnings, errors)."""
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._reader.join(timeout=5)  # stdout reaches EOF once node has exited
        if self.process.stdout is not None and not self._reader.is_alive():
            self.process.stdout.close()
        self._log.close()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> RunningIdp:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _node() -> str:
    node = os.environ.get("CPIP_NODE") or shutil.which("node")
    if node is None:
        raise IdpStartError("node (Node.js >= 20) is not on PATH; set CPIP_NODE to its path")
    return node


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def start_idp(realm_file: Path | None = None) -> RunningIdp:
    """Run ``node idp/server.mjs --port 0`` and wait (up to 20 s) for its ready line."""
    realm_path = (realm_file or DEFAULT_REALM_FILE).resolve()
    realm = str(json.loads(realm_path.read_text(encoding="utf-8"))["realm"])
    if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
        raise IdpStartError(f"{IDP_DIR}/node_modules is missing: run `npm ci` in {IDP_DIR}")
    fd, log_name = tempfile.mkstemp(prefix="cpip-idp-", suffix=".log")
    os.close(fd)
    log_path = Path(log_name)
    log = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        [_node(), str(IDP_SERVER), "--host", "127.0.0.1", "--port", "0", "--realm-file", str(realm_path)],
        cwd=IDP_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        encoding="utf-8",
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(process.stdout, lines), name="cpip-idp-stdout", daemon=True)
    reader.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            line = None
        if line is None:  # timed out, or stdout closed because node exited
            break
        if line.startswith(READY_PREFIX):
            base = line[len(READY_PREFIX) :].strip().rstrip("/") + "/"
            return RunningIdp(
                base_url=base,
                realm=realm,
                realm_file=realm_path,
                process=process,
                log_path=log_path,
                _log=log,
                _reader=reader,
            )
    process.kill()
    process.wait(timeout=5)
    reader.join(timeout=5)
    process.stdout.close()
    log.close()
    output = log_path.read_text(encoding="utf-8", errors="replace")
    log_path.unlink(missing_ok=True)
    raise IdpStartError(
        f"IdP did not report readiness within {START_TIMEOUT_SECONDS:.0f} s (exit code {process.returncode}):\n{output}"
    )
