#!/usr/bin/env python3
"""Bounded load test on loopback: 8 client threads mix Search, Upsert and
Delete against one qvdb-server for a fixed time; no call may fail except
with DEADLINE_EXCEEDED, and the server's RSS must stay flat.

Setup: a collection of --rows rows (--dim, --spec, trained), loaded with
Ingest. Then each thread, with a client of its own, loops: a Search (k=10,
most of the calls), an Upsert of 1..50 rows or a Delete of 1..20 ids. Each
thread owns the ids i with i % threads == thread, so the population stays
near --rows (the footprint should not grow) and each thread knows exactly
what its rows must hold; at the end every row is read back and compared.

RSS: VmRSS of the server from /proc/<pid>/status, sampled every second.
The run fails when RSS at the end exceeds RSS after the warm-up (--warmup,
10 s) by more than --rss-margin-pct (25) percent plus --rss-margin-mib (32):
room for RocksDB's memtables and the replaced vectors the index keeps until
Compact, not for a leak that grows with the number of calls.

Usage: tests/load/server_load_test.py [--seconds 60] [--threads 8]
Exit status 0: pass; 1: an error, a lost write or RSS growth (the message
says which); 2: the harness failed. docs/testing.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import server_harness  # noqa: E402
from server_harness import qvdb  # noqa: E402

COLLECTION = "load"
MIB = 1 << 20
OPS = ("search", "upsert", "delete")
MEMTABLE_BUDGET = 256 * MIB  # RocksDB db_write_buffer_size (storage/db_open.cc)


@dataclass
class ThreadLog:
    """One worker's latencies, tolerated deadlines and unexpected errors."""

    latency: Dict[str, List[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    deadlines: Dict[str, int] = field(default_factory=lambda: {op: 0 for op in OPS})
    errors: List[str] = field(default_factory=list)


class Worker(threading.Thread):
    """Loops over a seeded mix of operations on the ids it owns (searches
    see everything) until `stop` is set."""

    def __init__(
        self,
        index: int,
        args: argparse.Namespace,
        address: str,
        version: np.ndarray,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"load-{index}", daemon=True)
        self.index = index
        self.args = args
        self.address = address
        self.stop_event = stop
        self.rng = np.random.default_rng([args.seed, index])
        self.owned = np.arange(index, args.rows, args.threads)
        # Shared array, but each thread writes only its own ids.
        self.version = version
        self.next_version = 1_000_000 * (index + 1)
        self.log = ThreadLog()

    def run(self) -> None:
        try:
            self.loop()
        except Exception as e:  # reported, not lost with the thread
            self.log.errors.append(f"thread stopped: {e!r}")

    def pick(self) -> str:
        r = self.rng.random()
        writes = 1 - self.args.search_share
        if r < self.args.search_share:
            return "search"
        return "upsert" if r < self.args.search_share + writes * 2 / 3 else "delete"

    def loop(self) -> None:
        with qvdb.Client(self.address, timeout=self.args.deadline, max_attempts=1) as client:
            coll = client.collection(COLLECTION)
            while not self.stop_event.is_set():
                op = self.pick()
                started = time.perf_counter()
                try:
                    self.call(coll, op)
                except qvdb.DeadlineExceeded:
                    self.log.deadlines[op] += 1
                    continue
                except qvdb.QvdbError as e:
                    self.log.errors.append(f"{op}: {e!r}")
                    if len(self.log.errors) >= 20:
                        return
                    continue
                self.log.latency[op].append(time.perf_counter() - started)

    def call(self, coll: qvdb.Collection, op: str) -> None:
        rng, dim = self.rng, self.args.dim
        if op == "search":
            q = rng.standard_normal(dim).astype(np.float32)
            coll.search(q, k=10)
        elif op == "upsert":
            k = int(rng.integers(1, 51))
            ids = np.sort(rng.choice(self.owned, size=k, replace=False))
            v = self.next_version
            self.next_version += 1
            vectors = rng.standard_normal((k, dim)).astype(np.float32)
            coll.upsert(ids.tolist(), vectors, payloads=[{"v": v}] * k, batch_size=k)
            self.version[ids] = v  # acknowledged
        else:
            k = int(rng.integers(1, 21))
            ids = np.sort(rng.choice(self.owned, size=k, replace=False))
            coll.delete(ids.tolist())
            self.version[ids] = -1
        # A call that timed out may or may not have been applied: its ids
        # are then unknown, which the final check allows for.


class RssSampler(threading.Thread):
    """The memory of one process every `period` seconds: (seconds since
    start, {"VmRSS": bytes, "RssAnon": ..., "RssFile": ..., "WAL": ...}).

    "WAL" is the size of RocksDB's live write-ahead logs (<data>/db/*.log):
    what they hold and no flush has written to a table yet is what the
    memtables hold in RAM (bounded at 256 MiB in total, docs/storage.md)."""

    def __init__(self, pid: int, db_dir: Path, period: float = 1.0) -> None:
        super().__init__(name="rss", daemon=True)
        self.pid = pid
        self.db_dir = db_dir
        self.period = period
        self.samples: List[Tuple[float, Dict[str, int]]] = []
        self.stop_event = threading.Event()
        self.started = time.monotonic()

    def sample(self) -> None:
        m = server_harness.memory_status(self.pid)
        m["WAL"] = wal_bytes(self.db_dir)
        self.samples.append((time.monotonic() - self.started, m))

    def run(self) -> None:
        self.sample()
        while not self.stop_event.wait(self.period):
            self.sample()
        self.sample()

    def at(self, seconds: float, key: str = "VmRSS") -> int:
        """The first sample taken at or after `seconds`."""
        for t, m in self.samples:
            if t >= seconds:
                return m.get(key, 0)
        return self.samples[-1][1].get(key, 0)

    def trace(self, points: int = 12) -> str:
        """Every few samples, "t s: VmRSS (anon + file), WAL" in MiB."""
        step = max(1, len(self.samples) // points)
        return ", ".join(
            f"{t:.0f}s: {m.get('VmRSS', 0) / MIB:.0f} ({m.get('RssAnon', 0) / MIB:.0f} + "
            f"{m.get('RssFile', 0) / MIB:.0f}), WAL {m.get('WAL', 0) / MIB:.0f}"
            for t, m in self.samples[::step] + [self.samples[-1]]
        )


def wal_bytes(db_dir: Path) -> int:
    total = 0
    for log in db_dir.glob("*.log"):
        try:
            total += log.stat().st_size
        except OSError:  # deleted by a flush meanwhile
            pass
    return total


def load_collection(args: argparse.Namespace, address: str) -> np.ndarray:
    """Creates, loads and trains the collection; returns each row's version."""
    rng = np.random.default_rng(args.seed)
    with qvdb.Client(address, timeout=120) as client:
        coll = client.create_collection(COLLECTION, args.dim, "l2", args.spec)
        x = rng.standard_normal((args.rows, args.dim)).astype(np.float32)
        coll.ingest(x, payloads=[{"v": 0}] * args.rows, batch_size=2000, progress=False)
        coll.train()
    return np.zeros(args.rows, np.int64)


def check_rows(
    args: argparse.Namespace, address: str, version: np.ndarray, uncertain: np.ndarray
) -> List[str]:
    """Every row as its owner last saw it acknowledged (ids touched by a
    call that timed out excepted)."""
    problems: List[str] = []
    with qvdb.Client(address, timeout=60) as client:
        coll = client.collection(COLLECTION)
        for start in range(0, args.rows, 5000):
            ids = list(range(start, min(start + 5000, args.rows)))
            for i, rec in zip(ids, coll.get(ids)):
                if uncertain[i]:
                    continue
                got = -1 if rec is None else int(rec.payload["v"])
                if got != version[i] and len(problems) < 10:
                    problems.append(
                        f"id {i}: server holds version {got}, last acknowledged {version[i]}"
                    )
    return problems


def percentile_ms(values: List[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1e3 if values else float("nan")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60, help="length of the load (default 60)")
    p.add_argument(
        "--warmup", type=float, default=10, help="RSS baseline taken after this many seconds"
    )
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--server-binary", help="default: $QVDB_SERVER_BINARY, else build/release")
    p.add_argument("--work-dir", help="keep the data and server.log here (default: a temp dir)")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--spec", default="IVF64,PQ16x4fs,Refine(Flat)")
    p.add_argument(
        "--search-share", type=float, default=0.7, help="of the calls; the rest 2:1 upsert:delete"
    )
    p.add_argument("--deadline", type=float, default=5.0, help="deadline of one call, s")
    p.add_argument("--rss-margin-pct", type=float, default=25.0)
    p.add_argument("--rss-margin-mib", type=float, default=32.0)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    binary = server_harness.server_binary(args.server_binary)
    root = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="qvdb_load_"))
    server = server_harness.Server(binary, root, ["--auto-train", "false"])
    failures: List[str] = []
    try:
        server.start()
        print(
            f"server load test: {args.threads} threads, {args.seconds:.0f} s, "
            f"{args.rows} x {args.dim} "
            f"rows ({args.spec}), {binary}; {server_harness.machine_description()}",
            flush=True,
        )
        version = load_collection(args, server.address)
        stop = threading.Event()
        sampler = RssSampler(server.pid, server.data_dir / "db")
        workers = [Worker(i, args, server.address, version, stop) for i in range(args.threads)]
        sampler.start()
        for w in workers:
            w.start()
        time.sleep(args.seconds)
        stop.set()
        for w in workers:
            w.join(timeout=args.deadline + 30)
        sampler.stop_event.set()
        sampler.join()
        if not server.alive():
            failures.append(
                f"qvdb-server died during the load; end of its log:\n{server.log_tail()}"
            )
        hung = [w.name for w in workers if w.is_alive()]
        if hung:
            failures.append(f"threads {hung} did not finish within the deadline after the stop")

        # Ids touched by a call that timed out may hold either value.
        uncertain = np.zeros(args.rows, bool)
        for w in workers:
            if sum(w.log.deadlines.values()) or w.log.errors:
                uncertain[w.owned] = True
        if server.alive():
            failures += check_rows(args, server.address, version, uncertain)

        # --- summary ---
        total = {op: sum(len(w.log.latency[op]) for w in workers) for op in OPS}
        print(
            f"\n{'op':<8} {'calls':>8} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'deadline':>9}"
        )
        for op in OPS:
            lat = [x for w in workers for x in w.log.latency[op]]
            deadlines = sum(w.log.deadlines[op] for w in workers)
            print(
                f"{op:<8} {total[op]:>8} {total[op] / args.seconds:>8.0f} "
                f"{percentile_ms(lat, 50):>8.2f} "
                f"{percentile_ms(lat, 99):>8.2f} {max(lat, default=0) * 1e3:>8.1f} {deadlines:>9}"
            )
        errors = [f"{w.name}: {e}" for w in workers for e in w.log.errors]
        if errors:
            failures.append(
                f"{len(errors)} calls failed with other than DEADLINE_EXCEEDED: "
                + "; ".join(errors[:5])
            )

        start_rss = sampler.at(0)
        warm_rss = sampler.at(args.warmup)
        end_rss = sampler.at(float("inf"))
        peak_rss = max(m.get("VmRSS", 0) for _, m in sampler.samples)
        # Memtables fill with the writes until RocksDB flushes them (up to
        # 256 MiB): that growth is allowed, as measured by the WAL's.
        wal_growth = min(
            max(0, sampler.at(float("inf"), "WAL") - sampler.at(args.warmup, "WAL")),
            MEMTABLE_BUDGET,
        )
        limit = warm_rss * (1 + args.rss_margin_pct / 100) + args.rss_margin_mib * MIB + wal_growth
        print(
            f"\nRSS (MiB, {len(sampler.samples)} samples, 1 s apart): "
            f"loaded {start_rss / MIB:.1f}, "
            f"after {args.warmup:.0f} s warm-up {warm_rss / MIB:.1f}, end {end_rss / MIB:.1f}, "
            f"peak {peak_rss / MIB:.1f}; limit {limit / MIB:.1f} "
            f"(warm-up + {args.rss_margin_pct:.0f}% + {args.rss_margin_mib:.0f} MiB + "
            f"WAL growth {wal_growth / MIB:.1f})\n"
            f"  of which heap (RssAnon) {sampler.at(args.warmup, 'RssAnon') / MIB:.1f} -> "
            f"{sampler.at(float('inf'), 'RssAnon') / MIB:.1f}, mapped files (RssFile) "
            f"{sampler.at(args.warmup, 'RssFile') / MIB:.1f} -> "
            f"{sampler.at(float('inf'), 'RssFile') / MIB:.1f}\n"
            f"  trace, VmRSS (RssAnon + RssFile), WAL: {sampler.trace()}"
        )
        if end_rss > limit:
            failures.append(
                f"RSS grew from {warm_rss / MIB:.1f} MiB after the warm-up to "
                f"{end_rss / MIB:.1f} MiB at the end, over the {limit / MIB:.1f} MiB limit"
            )
        with qvdb.Client(server.address, timeout=30) as client:
            d = client.describe_collection(COLLECTION)
            print(
                f"collection at the end: {d.live_rows} live rows, "
                f"{d.indexed_vectors} indexed vectors"
            )
        code = server.stop()
        if code != 0:
            failures.append(f"qvdb-server exited with status {code} after SIGTERM")
    except (RuntimeError, qvdb.QvdbError) as e:
        print(f"HARNESS FAILURE: {e!r}", file=sys.stderr)
        print(f"data and server.log kept in {root}", file=sys.stderr)
        return 2
    finally:
        server.kill()
    if failures:
        for f in failures:
            print(f"FAIL: {f}", file=sys.stderr)
        print(f"data and server.log kept in {root}", file=sys.stderr)
        return 1
    print("PASS")
    if not args.work_dir:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
