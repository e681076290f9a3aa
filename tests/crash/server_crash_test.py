#!/usr/bin/env python3
"""Crash test through the real server: SIGKILL qvdb-server at random moments
while one client writes, then check on restart that nothing acknowledged
was lost and no batch was half applied.

Each round: start qvdb-server on the data directory of the previous round,
check the whole collection against the client's book of acknowledged
writes (every id: present with its last acknowledged vector and payload
version, or absent when deleted), check search (recall@10 against brute
force over the acknowledged rows, no absent id in any answer), then arm a
timer that SIGKILLs the server after a seeded random delay and run a seeded
random mix of operations until a call fails: Upsert batches, Delete
batches, Ingest streams, Train, Compact, searches, CreateSnapshot,
DeleteSnapshot and (rarely) RestoreSnapshot. One restart in ten is itself
killed before the check: a crash during recovery.

The operation that the kill interrupted is "in flight": its effect may be
there or not, but each batch all or nothing (an Upsert or Delete request,
each message of an Ingest stream); a restore leaves exactly the old state
or exactly the snapshot's. The check on restart decides which, says so
when it is neither, and goes on from what it found.

A snapshot is a copy of the book when it was acknowledged (the client is
sequential, so nothing else was being written). After a restore the book
becomes that copy, and the snapshots of the replaced data directory are
gone (the server moves them aside with it, docs/storage.md).

Usage: tests/crash/server_crash_test.py [--rounds 100] [--seed 1]
Exit status 0: no violation; 1: a violation (the message says which); 2: the
harness itself failed (server would not start, ...). docs/testing.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import server_harness  # noqa: E402
from server_harness import qvdb  # noqa: E402

COLLECTION = "crash"
ABSENT = -1  # version of an id that is not stored


class Violation(Exception):
    """An acknowledged write lost, a half batch, a wrong answer: the bugs
    this test exists to find."""


@dataclass
class Book:
    """What the server must hold: per id, the version of its last
    acknowledged write (ABSENT when deleted or never written) and its
    vector. The payload of a row is {"v": version}."""

    version: np.ndarray  # int64 (n,)
    vectors: np.ndarray  # float32 (n, d)

    def copy(self) -> "Book":
        return Book(self.version.copy(), self.vectors.copy())

    def present(self) -> np.ndarray:
        return np.flatnonzero(self.version != ABSENT)


@dataclass
class Unit:
    """One all-or-nothing batch whose acknowledgement was not seen: its
    ids with the values before and after it."""

    what: str
    ids: np.ndarray
    old_version: np.ndarray
    old_vectors: np.ndarray
    new_version: np.ndarray
    new_vectors: np.ndarray


@dataclass
class InFlight:
    """The operation the kill interrupted."""

    op: str
    units: List[Unit] = field(default_factory=list)  # writes
    snapshot: Optional[str] = None  # create/delete/restore: its name
    book_then: Optional[Book] = None  # create: the book when it was asked


@dataclass
class Totals:
    rounds: int = 0
    acked_writes: int = 0  # Upsert and Delete calls, Ingest batches
    acked_rows: int = 0
    in_flight: Dict[str, int] = field(default_factory=dict)
    in_flight_applied: int = 0  # in-flight writes found applied on restart
    acked: Dict[str, int] = field(default_factory=dict)
    min_recall: float = 1.0
    restores: int = 0
    recovery_kills: int = 0  # kills right after a start, before the check


class CrashTest:
    def __init__(self, args: argparse.Namespace, server: server_harness.Server) -> None:
        self.args = args
        self.server = server
        self.rng = np.random.default_rng(args.seed)
        self.dim = args.dim
        n = args.ids
        self.book = Book(np.full(n, ABSENT, np.int64), np.zeros((n, self.dim), np.float32))
        # Clustered data, so that IVF and PQ behave as on real embeddings.
        self.centers = self.rng.standard_normal((32, self.dim)).astype(np.float32) * 2.0
        self.next_version = 1
        self.snapshots: Dict[str, Book] = {}  # acknowledged, and on the server
        self.snapshot_serial = 0
        self.in_flight: Optional[InFlight] = None
        self.totals = Totals()
        self.killed = threading.Event()

    # --- data ---

    def fresh_vectors(self, k: int) -> np.ndarray:
        c = self.rng.integers(0, len(self.centers), k)
        noise = self.rng.standard_normal((k, self.dim)).astype(np.float32)
        return (self.centers[c] + noise).astype(np.float32)

    def random_ids(self, k: int) -> np.ndarray:
        return np.sort(self.rng.choice(self.args.ids, size=k, replace=False))

    def unit(self, what: str, ids: np.ndarray, new_version, new_vectors) -> Unit:
        b = self.book
        return Unit(
            what,
            ids,
            b.version[ids].copy(),
            b.vectors[ids].copy(),
            np.broadcast_to(np.asarray(new_version, np.int64), ids.shape).copy(),
            np.asarray(new_vectors, np.float32).reshape(len(ids), self.dim).copy(),
        )

    def apply(self, u: Unit) -> None:
        self.book.version[u.ids] = u.new_version
        self.book.vectors[u.ids] = u.new_vectors

    def acknowledge(self, op: str, units: List[Unit]) -> None:
        for u in units:
            self.apply(u)
            self.totals.acked_writes += 1
            self.totals.acked_rows += len(u.ids)
        self.totals.acked[op] = self.totals.acked.get(op, 0) + 1

    # --- reading the server ---

    def read_all(self, coll: qvdb.Collection) -> Book:
        """Every id's version and vector as the server has them now."""
        n = self.args.ids
        seen = Book(np.full(n, ABSENT, np.int64), np.zeros((n, self.dim), np.float32))
        ids = list(range(n))
        for start in range(0, n, 5000):
            chunk = ids[start : start + 5000]
            for i, rec in zip(chunk, coll.get(chunk, with_payload=True, with_vector=True)):
                if rec is None:
                    continue
                if not isinstance(rec.payload, dict) or "v" not in rec.payload:
                    raise Violation(f"id {i}: payload {rec.payload!r} is not one this test wrote")
                seen.version[i] = int(rec.payload["v"])
                seen.vectors[i] = rec.vector
        return seen

    # --- the check after a restart ---

    def resolve_in_flight(self, seen: Book) -> None:
        """Decides what the interrupted operation did, from what the server
        holds; each of its batches must be wholly there or wholly not."""
        f = self.in_flight
        self.in_flight = None
        if f is None:
            return
        self.totals.in_flight[f.op] = self.totals.in_flight.get(f.op, 0) + 1
        if f.op == "restore":
            assert f.snapshot is not None
            old, snap = self.book, self.snapshots[f.snapshot]
            if same_state(seen, snap):
                self.adopt_restore(snap)
                self.totals.in_flight_applied += 1
            elif not same_state(seen, old):
                raise Violation(
                    f"a RestoreSnapshot({f.snapshot}) killed in flight left neither the old "
                    f"data nor the snapshot's: {describe_difference(seen, old)} against the "
                    f"old, {describe_difference(seen, snap)} against the snapshot"
                )
            return
        if f.op in ("create_snapshot", "delete_snapshot"):
            assert f.snapshot is not None and (f.op == "delete_snapshot" or f.book_then)
            listed = self.list_snapshots()
            if f.op == "create_snapshot" and f.snapshot in listed:
                self.snapshots[f.snapshot] = f.book_then  # type: ignore[assignment]
            if f.op == "delete_snapshot" and f.snapshot not in listed:
                del self.snapshots[f.snapshot]
            return
        applied_any = False
        for u in f.units:
            was_old = rows_match(seen, u.ids, u.old_version, u.old_vectors)
            is_new = rows_match(seen, u.ids, u.new_version, u.new_vectors)
            if is_new.all():
                self.apply(u)
                applied_any = True
            elif not was_old.all():
                half = u.ids[~was_old & ~is_new]
                applied_ids = u.ids[is_new & ~was_old]
                missed_ids = u.ids[was_old & ~is_new]
                raise Violation(
                    f"half batch: the {u.what} of {len(u.ids)} ids killed in flight is "
                    f"applied for ids {applied_ids[:8].tolist()} but not for "
                    f"{missed_ids[:8].tolist()}"
                    + (f", and ids {half[:8].tolist()} hold neither value" if len(half) else "")
                )
        self.totals.in_flight_applied += applied_any

    def verify(self, coll: qvdb.Collection, round_no: int) -> None:
        seen = self.read_all(coll)
        self.resolve_in_flight(seen)
        if self.args.inject_fault and round_no == 2:
            # Self-check of the checks: an acknowledged write the server
            # never got, as a lost write looks (id 0 at a version never
            # sent); the comparison below must object. Injected after the
            # interrupted operation is resolved: a restore found applied
            # replaces the book, and would have erased a fault made before.
            self.book.version[0] = self.take_version()
        if not same_state(seen, self.book):
            raise Violation(
                f"after the restart before round {round_no}: "
                + describe_difference(seen, self.book, detail=True)
            )
        live = coll.describe().live_rows
        if live != len(self.book.present()):
            raise Violation(
                f"describe() says {live} live rows, the acknowledged writes leave "
                f"{len(self.book.present())}"
            )
        listed = self.list_snapshots()
        if set(listed) != set(self.snapshots):
            raise Violation(
                f"snapshots listed {sorted(listed)}, acknowledged {sorted(self.snapshots)}"
            )
        self.check_search(coll)

    def check_search(self, coll: qvdb.Collection) -> None:
        """Recall@10 against brute force over the acknowledged rows, and no
        id in any answer that is not stored."""
        present = self.book.present()
        if len(present) < 50:
            return
        nq = self.args.queries
        picks = self.rng.choice(present, size=nq, replace=False)
        queries = (
            self.book.vectors[picks]
            + 0.5 * self.rng.standard_normal((nq, self.dim)).astype(np.float32)
        ).astype(np.float32)
        base = self.book.vectors[present]
        d2 = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(-1)
        truth = present[np.argsort(d2, axis=1, kind="stable")[:, :10]]
        results = coll.search(
            queries, k=10, nprobe=self.args.nprobe, refine_factor=self.args.refine_factor
        )
        hits = 0
        for q, r in enumerate(results):
            got = [int(i) for i in r.ids]
            stray = [i for i in got if self.book.version[i] == ABSENT]
            if stray:
                raise Violation(f"search answered ids {stray} that are deleted or never written")
            hits += len(set(got) & set(truth[q].tolist()))
        recall = hits / (10.0 * nq)
        self.totals.min_recall = min(self.totals.min_recall, recall)
        if recall < self.args.min_recall:
            raise Violation(
                f"recall@10 {recall:.3f} over {len(present)} rows is below "
                f"{self.args.min_recall} ({index_state(coll.describe())})"
            )

    def list_snapshots(self) -> List[str]:
        return [s.name for s in self.client.list_snapshots()]

    def adopt_restore(self, snap: Book) -> None:
        """The book after a restore: the snapshot's rows; the snapshots
        themselves went aside with the replaced directory."""
        self.book = snap.copy()
        self.snapshots = {}
        self.totals.restores += 1
        for replaced in self.server.root.glob("data.replaced-*"):
            shutil.rmtree(replaced, ignore_errors=True)  # disk, not state

    # --- one round ---

    def round(self, round_no: int) -> None:
        # Each round's operations and kill time depend on the seed and the
        # round only (not on how far the previous round got before its kill).
        self.rng = np.random.default_rng([self.args.seed, round_no])
        if round_no > 0 and self.rng.random() < self.args.recovery_kill_share:
            # A second crash while it recovers from the first (an interrupted
            # restore's swap, WAL replay, index load, refine file rebuild).
            self.server.start(wait=False)
            time.sleep(float(self.rng.uniform(0, 0.5)))
            self.server.kill()
            self.totals.recovery_kills += 1
        self.server.start()
        self.client = qvdb.Client(
            self.server.address, timeout=self.args.call_timeout, max_attempts=1
        )
        try:
            if round_no == 0:
                self.client.create_collection(COLLECTION, self.dim, "l2", self.args.spec)
            coll = self.client.collection(COLLECTION)
            self.verify(coll, round_no)
            self.run_until_killed(coll, round_no)
        finally:
            self.client.close()
            self.server.kill()
        self.totals.rounds += 1

    def run_until_killed(self, coll: qvdb.Collection, round_no: int) -> None:
        self.killed.clear()
        delay = float(self.rng.uniform(self.args.min_kill_delay, self.args.max_kill_delay))
        pid = self.server.pid

        def kill() -> None:
            self.killed.set()
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(delay, kill)
        timer.start()
        try:
            while True:
                op = self.pick_op(round_no)
                try:
                    self.run_op(coll, op)
                except qvdb.QvdbError as e:
                    if not self.killed.is_set():
                        if not self.server.alive():
                            raise Violation(
                                f"qvdb-server died by itself during {op} "
                                f"({e.__class__.__name__}: {e}); end of its log:\n"
                                + self.server.log_tail()
                            ) from None
                        raise Violation(f"{op} failed with the server up: {e!r}") from None
                    return
        finally:
            timer.cancel()
            timer.join()

    def pick_op(self, round_no: int) -> str:
        ops = {
            "upsert": 40,
            "delete": 20,
            "ingest": 10,
            "search": 10,
            "train": 5,
            "compact": 5,
            "create_snapshot": 4,
            "delete_snapshot": 2 if len(self.snapshots) > 2 else 0,
            "restore": self.args.restore_weight if self.snapshots else 0,
        }
        names = list(ops)
        weights = np.array([ops[n] for n in names], float)
        return names[int(self.rng.choice(len(names), p=weights / weights.sum()))]

    def run_op(self, coll: qvdb.Collection, op: str) -> None:
        """Runs one operation; on success updates the book, on failure
        leaves it in self.in_flight and raises."""
        rng = self.rng
        if op == "upsert":
            k = int(rng.integers(1, self.args.max_batch + 1))
            ids = self.random_ids(k)
            u = self.unit("Upsert", ids, self.take_version(), self.fresh_vectors(k))
            self.in_flight = InFlight(op, [u])
            coll.upsert(ids.tolist(), u.new_vectors, payloads=payloads(u), batch_size=k)
            self.acknowledge(op, [u])
        elif op == "delete":
            k = int(rng.integers(1, self.args.max_batch // 2 + 1))
            ids = self.random_ids(k)
            u = self.unit("Delete", ids, ABSENT, np.zeros((k, self.dim), np.float32))
            self.in_flight = InFlight(op, [u])
            coll.delete(ids.tolist())
            self.acknowledge(op, [u])
        elif op == "ingest":
            # One stream of equal batches of distinct ids, each batch its own
            # version: each message is all or nothing on its own (the API
            # promises no more when a stream breaks).
            size = int(rng.integers(20, self.args.max_batch + 1))
            ids = self.rng.permutation(self.args.ids)[: size * int(rng.integers(2, 6))]
            units = [
                self.unit(
                    "Ingest message",
                    np.sort(ids[s : s + size]),
                    self.take_version(),
                    self.fresh_vectors(size),
                )
                for s in range(0, len(ids), size)
            ]
            self.in_flight = InFlight(op, units)
            records = [
                (int(i), u.new_vectors[j], {"v": int(u.new_version[j])})
                for u in units
                for j, i in enumerate(u.ids)
            ]
            coll.ingest(records, batch_size=size, window=4, progress=False)
            self.acknowledge(op, units)
        elif op == "search":
            self.in_flight = InFlight(op)
            present = self.book.present()
            if len(present):
                coll.search(self.book.vectors[int(rng.choice(present))], k=10)
        elif op in ("train", "compact"):
            self.in_flight = InFlight(op)
            if op == "compact":
                coll.compact()
            elif len(self.book.present()) >= 256:  # IVF16 needs rows to learn from
                coll.train()
            else:
                op = "train skipped"
            self.totals.acked[op] = self.totals.acked.get(op, 0) + 1
        elif op == "create_snapshot":
            self.snapshot_serial += 1
            name = f"s{self.snapshot_serial}"
            self.in_flight = InFlight(op, snapshot=name, book_then=self.book.copy())
            self.client.create_snapshot(name)
            self.snapshots[name] = self.in_flight.book_then  # type: ignore[assignment]
            self.totals.acked[op] = self.totals.acked.get(op, 0) + 1
        elif op == "delete_snapshot":
            name = min(self.snapshots, key=lambda s: int(s[1:]))
            self.in_flight = InFlight(op, snapshot=name)
            self.client.delete_snapshot(name)
            del self.snapshots[name]
            self.totals.acked[op] = self.totals.acked.get(op, 0) + 1
        elif op == "restore":
            name = sorted(self.snapshots)[int(rng.integers(0, len(self.snapshots)))]
            self.in_flight = InFlight(op, snapshot=name)
            self.client.restore_snapshot(name)
            self.adopt_restore(self.snapshots[name])
            self.totals.acked[op] = self.totals.acked.get(op, 0) + 1
        self.in_flight = None

    def take_version(self) -> int:
        self.next_version += 1
        return self.next_version - 1


def index_state(d: qvdb.CollectionDescription) -> str:
    return (
        f"{d.index_spec}, trained {d.trained}, model version {d.model_version}, "
        f"{d.live_rows} live rows, {d.indexed_vectors} indexed vectors"
    )


def payloads(u: Unit) -> List[dict]:
    return [{"v": int(v)} for v in u.new_version]


def rows_match(seen: Book, ids: np.ndarray, version: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Per id: does the server hold this version (and, when present, this
    exact vector)?"""
    same_version = seen.version[ids] == version
    same_vector = (seen.vectors[ids] == vectors).all(axis=1) | (version == ABSENT)
    return same_version & same_vector


def same_state(a: Book, b: Book) -> bool:
    return bool(rows_match(a, np.arange(len(a.version)), b.version, b.vectors).all())


def describe_difference(seen: Book, want: Book, detail: bool = False) -> str:
    """Which ids differ, in words: lost, resurrected, stale, wrong vector."""
    ids = np.arange(len(want.version))
    bad = ids[~rows_match(seen, ids, want.version, want.vectors)]
    if not len(bad):
        return "no difference"
    kinds: Dict[str, List[int]] = {}
    for i in bad.tolist():
        w, s = int(want.version[i]), int(seen.version[i])
        if s == ABSENT:
            kind = "acknowledged write lost (id absent)"
        elif w == ABSENT:
            kind = "acknowledged delete lost (id present)"
        elif s != w:
            kind = "stale or wrong version"
        else:
            kind = "right version, wrong vector"
        kinds.setdefault(kind, []).append(i)
    parts = []
    for kind, kid in kinds.items():
        examples = ", ".join(
            f"id {i} (server v{seen.version[i]}, expected v{want.version[i]})" for i in kid[:5]
        )
        parts.append(f"{len(kid)} x {kind}" + (f": {examples}" if detail else ""))
    return f"{len(bad)} ids differ: " + "; ".join(parts)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=100, help="kill/restart rounds (default 100)")
    p.add_argument("--seed", type=int, default=1, help="seeds the operations and kill times")
    p.add_argument("--server-binary", help="default: $QVDB_SERVER_BINARY, else build/release")
    p.add_argument(
        "--work-dir",
        help="keep the data and server.log here (default: a temp dir, removed on success)",
    )
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra qvdb-server argument, repeatable (e.g. --server-arg=--sync=grouped)",
    )
    p.add_argument("--ids", type=int, default=3000, help="id space 0..ids-1 (default 3000)")
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--spec", default="IVF16,PQ8x4fs,Refine(Flat)")
    p.add_argument("--max-batch", type=int, default=200, help="largest Upsert/Ingest batch")
    p.add_argument("--queries", type=int, default=20, help="recall queries per round")
    p.add_argument("--nprobe", type=int, default=16, help="IVF lists searched (16: all of IVF16)")
    p.add_argument("--refine-factor", type=int, default=10, help="k x this re-ranked exactly")
    p.add_argument("--min-recall", type=float, default=0.95, help="recall@10 floor (default 0.95)")
    p.add_argument("--min-kill-delay", type=float, default=0.05, help="seconds")
    p.add_argument("--max-kill-delay", type=float, default=1.2, help="seconds")
    p.add_argument(
        "--recovery-kill-share",
        type=float,
        default=0.1,
        help="share of restarts killed again at once, before the check (default 0.1)",
    )
    p.add_argument(
        "--restore-weight", type=float, default=1.0, help="relative weight of restores (of 100)"
    )
    p.add_argument("--call-timeout", type=float, default=30.0, help="deadline of one call, s")
    p.add_argument(
        "--inject-fault",
        action="store_true",
        help="self-check: forget the last acknowledged write before round 2; the run must fail",
    )
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    binary = server_harness.server_binary(args.server_binary)
    root = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="qvdb_crash_"))
    server = server_harness.Server(binary, root, args.server_arg)
    test = CrashTest(args, server)
    started = time.monotonic()
    print(
        f"server crash test: {args.rounds} rounds, seed {args.seed}, {binary}, work dir {root}",
        flush=True,
    )
    status = 0
    try:
        for r in range(args.rounds):
            test.round(r)
            if (r + 1) % 10 == 0:
                print(
                    f"  round {r + 1}: {test.totals.acked_writes} acknowledged writes, "
                    f"{len(test.book.present())} rows, {time.monotonic() - started:.0f} s",
                    flush=True,
                )
        # A last start: the writes of the last round must be there too.
        server.start()
        test.client = qvdb.Client(server.address, timeout=args.call_timeout, max_attempts=1)
        try:
            test.verify(test.client.collection(COLLECTION), args.rounds)
        finally:
            test.client.close()
            server.stop()
    except Violation as e:
        print(f"VIOLATION: round {test.totals.rounds}: {e}", file=sys.stderr)
        if not args.inject_fault:  # an injected fault leaves nothing to look at
            print(f"data and server.log kept in {root}", file=sys.stderr)
        status = 1
    except (RuntimeError, qvdb.QvdbError) as e:
        print(f"HARNESS FAILURE: round {test.totals.rounds}: {e!r}", file=sys.stderr)
        print(f"data and server.log kept in {root}", file=sys.stderr)
        status = 2
    finally:
        server.kill()
    t = test.totals
    elapsed = time.monotonic() - started
    print(
        f"rounds: {t.rounds}; acknowledged writes: {t.acked_writes} ({t.acked_rows} rows); "
        f"rows now: {len(test.book.present())}; restores: {t.restores}; "
        f"kills during recovery: {t.recovery_kills}; "
        f"min recall@10: {t.min_recall:.3f}; "
        f"{elapsed:.1f} s ({elapsed / max(t.rounds, 1):.2f} s/round)"
    )
    print(f"  acknowledged operations: {dict(sorted(t.acked.items()))}")
    print(
        f"  killed in flight: {dict(sorted(t.in_flight.items()))}; "
        f"in-flight writes found applied: {t.in_flight_applied}"
    )
    if (status == 0 or (status == 1 and args.inject_fault)) and not args.work_dir:
        shutil.rmtree(root, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
