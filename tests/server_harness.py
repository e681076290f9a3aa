"""Shared by the Python process-level suites (tests/crash/server_crash_test.py,
tests/load/server_load_test.py): find the built qvdb-server, start it on a
free loopback port in a data directory of the test's own, SIGKILL it, read
its RSS, and import this checkout's Python client.

Binary: --server-binary, else $QVDB_SERVER_BINARY (ctest sets it), else
build/release/server/qvdb-server under the repository root.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
# Test this checkout's client, whatever else is installed.
sys.path.insert(0, str(REPO / "client" / "python"))
# gRPC polls an idle channel every 5 s by default; a fresh server on the
# same port would otherwise be noticed late (docs/python.md).
os.environ.setdefault("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100")

import qvdb  # noqa: E402,F401  (re-exported for the suites)


def server_binary(explicit: Optional[str] = None) -> Path:
    """The qvdb-server to test; exits with a message when it is not built."""
    path = Path(
        explicit
        or os.environ.get("QVDB_SERVER_BINARY")
        or REPO / "build/release/server/qvdb-server"
    )
    if not os.access(path, os.X_OK):
        sys.exit(f"{path} is not built: build qvdb-server, or pass --server-binary")
    return path


class Server:
    """qvdb-server as a child process on a free loopback port.

    Each start() takes a new port (port 0), so a restart after SIGKILL never
    waits for the old socket. Output goes to <root>/server.log (appended).
    """

    def __init__(self, binary: Path, root: Path, extra: Sequence[str] = ()) -> None:
        self.binary = binary
        self.root = root
        self.data_dir = root / "data"
        self.extra: List[str] = list(extra)
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def start(self, timeout: float = 60.0, wait: bool = True) -> "Server":
        """Starts it and (unless not `wait`) waits until it listens. Raises
        RuntimeError (with the end of its log) when it exits or does not
        listen in time."""
        port_file = self.root / "port"
        if port_file.exists():
            port_file.unlink()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(self.binary),
                    "--data",
                    str(self.data_dir),
                    "--listen",
                    "127.0.0.1:0",
                    "--port-file",
                    str(port_file),
                    "--log-level",
                    "warn",
                    *self.extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if not wait:
            return self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text:
                self.port = int(text)
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        code = self.proc.poll()
        self.kill()
        raise RuntimeError(
            f"qvdb-server did not start (exit status {code}); end of {self.log_path}:\n"
            + self.log_tail()
        )

    def kill(self) -> None:
        """SIGKILL, then reap it: no shutdown, no flush, no fsync."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        self.proc = None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful shutdown); SIGKILL after `timeout`. Returns
        the exit status (-9 when it had to be killed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_bytes(self) -> int:
        """VmRSS from /proc/<pid>/status; 0 when the process is gone."""
        return rss_bytes(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def rss_bytes(pid: int) -> int:
    """A process's resident set size (VmRSS), bytes; 0 when it is gone."""
    return memory_status(pid).get("VmRSS", 0)


def memory_status(pid: int) -> Dict[str, int]:
    """VmRSS and its parts from /proc/<pid>/status, bytes: RssAnon (heap,
    the part a leak grows), RssFile (mapped files: RocksDB's, the refine
    file), RssShmem. Empty when the process is gone."""
    out: Dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def machine_description() -> str:
    """`nproc` and the CPU model, for the record of a run."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (os.cpu_count), {len(os.sched_getaffinity(0))} usable, {model}"
