"""Smoke test of examples/logistic_regression.py: the --quick run finishes, writes its two
plots, and its PseudoLangevin chains run at the temperature they were asked for."""

import re


def test_quick_run(tmp_path, run_quick):
    result = run_quick("logistic_regression.py")
    for name in ("logistic_regression_trace.png", "logistic_regression_temperature.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    # the mean of 2K/n over 2 chains x 200 draws, n = 31 parameters: one draw fluctuates by
    # sqrt(2/31) = 25% around T = 1, the mean by about 2% (draws 50 moves apart, about half
    # the momentum's memory of 1/m1^2 = 100 moves); +-15% is over 7 of those standard
    # errors, and still catches a chain that runs away or is far from equilibrium
    match = re.search(r"mean kinetic temperature of pL: ([0-9.]+)", result.stdout)
    assert match, result.stdout
    assert 0.85 < float(match.group(1)) < 1.15, result.stdout
