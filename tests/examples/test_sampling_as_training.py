"""Smoke test of examples/sampling_as_training.py: the --quick run of the issue's command
finishes and writes its table, numbers and plot, with every method in the table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "sampling_as_training.py"


@pytest.mark.parametrize("dataset", ["digits", "kspin"])
def test_quick_run(tmp_path, dataset):
    subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset", dataset, "--quick", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    stem = tmp_path / f"sampling_as_training_{dataset}"
    table = stem.with_suffix(".md").read_text()
    for method in ("pL", "Adam, early stopping", "Adam, last epoch", "SGD, early stopping"):
        assert method in table, method
    assert stem.with_suffix(".png").stat().st_size > 0
    assert json.loads(stem.with_suffix(".json").read_text())


def test_fashion_needs_its_files(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset", "fashion", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "--fashion-dir" in result.stderr
