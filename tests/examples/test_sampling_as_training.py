"""Smoke test of examples/sampling_as_training.py: the --quick run of the issue's command
finishes and writes its table, numbers and plot, with every method in the table."""

import json

import pytest


@pytest.mark.parametrize("dataset", ["digits", "kspin"])
def test_quick_run(tmp_path, run_quick, dataset):
    run_quick("sampling_as_training.py", "--dataset", dataset)
    stem = tmp_path / f"sampling_as_training_{dataset}"
    table = stem.with_suffix(".md").read_text()
    for method in ("pL", "Adam, early stopping", "Adam, last epoch", "SGD, early stopping"):
        assert method in table, method
    assert stem.with_suffix(".png").stat().st_size > 0
    assert json.loads(stem.with_suffix(".json").read_text())


def test_fashion_needs_its_files(run_quick):
    result = run_quick("sampling_as_training.py", "--dataset", "fashion", check=False, timeout=120)
    assert result.returncode != 0
    assert "--fashion-dir" in result.stderr
