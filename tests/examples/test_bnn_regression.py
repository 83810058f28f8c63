"""Smoke test of examples/bnn_regression.py: the --quick run (PseudoLangevin only) finishes,
writes its plot, runs near its target temperature and gives a 90% band that covers most of
the held-out points."""

import re


def test_quick_run(tmp_path, run_quick):
    result = run_quick("bnn_regression.py")
    assert (tmp_path / "bnn_regression.png").stat().st_size > 0
    assert "NUTS: skipped with --quick" in result.stdout

    # 2K/n over 2 chains x 1000 draws, n = 322 parameters: one draw fluctuates by
    # sqrt(2/n) = 8%, the mean by about 1%. The quick run is still relaxing (1.07 measured,
    # 1.007 in the full run); a chain that runs away is far outside 0.85-1.2.
    match = re.search(r"kinetic temperature: ([0-9.]+)", result.stdout)
    assert match, result.stdout
    assert 0.85 < float(match.group(1)) < 1.2, result.stdout

    # the 90% band on 500 held-out points: binomial sd 1.3%; the quick run gave 0.95, the
    # full one 0.92. Below 0.75 the band is far too narrow (a collapsed or untrained network)
    match = re.search(r"coverage of the 90% band on 500 held-out points ([0-9.]+)", result.stdout)
    assert match, result.stdout
    assert 0.75 < float(match.group(1)) <= 1.0, result.stdout
