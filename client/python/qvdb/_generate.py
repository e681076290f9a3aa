"""Generates the gRPC stubs (qvdb/v1/qvdb_pb2.py, qvdb_pb2_grpc.py) from proto/.

The stubs are build products, never committed: `setup.py` calls this when the
package is built or installed, `generate_stubs.sh` calls it by hand, and
importing `qvdb` from a source checkout (the PYTHONPATH way) calls it when
the stubs are missing or older than the .proto file.

This module imports nothing outside the standard library, so that setup.py
can load it before grpc or the package are importable.

Compilers, in order of preference:
1. `protoc` with `grpc_python_plugin` (Debian's protobuf-compiler and
   protobuf-compiler-grpc): the protoc that matches Debian's protobuf
   runtime.
2. `python3 -m grpc_tools.protoc` (Debian's python3-grpc-tools).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

PROTO_FILE = "qvdb/v1/qvdb.proto"
STUB_NAMES = ("qvdb_pb2.py", "qvdb_pb2_grpc.py")

# client/python/qvdb/_generate.py -> client/python
PACKAGE_PARENT = Path(__file__).resolve().parent.parent


class StubGenerationError(RuntimeError):
    """The stubs could not be generated (no proto/ or no compiler)."""


def find_proto_root(start: Optional[Path] = None) -> Optional[Path]:
    """The repository's proto/ folder (holding qvdb/v1/qvdb.proto), or None.

    $QVDB_PROTO_ROOT when set, else <start>/../../proto: `start` is the folder
    holding the qvdb package (default: this one), client/python in a
    checkout. Only that place, so that an installed package (say in a
    virtualenv inside the checkout) never picks up a proto/ by chance.
    """
    env = os.environ.get("QVDB_PROTO_ROOT")
    if env and (Path(env) / PROTO_FILE).is_file():
        return Path(env).resolve()
    candidate = (start or PACKAGE_PARENT).resolve().parent.parent / "proto"
    if (candidate / PROTO_FILE).is_file():
        return candidate
    return None


def stub_paths(package_parent: Path = PACKAGE_PARENT) -> List[Path]:
    """Where the generated files live: <package_parent>/qvdb/v1/."""
    return [package_parent / "qvdb" / "v1" / name for name in STUB_NAMES]


def stubs_need_generation(
    proto_root: Optional[Path], package_parent: Path = PACKAGE_PARENT
) -> bool:
    """True when a stub is missing, or older than the .proto file."""
    paths = stub_paths(package_parent)
    if not all(p.is_file() for p in paths):
        return True
    if proto_root is None:
        return False
    proto_mtime = (proto_root / PROTO_FILE).stat().st_mtime
    return any(p.stat().st_mtime < proto_mtime for p in paths)


def _compilers(proto_root: Path, out: Path) -> List[List[str]]:
    """Candidate command lines, best first."""
    commands = []
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if protoc and plugin:
        commands.append(
            [
                protoc,
                f"-I{proto_root}",
                f"--python_out={out}",
                f"--grpc_out={out}",
                f"--plugin=protoc-gen-grpc={plugin}",
                str(proto_root / PROTO_FILE),
            ]
        )
    # grpc_tools may live in another interpreter's site-packages than the
    # running one (e.g. a virtualenv without system packages): try ours, then
    # Debian's.
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if python and Path(python).exists():
            commands.append(
                [
                    python,
                    "-m",
                    "grpc_tools.protoc",
                    f"-I{proto_root}",
                    f"--python_out={out}",
                    f"--grpc_python_out={out}",
                    str(proto_root / PROTO_FILE),
                ]
            )
    return commands


def generate(
    proto_root: Optional[Path] = None,
    package_parent: Path = PACKAGE_PARENT,
    prefer: Optional[str] = None,
) -> List[Path]:
    """Compiles proto/qvdb/v1/qvdb.proto into <package_parent>/qvdb/v1/.

    Args:
      proto_root: the folder holding qvdb/v1/qvdb.proto; None: find_proto_root().
      package_parent: the folder holding the `qvdb` package.
      prefer: "protoc" or "grpc_tools" to use only that compiler (tests).

    Returns the paths written. The files are replaced atomically, so a
    concurrent import never sees half a file.

    Raises StubGenerationError when proto/ or every compiler is missing.
    """
    proto_root = proto_root or find_proto_root(package_parent)
    if proto_root is None:
        raise StubGenerationError(
            f"cannot find proto/{PROTO_FILE} two folders above {package_parent}; "
            "set QVDB_PROTO_ROOT to the repository's proto/ folder"
        )
    target = package_parent / "qvdb" / "v1"
    target.mkdir(parents=True, exist_ok=True)
    errors = []
    with tempfile.TemporaryDirectory(prefix=".stubs-", dir=target) as tmp:
        for command in _compilers(proto_root, Path(tmp)):
            is_protoc = "grpc_tools.protoc" not in command
            if prefer == "protoc" and not is_protoc:
                continue
            if prefer == "grpc_tools" and is_protoc:
                continue
            run = subprocess.run(command, capture_output=True, text=True)
            produced = [Path(tmp) / "qvdb" / "v1" / n for n in STUB_NAMES]
            if run.returncode == 0 and all(p.is_file() for p in produced):
                written = []
                for src, dst in zip(produced, stub_paths(package_parent)):
                    os.replace(src, dst)
                    written.append(dst)
                return written
            errors.append(f"{' '.join(command[:3])}: {run.stderr.strip()}")
    raise StubGenerationError(
        "could not generate the gRPC stubs: install protobuf-compiler and "
        "protobuf-compiler-grpc, or python3-grpc-tools "
        f"(scripts/install_deps.sh). Tried: {'; '.join(errors) or 'nothing'}"
    )


def ensure_stubs(package_parent: Path = PACKAGE_PARENT) -> None:
    """Generates the stubs when missing or stale and proto/ is at hand.

    Called on `import qvdb`. An installed package has its stubs and no proto/
    nearby: nothing happens. A source checkout regenerates them after the
    .proto file changed.
    """
    proto_root = find_proto_root(package_parent)
    if not stubs_need_generation(proto_root, package_parent):
        return
    if proto_root is None:
        raise StubGenerationError(
            "the qvdb package has no generated stubs (qvdb/v1/qvdb_pb2.py) and "
            "no proto/ folder is near it: install it with `pip install "
            "--no-build-isolation ./client/python`, or run "
            "client/python/generate_stubs.sh"
        )
    generate(proto_root, package_parent)


def main(argv: Optional[List[str]] = None) -> int:
    """`python3 qvdb/_generate.py [PROTO_ROOT]`: (re)generates the stubs."""
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]).resolve() if argv else None
    try:
        for path in generate(root):
            print(f"wrote {path}")
    except StubGenerationError as e:
        print(f"qvdb: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
