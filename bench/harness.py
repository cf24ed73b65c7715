"""Shared benchmark harness: a gateway in a subprocess and wrk as a time-bounded load generator on loopback.

wrk comes from Debian (`apt-get install -y wrk`); `ensure_wrk()` installs it when run as root.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LoadResult:
    label: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    command: str

    def line(self) -> str:
        return (f"{self.label:<40} {self.requests_per_second:>10.0f} req/s   p50 {self.p50_ms:7.2f} ms   "
                f"p99 {self.p99_ms:7.2f} ms   non-2xx {self.non_2xx}")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(factory: str, env: Mapping[str, str], workers: int = 1) -> Iterator[str]:
    """Run `uvicorn --factory FACTORY` on a free loopback port; yields its base URL."""
    port = free_port()
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "CPIP_LOG_LEVEL": "WARNING", **env}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, env=full_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"server did not start: {' '.join(cmd)}")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


def _to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(label: str, url: str, *, connections: int = 16, seconds: int = 10, threads: int = 2,
        headers: Mapping[str, str] | None = None) -> LoadResult:
    cmd = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    cmd.append(url)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    latencies = {m.group(1): _to_ms(m.group(2), m.group(3)) for m in _LATENCY.finditer(out)}
    rps = _RPS.search(out)
    non2xx = _NON2XX.search(out)
    shown = " ".join(c if " " not in c else repr(c) for c in cmd)
    if "Authorization" in shown:
        shown = re.sub(r"Bearer [^'\"]+", "Bearer <token>", shown)
    return LoadResult(label, float(rps.group(1)) if rps else 0.0, latencies.get("50", 0.0), latencies.get("99", 0.0),
                      int(non2xx.group(1)) if non2xx else 0, shown)


def report(title: str, results: list[LoadResult], command: str) -> None:
    print(f"\n## {title}")
    for r in results:
        print(r.line())
        print(f"    load: {r.command}")
    print(f"reproduce: {command}")
