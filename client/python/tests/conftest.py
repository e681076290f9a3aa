"""Fixtures: a real qvdb-server on a free loopback port in a temporary data
directory, the qvdb CLI next to it, and the sap_minilm dataset (or generated
data of its shape when ../shared/datasets is absent).

Binaries: $QVDB_SERVER_BINARY and $QVDB_CLI_BINARY (ctest sets both), else
build/release/{server/qvdb-server,client/qvdb} under the repository root.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGE_PARENT = REPO / "client" / "python"
# Test this checkout's package, whatever else is installed.
sys.path.insert(0, str(PACKAGE_PARENT))
# gRPC polls an idle channel every 5 s by default, and a server's graceful
# shutdown waits for each connected client to answer its GOAWAY: without
# this every restart in these tests would take 5 s (docs/python.md).
os.environ.setdefault("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "100")

import qvdb  # noqa: E402

# ../shared/datasets; $QVDB_DATASETS_DIR elsewhere (a missing folder makes
# the tests use generated data, as CI without shared/ would).
DATASETS = Path(os.environ.get("QVDB_DATASETS_DIR") or REPO.parent / "shared" / "datasets")


def _binary(env: str, default: str) -> Path:
    path = Path(os.environ.get(env) or REPO / default)
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built: build it, or set ${env}")
    return path


@pytest.fixture(scope="session")
def server_binary() -> Path:
    return _binary("QVDB_SERVER_BINARY", "build/release/server/qvdb-server")


@pytest.fixture(scope="session")
def cli_binary() -> Path:
    return _binary("QVDB_CLI_BINARY", "build/release/client/qvdb")


class ServerProcess:
    """qvdb-server as a child process; stop() sends SIGTERM and waits."""

    def __init__(self, binary: Path, root: Path, extra: Sequence[str] = ()) -> None:
        self.binary = binary
        self.root = root
        self.data_dir = root / "data"
        self.extra = list(extra)
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, port: Optional[int] = None) -> "ServerProcess":
        """Starts it (on `port`, or the last port, or a free one) and waits
        until it listens."""
        port = self.port if port is None else port
        port_file = self.root / "port"
        if port_file.exists():
            port_file.unlink()
        log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                "--data",
                str(self.data_dir),
                "--listen",
                f"127.0.0.1:{port}",
                "--port-file",
                str(port_file),
                "--log-level",
                "warn",
                "--auto-train",
                "false",
                "--shutdown-grace-seconds",
                "2",
                *self.extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip():
                self.port = int(port_file.read_text())
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"qvdb-server did not start:\n{(self.root / 'server.log').read_text()}")

    def stop(self) -> None:
        """SIGTERM (graceful shutdown), SIGKILL after 20 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stops and starts again on the same port and data directory."""
        self.stop()
        self.start(self.port)


@pytest.fixture(scope="session")
def server(
    server_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server shared by the tests that do not stop or restore it."""
    s = ServerProcess(server_binary, tmp_path_factory.mktemp("server")).start()
    yield s
    s.stop()


@pytest.fixture
def own_server(server_binary: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own (restarts, restores, special flags)."""
    s = ServerProcess(server_binary, tmp_path)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> Iterator[qvdb.Client]:
    with qvdb.Client(server.address, timeout=30) as c:
        yield c


_names = itertools.count()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A collection name unique in the session."""
    return f"{request.node.name[:40]}_{next(_names)}".replace("[", "_").replace("]", "_")


@dataclass
class Dataset:
    """sap_minilm, or its generated stand-in: base rows with ids, text and
    category, queries, exact top-10 base rows per query (cosine)."""

    description: str
    generated: bool
    ids: List[str]
    base: np.ndarray
    texts: List[str]
    categories: List[str]
    queries: np.ndarray
    truth: np.ndarray  # (nq, >=10) base row indices

    def write_queries_fvecs(self, path: Path) -> Path:
        d = self.queries.shape[1]
        rows = np.empty((self.queries.shape[0], d + 1), dtype=np.float32)
        rows[:, 0] = np.array([d], dtype=np.int32).view(np.float32)[0]
        rows[:, 1:] = self.queries
        rows.tofile(path)
        return path


def read_vecs(path: Path, dtype: str) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.int32)
    d = int(raw[0])
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def load_sap_minilm() -> Dataset:
    root = DATASETS / "sap_minilm"
    files = [
        "records.jsonl",
        "sap_minilm_base.fvecs",
        "sap_minilm_query.fvecs",
        "sap_minilm_groundtruth_cos.ivecs",
        "sap_minilm_split_query_rows.txt",
    ]
    if all((root / f).exists() for f in files):
        query_rows = {int(line) for line in (root / files[4]).read_text().split() if line.strip()}
        with open(root / files[0]) as f:
            records = [json.loads(line) for line in f if line.strip()]
        base_records = [r for i, r in enumerate(records) if i not in query_rows]
        base = read_vecs(root / files[1], "float32")
        assert len(base_records) == base.shape[0]
        return Dataset(
            description="sap_minilm (700 x 384, 78 queries, cosine)",
            generated=False,
            ids=[r["id"] for r in base_records],
            base=base,
            texts=[r["content"] for r in base_records],
            categories=[r["category"] for r in base_records],
            queries=read_vecs(root / files[2], "float32"),
            truth=read_vecs(root / files[3], "int32"),
        )
    # Generated stand-in: 700 x 384 unit vectors around 20 topics.
    rng = np.random.default_rng(14)
    topics = rng.standard_normal((20, 384)).astype(np.float32)
    topic = rng.integers(0, 20, 778)
    x = topics[topic] + 0.6 * rng.standard_normal((778, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    base, queries = x[:700], x[700:]
    truth = np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :100]
    return Dataset(
        description="generated stand-in for sap_minilm (700 x 384, 78 queries)",
        generated=True,
        ids=[f"doc-{i}-chunk-0" for i in range(700)],
        base=base,
        texts=[f"text of document {i} about topic {topic[i]}" for i in range(700)],
        categories=[f"Topic {topic[i]}" for i in range(700)],
        queries=queries,
        truth=truth,
    )


@pytest.fixture(scope="session")
def sap() -> Dataset:
    return load_sap_minilm()


def recall_at_10(found: Sequence[Sequence[str]], dataset: Dataset) -> float:
    """Mean |top-10 found ∩ top-10 true| / 10, ids mapped to base rows."""
    row_of = {id_: i for i, id_ in enumerate(dataset.ids)}
    total = 0
    for q, ids in enumerate(found):
        rows = {row_of[i] for i in list(ids)[:10]}
        total += len(rows & set(dataset.truth[q, :10].tolist()))
    return total / (10.0 * len(found))


def run_cli(cli: Path, address: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(cli), "--server", address, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
