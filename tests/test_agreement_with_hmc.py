"""The paper's validation, scaled down: on a small KSpin problem and a small ReLU MLP (ReLU on
every layer, as in the paper), PseudoLangevin on minibatches and NumPyro's exact HMC on the
tempered full-data model give the same equilibrium means of |W|^2 for every site, of |w|^2
and of the full-batch potential energy U, within 4 combined Monte Carlo standard errors
(MCSE = sd / sqrt(ESS)).

PseudoLangevin runs without the mass resets after warmup (``reset_prob=0``), its masses raised
only where a re-estimate finds r_i above ``max_noise_ratio=0.03``: with the clamp at r itself
the ESS of |W1|^2 over the same moves was 1.6-9 times smaller (on an 11 160-parameter network
the higher clamp heated the data term, so this is the setting tested, not a recommendation).
With the reference's resets (``reset_prob=0.1``, the default) the output layer's |W|^2 comes out
23-26 % low on this network, 6-8 MCSE (``docs/benchmarks.md``, "Mass resets against exact HMC").
That case is measured by ``benchmarks/reset_bias.py``, not here: run as a strict expected
failure it cost two of the suite's 16.5 minutes on 2 cores, against a limit of 20.

Both runs are as long as the slowest site needs: HMC 4 chains x 10 000 draws (with 2 000, |b0|^2
came out 2.3-3.4 combined MCSE from three runs of 10 000), pL 4 chains x 10^6 moves (runs of
2-6 * 10^5 moves gave ESS of 12-51 for |W1|^2).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import HMC, MCMC

from numpyro_pl import PseudoLangevin, bayesian_mlp, tempered
from numpyro_pl.datasets import kspin_split
from numpyro_pl.diagnostics import full_batch_observables

TEMPERATURE, CHAINS = 1.0, 4
MODEL = bayesian_mlp([10, 8, 3], activate_output=True, prior_scale=1.0)


@pytest.fixture(scope="module")
def data():
    train = kspin_split(400, 1, num_classes=3, dim=10, seed=0).train
    return jnp.asarray(train.X), jnp.asarray(train.y)


def mean_and_mcse(mcmc, data):
    """Means and MCSEs of |W|^2 of each site, of |w|^2 and of U, from ``mcmc``'s chains."""
    values = {
        f"|{site}|^2": np.sum(np.asarray(v, np.float64).reshape(*v.shape[:2], -1) ** 2, axis=2)
        for site, v in mcmc.get_samples(group_by_chain=True).items()
    }
    full = full_batch_observables(mcmc, MODEL, data)
    values["|w|^2"] = np.asarray(full.sq_norm, np.float64)
    values["U"] = np.asarray(full.potential_energy, np.float64)
    result = {}
    for name, x in values.items():
        ess = float(effective_sample_size(x))
        if ess <= 40:
            pytest.fail(f"{name}: ESS {ess:.0f}, too few for its MCSE to be trusted")
        result[name] = (x.mean(), x.std() / np.sqrt(ess))
    return result


@pytest.fixture(scope="module")
def exact_hmc(data):
    hmc = MCMC(
        HMC(
            tempered(MODEL, TEMPERATURE),
            num_steps=20,
            trajectory_length=None,
            adapt_mass_matrix=False,
        ),
        num_warmup=1000,
        num_samples=10_000,
        num_chains=CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    hmc.run(jax.random.key(1), *data)
    return mean_and_mcse(hmc, data)


def test_pseudo_langevin_agrees_with_exact_hmc(data, exact_hmc):
    pl = MCMC(
        PseudoLangevin(
            MODEL,
            batch_size=40,
            temperature=TEMPERATURE,
            reset_prob=0.0,
            max_noise_ratio=0.03,
        ),
        num_warmup=20_000,
        num_samples=1_000_000,
        thinning=250,
        num_chains=CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    pl.run(jax.random.key(0), *data)
    pl_stats = mean_and_mcse(pl, data)
    for name, (m1, e1) in pl_stats.items():
        m2, e2 = exact_hmc[name]
        assert abs(m1 - m2) < 4 * np.hypot(e1, e2), (name, pl_stats, exact_hmc)
