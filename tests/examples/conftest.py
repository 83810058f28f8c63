"""Shared by the smoke tests of ``examples/``: run a script with ``--quick`` in a fresh
interpreter, as a user would from the repository root."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def run_quick(tmp_path):
    """``run_quick(script, *args, check=True)``: ``python examples/<script> *args --quick
    --out <tmp_path>``; returns the completed process, with its output as text."""

    def run(script, *args, check=True, timeout=600):
        command = [sys.executable, str(EXAMPLES / script), *args, "--quick", "--out"]
        return subprocess.run(
            [*command, str(tmp_path)], check=check, capture_output=True, text=True, timeout=timeout
        )

    return run
