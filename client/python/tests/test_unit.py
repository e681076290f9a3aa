"""Without a server: the hand-encoded requests parse into the messages
protobuf would build, conversions, the error mapping, stub generation."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest

import qvdb
from qvdb import _convert, _generate, _ops, _wire, errors
from qvdb.v1 import qvdb_pb2 as pb
from conftest import PACKAGE_PARENT, REPO


@pytest.mark.parametrize("d", [1, 3, 16, 33, 384])
def test_rows_encoding_matches_protobuf(d: int):
    rng = np.random.default_rng(d)
    x = rng.standard_normal((5, d)).astype(np.float32)
    ids = [0, 2**64 - 1, "doc-1", "ü✓" * 300, 127]
    payloads = [b"", b"\x00raw", '{"a":1}'.encode(), b"x" * 300, b""]
    wire = _wire.rows_request("coll", _wire.encode_rows(ids, x, payloads))
    expected = pb.UpsertRequest(collection="coll")
    for i, (id_, p) in enumerate(zip(ids, payloads)):
        row = expected.rows.add(id=_convert.id_to_proto(id_), payload=p)
        row.vector.extend(x[i].tolist())
    assert pb.UpsertRequest.FromString(wire) == expected
    assert pb.IngestRequest.FromString(wire).rows == expected.rows
    # Without payloads, from float64 and from a non-contiguous view.
    wire = _wire.rows_request("c", _wire.encode_rows(ids, x.astype(np.float64)[:, ::1], None))
    assert [list(r.vector) for r in pb.UpsertRequest.FromString(wire).rows] == x.tolist()


def test_search_encodings_match_protobuf():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((7, 128)).astype(np.float32)
    params = _convert.search_params(10, 8, 4, [1, "a"], True, False)
    raw = params.SerializeToString()
    one = pb.SearchRequest.FromString(_wire.search_request("docs", q[0], raw))
    assert one == pb.SearchRequest(collection="docs", vector=q[0].tolist(), params=params)
    batch = pb.SearchBatchRequest.FromString(_wire.search_batch_request("docs", q, raw))
    assert batch == pb.SearchBatchRequest(
        collection="docs", queries=[pb.Vector(values=r) for r in q.tolist()], params=params
    )
    assert batch.params.filter.ids[1].str == "a"
    # An empty filter is present and empty: it matches nothing.
    empty = _convert.search_params(10, None, None, [], False, False)
    assert empty.HasField("filter") and len(empty.filter.ids) == 0
    assert not _convert.search_params(10, None, None, None, False, False).HasField("filter")


def test_varint():
    for n in [0, 1, 127, 128, 300, 2**32, 2**64 - 1]:
        assert pb.Id.FromString(b"\x08" + _wire.varint(n)).u64 == n


def test_ids():
    assert _convert.check_ids(5) == [5]
    assert _convert.check_ids("a") == ["a"]
    assert _convert.check_ids(np.arange(3, dtype=np.uint64)) == [0, 1, 2]
    assert _convert.check_ids(range(2)) == [0, 1]
    assert _convert.check_ids([np.int32(4), "x"]) == [4, "x"]
    for bad, message in [
        (-1, "out of range"),
        (2**64, "out of range"),
        (True, "bool"),
        (1.5, "float"),
        ("", "1 to 1024"),
        ("x" * 1025, "1 to 1024"),
        (np.array([-3]), "-3"),
        (np.zeros((2, 2), dtype=np.int64), "one-dimensional"),
        (b"bytes", "bytes"),
        ("\ud800", "UTF-8"),
    ]:
        with pytest.raises(qvdb.InvalidArgument, match=message):
            _convert.check_ids(bad)
    arr = _convert.ids_array([1, "a"])
    assert arr.dtype == object and arr.tolist() == [1, "a"]
    assert _convert.ids_array([1, 2]).dtype == np.uint64


def test_vectors_and_queries():
    assert _convert.as_matrix([[1, 2], [3, 4]]).dtype == np.float32
    assert _convert.as_matrix(np.ones(3)).shape == (1, 3)
    with pytest.raises(qvdb.InvalidArgument, match="equally long"):
        _convert.as_matrix([[1, 2], [3]])
    with pytest.raises(qvdb.InvalidArgument, match="numbers"):
        _convert.as_matrix(np.array([["a"]]))
    q, batch = _convert.as_query([1.0, 2.0])
    assert q.shape == (1, 2) and not batch
    q, batch = _convert.as_query(np.ones((1, 2)))
    assert q.shape == (1, 2) and batch
    with pytest.raises(qvdb.InvalidArgument):
        _convert.as_query(np.ones((2, 2, 2)))
    assert _convert.batch_queries(100000, 10) == 10000
    assert _convert.batch_queries(100000, 1000) == 1000


def test_payloads():
    assert _convert.encode_payload({"a": "é"}) == '{"a":"é"}'.encode()
    assert _convert.encode_payload(None) == b""
    assert _convert.encode_payload(bytearray(b"x")) == b"x"
    assert _convert.decode_payload(b"", True) is None
    assert _convert.decode_payload(b'{"a":1}', True) == {"a": 1}
    assert _convert.decode_payload(b'{"a":1}', False) == b'{"a":1}'
    assert _convert.decode_payload(b"{not json", True) == b"{not json"
    assert _convert.decode_payload(b"42", True) == b"42"
    with pytest.raises(qvdb.InvalidArgument, match="JSON"):
        _convert.encode_payload({"a": object()})
    with pytest.raises(qvdb.InvalidArgument, match="2 payloads for 3 rows"):
        _convert.encode_payloads([None, None], 3)


def test_metrics_and_filters():
    assert _convert.parse_metric("COSINE") is qvdb.Metric.COSINE
    assert _convert.parse_metric("inner_product") == "ip"
    assert str(qvdb.Metric.L2) == "l2"
    with pytest.raises(qvdb.InvalidArgument):
        _convert.parse_metric("hamming")
    params = pb.SearchParams()
    _convert.apply_filter(params, 'lang = "en"')
    assert params.filter_expr == 'lang = "en"' and not params.HasField("filter")
    # A dict is the Filter message's JSON form; anything else is refused.
    with pytest.raises(qvdb.InvalidArgument, match="qvdb.v1.Filter"):
        _convert.apply_filter(params, {"lang": "en"})
    _convert.apply_filter(params, np.array([3, 4], dtype=np.uint64))
    assert [i.u64 for i in params.filter.ids] == [3, 4]


def test_structured_filter_builder():
    f = (
        (qvdb.field("lang") == "en")
        & (qvdb.field("year") >= 2020)
        & qvdb.field("tags").is_in(["faq", "howto"])
    )
    m = f.to_proto()
    # a & b & c is one all_of of three.
    assert m.WhichOneof("kind") == "all_of" and len(m.all_of.filters) == 3
    lang, year, tags = m.all_of.filters
    assert lang.comparison.field == "lang" and lang.comparison.op == pb.FILTER_OP_EQ
    assert lang.comparison.value.string_value == "en"
    assert year.comparison.op == pb.FILTER_OP_GE and year.comparison.value.int64_value == 2020
    assert [v.string_value for v in tags.in_list.values] == ["faq", "howto"]
    assert not tags.in_list.negated
    # Values are typed by their Python type; ~ and | and not_in.
    g = ~qvdb.field("flag").exists() | (qvdb.field("score") < 0.5) | qvdb.field("n").not_in([1])
    m = g.to_proto()
    assert m.WhichOneof("kind") == "any_of"
    assert m.any_of.filters[0].negate.exists.field == "flag"
    assert m.any_of.filters[1].comparison.value.double_value == 0.5
    assert m.any_of.filters[2].in_list.negated
    b = (qvdb.field("ok") == True).to_proto()  # noqa: E712
    assert b.comparison.value.WhichOneof("kind") == "bool_value"
    t = (qvdb.field("at") > datetime.datetime(1970, 1, 1, 0, 0, 1)).to_proto()
    assert t.comparison.value.timestamp_micros == 1_000_000
    # The message goes into SearchParams.structured_filter; text and
    # structured forms may be combined (a row passes both) only through the
    # API, so the client takes one.
    params = pb.SearchParams()
    _convert.apply_filter(params, f)
    assert params.structured_filter == f.to_proto() and params.filter_expr == ""
    params = pb.SearchParams()
    _convert.apply_filter(params, {"exists": {"field": "lang"}})
    assert params.structured_filter.exists.field == "lang"
    # Mistakes are refused in the client.
    with pytest.raises(TypeError, match="&"):
        bool(qvdb.field("a") == 1)
    with pytest.raises(qvdb.InvalidArgument, match="list"):
        qvdb.field("a").is_in("abc")
    with pytest.raises(qvdb.InvalidArgument, match="bytes"):
        qvdb.field("a") == b"x"  # noqa: B015
    with pytest.raises(qvdb.InvalidArgument, match="finite"):
        qvdb.field("a") == float("nan")  # noqa: B015
    with pytest.raises(qvdb.InvalidArgument, match="empty"):
        _convert.apply_filter(pb.SearchParams(), "  ")


def test_batches_of_every_input_form():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    got = list(_convert.iter_batches(x, None, None, 4, 100))
    assert [b[0] for b in got] == [[100, 101, 102, 103], [104, 105, 106, 107], [108, 109]]
    records = [{"id": f"r{i}", "vector": x[i], "payload": {"i": i}} for i in range(3)]
    ((ids, vecs, pays),) = _convert.iter_batches(iter(records), None, None, 10, 0)
    assert ids == ["r0", "r1", "r2"] and vecs.shape == (3, 2) and pays[2] == b'{"i":2}'
    tuples = ((i, x[i]) for i in range(5))
    assert [b[0] for b in _convert.iter_batches(tuples, None, None, 2, 0)] == [[0, 1], [2, 3], [4]]
    with pytest.raises(qvdb.InvalidArgument, match="record 0 needs"):
        list(_convert.iter_batches([{"vector": [1]}], None, None, 2, 0))
    with pytest.raises(qvdb.InvalidArgument, match="3 ids for 10 vectors"):
        list(_convert.iter_batches(x, [1, 2, 3], None, 2, 0))
    with pytest.raises(qvdb.InvalidArgument, match="more vectors than ids"):
        list(_convert.iter_batches(iter(x.tolist()), [1], None, 5, 0))
    with pytest.raises(qvdb.InvalidArgument, match="do not pass ids"):
        list(_convert.iter_batches(records, ["a"], None, 5, 0))
    assert _convert.known_length(x) == 10 and _convert.known_length(iter(x)) is None


def test_upsert_requests_split_by_rows_and_bytes():
    x = np.zeros((25, 4), np.float32)
    parts = list(_ops.upsert_requests("c", list(range(25)), x, None, 10))
    assert [n for _, n in parts] == [10, 10, 5]
    big = [b"x" * (13 << 20)] * 5  # 65 MiB of payloads: over the 32 MiB cap
    parts = list(_ops.upsert_requests("c", list(range(5)), x[:5], big, 10))
    assert [n for _, n in parts] == [2, 2, 1]
    with pytest.raises(qvdb.InvalidArgument, match="batch_size"):
        list(_ops.upsert_requests("c", [1], x[:1], None, 10001))
    with pytest.raises(qvdb.InvalidArgument, match="one id for 25 vectors"):
        list(_ops.upsert_requests("c", 1, x, None, 10))


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_every_status_code_has_its_exception():
    for code in grpc.StatusCode:
        if code is grpc.StatusCode.OK:
            continue
        e = errors.error_from_rpc(FakeRpcError(code, "what to fix"), "Search")
        assert isinstance(e, qvdb.QvdbError) and not isinstance(e, grpc.RpcError)
        assert e.code == code.name
        assert e.message.startswith("what to fix")
        assert type(e).__name__.upper() == code.name.replace("_", "")
    assert isinstance(
        errors.error_from_rpc(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "x")), ValueError
    )
    for name in qvdb.errors.__all__:
        assert name == "error_from_rpc" or hasattr(qvdb, name)


@pytest.mark.parametrize("compiler", ["protoc", "grpc_tools"])
def test_stub_generation(compiler: str, tmp_path: Path):
    """Both compilers produce stubs that import and describe the service."""
    import shutil

    if compiler == "protoc" and not (shutil.which("protoc") and shutil.which("grpc_python_plugin")):
        pytest.skip("protoc with grpc_python_plugin is not installed")
    shutil.copytree(
        PACKAGE_PARENT / "qvdb",
        tmp_path / "qvdb",
        ignore=shutil.ignore_patterns("qvdb_pb2*.py", "__pycache__"),
    )
    try:
        written = _generate.generate(REPO / "proto", tmp_path, prefer=compiler)
    except _generate.StubGenerationError as e:
        pytest.skip(str(e))
    assert [p.name for p in written] == ["qvdb_pb2.py", "qvdb_pb2_grpc.py"]
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import qvdb, qvdb.v1.qvdb_pb2_grpc as g; "
            "assert qvdb.__file__.startswith(%r); print(g.QvdbStub.__name__)" % str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "QvdbStub"


def test_stale_stubs_are_regenerated(tmp_path: Path):
    import os
    import shutil

    shutil.copytree(REPO / "proto", tmp_path / "proto")
    shutil.copytree(
        PACKAGE_PARENT / "qvdb",
        tmp_path / "client" / "python" / "qvdb",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    parent = tmp_path / "client" / "python"
    assert _generate.find_proto_root(parent) == tmp_path / "proto"
    assert not _generate.stubs_need_generation(tmp_path / "proto", parent)
    stub = parent / "qvdb" / "v1" / "qvdb_pb2.py"
    os.utime(stub, (1, 1))
    assert _generate.stubs_need_generation(tmp_path / "proto", parent)
    _generate.ensure_stubs(parent)
    assert not _generate.stubs_need_generation(tmp_path / "proto", parent)
    # Missing stubs and no proto/: a clear error on import.
    for p in _generate.stub_paths(parent):
        p.unlink()
    shutil.rmtree(tmp_path / "proto")
    with pytest.raises(_generate.StubGenerationError, match="pip install"):
        _generate.ensure_stubs(parent)
