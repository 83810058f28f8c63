"""The ArviZ conversion of a run."""

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pytest
from regression_run import EXTRA, D

from numpyro_pl.diagnostics import to_arviz


def test_to_arviz(mcmc, idata):
    stats = idata["sample_stats"]
    assert set(EXTRA) | {"diverging"} <= set(stats.data_vars) and "lp" not in stats.data_vars
    fields = mcmc.get_extra_fields(group_by_chain=True)
    np.testing.assert_array_equal(stats["potential_energy"], fields["potential_energy"])
    np.testing.assert_array_equal(stats["kinetic_temperature"], fields["kinetic_temperature"])
    assert stats["kinetic_temperature"].dims == ("chain", "draw")
    assert stats.attrs["temperature"] == 1.0
    assert len(az.summary(idata, var_names=["w"])) == D
    az.plot_trace(idata, var_names=["w"])
    named = to_arviz(mcmc, dims={"w": ["feature"]})
    assert named["posterior"]["w"].dims == ("chain", "draw", "feature")
    with pytest.raises(TypeError, match="`mcmc` must be a numpyro MCMC with a PseudoLangevin"):
        to_arviz(idata)
    plt.close("all")
