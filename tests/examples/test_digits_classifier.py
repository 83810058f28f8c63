"""Smoke test of examples/digits_classifier.py: the --quick run finishes, writes its plot,
runs near its target temperature, and its Bayesian model average classifies the test digits
far above chance."""

import re


def test_quick_run(tmp_path, run_quick):
    result = run_quick("digits_classifier.py")
    assert (tmp_path / "digits_classifier.png").stat().st_size > 0
    assert "WARNING" not in result.stdout, result.stdout

    # 2K/n over 2 chains x 100 draws, n = 7 510 parameters: one draw fluctuates by
    # sqrt(2/n) = 1.6%, so the mean is within a few percent of T once the chain has relaxed;
    # +-20% leaves room for a quick run that has not, and catches one that runs away
    match = re.search(r"kinetic temperature / T: ([0-9.]+)", result.stdout)
    assert match, result.stdout
    assert 0.8 < float(match.group(1)) < 1.2, result.stdout

    # chance is 10% on the ten classes; the full run's BMA gets about 98%. 80% catches a
    # sampler or model that has not learned, with room for the short quick run
    match = re.search(r"Bayesian model average\s+([0-9.]+)%", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) > 80.0, result.stdout
