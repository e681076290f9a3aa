"""Build hook: generates the gRPC stubs from ../../proto before the package
is built (pip install, wheel, editable install), so they are never
committed. The project's metadata is in pyproject.toml."""

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _generator():
    # qvdb/_generate.py uses only the standard library: load it by path,
    # before grpc or the package itself can be imported.
    spec = importlib.util.spec_from_file_location("qvdb_generate", HERE / "qvdb" / "_generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithStubs(build_py):
    """build_py that first writes qvdb/v1/qvdb_pb2.py and qvdb_pb2_grpc.py."""

    def run(self):
        gen = _generator()
        proto_root = gen.find_proto_root(HERE)
        if proto_root is not None:
            for path in gen.generate(proto_root, HERE):
                print(f"qvdb: generated {path.relative_to(HERE)}")
        elif gen.stubs_need_generation(None, HERE):
            raise SystemExit(
                "qvdb: no proto/qvdb/v1/qvdb.proto above client/python and no "
                "generated stubs: build from a qvdb checkout, or set QVDB_PROTO_ROOT"
            )
        super().run()


setup(cmdclass={"build_py": BuildPyWithStubs})
