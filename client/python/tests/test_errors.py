"""Every bad input gives its typed exception with the server's message;
grpc.RpcError never reaches the caller."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import numpy as np
import pytest

import qvdb
from conftest import ServerProcess


@pytest.fixture
def coll(client: qvdb.Client, name: str) -> qvdb.Collection:
    c = client.create_collection(name, 8, "l2")
    c.upsert([1, 2], np.ones((2, 8), np.float32))
    return c


def test_wrong_dimension(coll: qvdb.Collection):
    with pytest.raises(qvdb.InvalidArgument) as e:
        coll.upsert([3], np.ones((1, 7)))
    assert e.value.code == "INVALID_ARGUMENT"
    assert "has 7 dimensions, the collection has 8" in e.value.message
    assert isinstance(e.value, ValueError) and not isinstance(e.value, grpc.RpcError)
    with pytest.raises(qvdb.InvalidArgument, match="8"):
        coll.search(np.ones(9), 3)
    with pytest.raises(qvdb.InvalidArgument):
        coll.search(np.ones((2, 9)), 3)
    with pytest.raises(qvdb.InvalidArgument):
        coll.ingest(np.ones((3, 5)), progress=False)
    assert coll.count() == 2  # nothing written


def test_nan_and_infinity(coll: qvdb.Collection):
    bad = np.ones((2, 8), np.float32)
    bad[1, 5] = np.nan
    with pytest.raises(qvdb.InvalidArgument, match="non-finite"):
        coll.upsert([10, 11], bad)
    assert coll.get([10, 11]) == [None, None]  # all or nothing
    inf = np.ones(8)
    inf[0] = np.inf
    with pytest.raises(qvdb.InvalidArgument):
        coll.search(inf, 3)
    with pytest.raises(qvdb.InvalidArgument):
        coll.search(bad, 3)


def test_unknown_collection(client: qvdb.Client, coll: qvdb.Collection):
    with pytest.raises(qvdb.NotFound, match="does not exist"):
        client.collection("no_such_collection")
    with pytest.raises(qvdb.NotFound):
        client.drop_collection("no_such_collection")
    coll.drop()
    for call in (
        lambda: coll.search(np.ones(8), 1),
        lambda: coll.search(np.ones((2, 8)), 1),
        lambda: coll.upsert([1], np.ones(8)),
        lambda: coll.get([1]),
        lambda: coll.delete([1]),
        lambda: coll.count(),
        lambda: coll.train(),
        lambda: coll.ingest(np.ones((2, 8)), progress=False),
    ):
        with pytest.raises(qvdb.NotFound):
            call()


def test_bad_spec_metric_and_name(client: qvdb.Client, name: str):
    with pytest.raises(qvdb.InvalidArgument, match="PQ3x4") as e:
        client.create_collection(name, 8, "l2", "IVF16,PQ3x4fs")
    assert "not divisible" in e.value.message
    with pytest.raises(qvdb.InvalidArgument, match="spec"):
        client.create_collection(name, 8, "l2", "NoSuchCodec99")
    with pytest.raises(qvdb.InvalidArgument, match="unknown metric"):
        client.create_collection(name, 8, "manhattan")
    with pytest.raises(qvdb.InvalidArgument, match="dim"):
        client.create_collection(name, 0, "l2")
    with pytest.raises(qvdb.InvalidArgument):
        client.create_collection("", 8, "l2")
    with pytest.raises(qvdb.InvalidArgument, match="unknown field type"):
        client.create_collection(name, 8, "l2", fields={"lang": "text"})
    with pytest.raises(qvdb.InvalidArgument, match="field name"):
        client.create_collection(name, 8, "l2", fields={"9lang": "keyword"})
    with pytest.raises(qvdb.NotFound):
        client.collection(name)  # none of these created it


def test_bad_requests(coll: qvdb.Collection):
    with pytest.raises(qvdb.InvalidArgument, match="2 ids for 3 vectors"):
        coll.upsert([1, 2], np.ones((3, 8)))
    with pytest.raises(qvdb.InvalidArgument, match="out of range"):
        coll.upsert([-1], np.ones(8))
    with pytest.raises(qvdb.InvalidArgument, match="bool"):
        coll.get(True)
    with pytest.raises(qvdb.InvalidArgument, match="1 to 1024"):
        coll.get("")
    with pytest.raises(qvdb.InvalidArgument, match="payloads"):
        coll.upsert([5, 6], np.ones((2, 8)), payloads=[{"a": 1}])
    with pytest.raises(qvdb.InvalidArgument, match="payload"):
        coll.upsert([5], np.ones((1, 8)), payloads=[object()])
    with pytest.raises(qvdb.InvalidArgument, match="twice|more than once|duplicate"):
        coll.upsert([5, 5], np.ones((2, 8)))
    with pytest.raises(qvdb.InvalidArgument, match="k"):
        coll.search(np.ones(8), k=20000)
    with pytest.raises(qvdb.InvalidArgument, match="nprobe"):
        coll.search(np.ones(8), nprobe=-1)
    with pytest.raises(qvdb.InvalidArgument, match="query"):
        coll.search(np.ones((2, 2, 8)))
    with pytest.raises(qvdb.InvalidArgument, match="qvdb.v1.Filter"):
        coll.search(np.ones(8), filter={"lang": "en"})


def test_failed_precondition_and_deadline(client: qvdb.Client, server: ServerProcess, name: str):
    coll = client.create_collection(name, 8, "l2", "IVF64,SQ8")
    coll.upsert(list(range(10)), np.random.default_rng(1).standard_normal((10, 8)))
    with pytest.raises(qvdb.FailedPrecondition, match="rows"):
        coll.train()
    # A batch search that takes far longer than 2 ms (2000 queries over 5000
    # rows, exact).
    rng = np.random.default_rng(2)
    flat = client.create_collection(f"{name}_flat", 64, "l2")
    flat.ingest(rng.standard_normal((5000, 64)), progress=False)
    with qvdb.Client(server.address, timeout=0.002, max_attempts=1) as hurried:
        with pytest.raises(qvdb.DeadlineExceeded):
            handle = qvdb.Collection(hurried, flat.name, 64, qvdb.Metric.L2)
            handle.search(rng.standard_normal((2000, 64)), 10)


def test_unreachable_server_after_retries():
    with qvdb.Client("127.0.0.1:1", max_attempts=3, initial_backoff=0.01) as c:
        with pytest.raises(qvdb.Unavailable) as e:
            c.list_collections()
    assert e.value.code == "UNAVAILABLE"
    c.close()
    with pytest.raises(qvdb.FailedPrecondition, match="closed"):
        c.list_collections()


def test_api_keys_tls_and_message_size(own_server: ServerProcess, tmp_path: Path):
    keys = tmp_path / "keys"
    keys.write_text(
        "0123456789abcdef0123456789abcdef admin ops\n"
        "fedcba9876543210fedcba9876543210 read-only web\n"
    )
    keys.chmod(0o600)
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {made.stderr[-200:]!r}")
    own_server.extra = [
        "--api-keys",
        str(keys),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--max-message-mb",
        "1",
    ]
    own_server.start()
    addr = own_server.address
    with qvdb.Client(addr, tls=str(cert), max_attempts=1) as anonymous:
        with pytest.raises(qvdb.Unauthenticated, match="API key"):
            anonymous.list_collections()
    with qvdb.Client(
        addr, api_key="0123456789abcdef0123456789abcdef", tls=cert.read_bytes()
    ) as admin:
        coll = admin.create_collection("c", 65536, "l2")
        with pytest.raises(qvdb.ResourceExhausted):  # 8 x 256 KiB > 1 MiB
            coll.upsert(list(range(8)), np.ones((8, 65536), np.float32))
    with qvdb.Client(addr, api_key="fedcba9876543210fedcba9876543210", tls=cert) as reader:
        assert [c.name for c in reader.list_collections()] == ["c"]
        with pytest.raises(qvdb.PermissionDenied, match="read-only"):
            reader.collection("c").delete([1])
    with qvdb.Client(addr, max_attempts=1) as plaintext:
        with pytest.raises(qvdb.Unavailable):
            plaintext.list_collections()
    with pytest.raises(qvdb.NotFound, match="CA file"):
        qvdb.Client(addr, tls=str(tmp_path / "missing.crt"))
