"""The examples in examples/python run against a real server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import DATASETS, PACKAGE_PARENT, REPO, ServerProcess


def run_example(script: str, server: ServerProcess, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_PARENT))
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "python" / script),
            "--server",
            server.address,
            "--no-progress",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_quickstart(server: ServerProcess):
    if not (DATASETS / "sap_minilm" / "records.jsonl").exists():
        pytest.skip("../shared/datasets/sap_minilm is absent")
    out = run_example("quickstart.py", server, "--collection", "example_quickstart")
    assert "stored 700 chunks" in out
    # The answer the README shows: base rows 3 and 0 first.
    top = out.split("top 5:")[1]
    assert top.index("local-btp-fiori-tools-4-chunk-0") < top.index(
        "local-btp-fiori-tools-0-chunk-0"
    )
    filtered = out.split("in category 'Sapui5'")[1].split("queries in one SearchBatch")[0]
    assert filtered.count("[Sapui5]") == 5


def test_numpy_recall(server: ServerProcess):
    out = run_example(
        "numpy_recall.py",
        server,
        "--rows",
        "4000",
        "--dim",
        "32",
        "--spec",
        "IVF16,SQ8",
        "--nprobe",
        "16",
    )
    recall = float(out.split("recall@10 = ")[1].split()[0])
    assert recall >= 0.9  # every list scanned, SQ8 codes: nearly exact
