"""The kinetic temperature of a run against its target, and the temperature plot."""

import arviz as az
import matplotlib
import matplotlib.pyplot as plt
import pytest
from regression_run import run

from numpyro_pl.diagnostics import kinetic_temperature, plot_temperature, to_arviz


def test_kinetic_temperature(mcmc, idata):
    estimate = kinetic_temperature(mcmc)
    assert estimate.target == 1.0 and estimate.ess > 10 and estimate.mcse > 0
    assert abs(estimate.mean - 1.0) < 4 * estimate.mcse, estimate
    assert kinetic_temperature(idata) == estimate
    assert kinetic_temperature(az.from_numpyro(mcmc)).target is None


def test_kinetic_temperature_missing(data):
    short = run(data, extra_fields=(), num_samples=20, num_chains=1)
    with pytest.raises(ValueError, match=r'extra_fields=\("kinetic_temperature",\)'):
        kinetic_temperature(short)
    with pytest.raises(ValueError, match="`sample_stats` has no `kinetic_temperature`"):
        kinetic_temperature(to_arviz(short))
    with pytest.raises(TypeError, match="numpyro MCMC or ArviZ data"):
        kinetic_temperature(42)


def test_plot_temperature(mcmc, idata):
    ax = plot_temperature(mcmc)
    assert isinstance(ax, matplotlib.axes.Axes) and len(ax.get_lines()) == 3  # 2 chains, T
    assert ax.get_lines()[-1].get_ydata()[0] == 1.0
    fig, given = plt.subplots()
    assert plot_temperature(idata, ax=given) is given and len(given.get_lines()) == 3
    assert len(plot_temperature(az.from_numpyro(mcmc)).get_lines()) == 2  # target unknown
    plt.close("all")
