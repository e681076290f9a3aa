"""`pip install --no-build-isolation ./client/python` works offline and
generates the stubs into the package (a copy of the checkout in a temporary
folder, so no build output lands in the source tree)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PACKAGE_PARENT, REPO


def test_offline_pip_install(tmp_path: Path):
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip("pip is not installed for this python3 (python3-pip)")
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "proto", checkout / "proto")
    shutil.copytree(
        PACKAGE_PARENT,
        checkout / "client" / "python",
        ignore=shutil.ignore_patterns(
            "qvdb_pb2*.py", "__pycache__", "build", "*.egg-info", "tests", ".pytest_cache"
        ),
    )
    venv = tmp_path / "venv"
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], capture_output=True
    )
    if made.returncode:
        pytest.skip(f"cannot make a virtualenv (python3-venv): {made.stderr[-200:]!r}")
    install = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-build-isolation",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "./client/python",
        ],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    # Imported from the virtualenv, away from the checkout: stubs included.
    check = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import qvdb, qvdb.v1.qvdb_pb2 as pb; print(qvdb.__file__); "
            "print(pb.DESCRIPTOR.services_by_name['Qvdb'].methods_by_name['Ingest'].name)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    where, method = check.stdout.split()
    assert where.startswith(str(venv)) and method == "Ingest"
