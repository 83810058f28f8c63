"""The paper's validation, scaled down: on a small KSpin problem and a small ReLU MLP (ReLU on
every layer, as in the paper), PseudoLangevin on minibatches and NumPyro's exact HMC on the
tempered full-data model give the same equilibrium means of the full-batch potential energy U
and of |w|^2, within 4 combined Monte Carlo standard errors (MCSE = sd / sqrt(ESS)).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import HMC, MCMC
from numpyro.infer.util import potential_energy

from numpyro_pl import PseudoLangevin, bayesian_mlp, tempered
from numpyro_pl.datasets import kspin_split

TEMPERATURE, CHAINS = 1.0, 4
MODEL = bayesian_mlp([10, 8, 3], activate_output=True, prior_scale=1.0)


@pytest.fixture(scope="module")
def data():
    train = kspin_split(400, 1, num_classes=3, dim=10, seed=0).train
    return jnp.asarray(train.X), jnp.asarray(train.y)


def mean_and_mcse(samples, data):
    """Means and MCSEs of U and |w|^2 from samples grouped by chain."""
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in samples.items()}
    energy = jax.vmap(lambda p: potential_energy(MODEL, data, {}, p))(flat)
    norm = sum(jnp.sum(v.reshape(v.shape[0], -1) ** 2, axis=1) for v in flat.values())
    result = {}
    for name, values in (("U", energy), ("|w|^2", norm)):
        values = np.asarray(values, np.float64).reshape(CHAINS, -1)
        ess = float(effective_sample_size(values))
        assert ess > 40, f"too few effective samples of {name} to test: {ess:.0f}"
        result[name] = (values.mean(), values.std() / np.sqrt(ess))
    return result


def test_pseudo_langevin_agrees_with_exact_hmc(data):
    pl = MCMC(
        PseudoLangevin(MODEL, batch_size=40, temperature=TEMPERATURE),
        num_warmup=20_000,
        num_samples=200_000,
        thinning=50,
        num_chains=CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    pl.run(jax.random.key(0), *data)
    hmc = MCMC(
        HMC(
            tempered(MODEL, TEMPERATURE),
            num_steps=20,
            trajectory_length=None,
            adapt_mass_matrix=False,
        ),
        num_warmup=500,
        num_samples=2000,
        num_chains=CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    hmc.run(jax.random.key(1), *data)
    pl_stats = mean_and_mcse(pl.get_samples(group_by_chain=True), data)
    hmc_stats = mean_and_mcse(hmc.get_samples(group_by_chain=True), data)
    for name in ("U", "|w|^2"):
        (m1, e1), (m2, e2) = pl_stats[name], hmc_stats[name]
        assert abs(m1 - m2) < 4 * np.hypot(e1, e2), (name, pl_stats[name], hmc_stats[name])
