"""qvdb.v1: the protobuf and gRPC stubs generated from proto/qvdb/v1/qvdb.proto.

`qvdb_pb2.py` and `qvdb_pb2_grpc.py` are generated at build time (setup.py,
generate_stubs.sh, or on import from a source checkout) and are not in git.
The package path matches the proto package (`qvdb.v1`), so the generated
`from qvdb.v1 import qvdb_pb2` resolves here.
"""
