"""Sequential and vectorized chains with the same key give the same chains.

With ``chain_method="vectorized"`` the kernel is vmapped under a chain axis name, and the
re-estimate of sigma^2 runs as one branch when *any* chain is due; its results are applied
only to the chains that are due. A chain that is not due must therefore come out exactly as
it does alone (``"sequential"``, where each chain re-estimates only when it is due itself).
The schedule is chosen so that, after warmup, the chains fall out of step: the interval grows
for a chain whose sigma^2 estimate is stable and drops back for one whose estimate is not,
and the test checks that moves where only one chain re-estimates do occur.
"""

import jax
import numpy as np
import pytest
from numpyro.infer import MCMC
from short_runs import TRUE_WEIGHTS, logistic, logistic_data

from numpyro_pl import PseudoLangevin

N, B = 500, 50
D = len(TRUE_WEIGHTS)  # features of logistic_data
CHAINS, WARMUP, SAMPLES = 2, 100, 400

#: short, growing intervals with cheap, noisy sigma^2 estimates (20 to 60 draws): a chain
#: whose new estimate agrees with its previous one to 10% waits 20 moves longer, the other
#: drops back to 20, so the chains' schedules soon differ.
KERNEL = dict(
    batch_size=B,
    reestimate_interval=20,
    reestimate_interval_step=20,
    max_reestimate_interval=100,
    min_grad_var_draws=20,
    max_grad_var_draws=60,
)

FLOAT_FIELDS = ("potential_energy", "kinetic_temperature", "mean_noise_ratio")
EXACT_FIELDS = ("num_grad_evals", "diverging")

#: float32 tolerance. On CPU the two runs are bitwise identical (jax 0.10.2): XLA computes
#: the same per-chain arithmetic whether or not it is batched. Another backend may reorder a
#: batched reduction (the minibatch sum of B = 50 terms, the dot products), which changes a
#: gradient by a few ulp, about 1e-7 relative; the momentum carries such a perturbation for
#: about 1/m1^2 = 100 moves before the friction damps it, so the positions can drift apart by
#: some 100 ulp, about 1e-5 relative. A discrete decision flipped by rounding (an estimate
#: converging a round earlier, an interval growing or not) would instead change the number of
#: gradients, which is compared exactly.
RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(scope="module")
def data():
    return logistic_data(N)


def run(data, chain_method):
    mcmc = MCMC(
        PseudoLangevin(logistic, **KERNEL),
        num_warmup=WARMUP,
        num_samples=SAMPLES,
        num_chains=CHAINS,
        chain_method=chain_method,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(3), *data, extra_fields=FLOAT_FIELDS + EXACT_FIELDS)
    return mcmc


@pytest.fixture(scope="module")
def runs(data):
    return run(data, "sequential"), run(data, "vectorized")


def test_same_samples(runs):
    sequential, vectorized = runs
    expected = sequential.get_samples(group_by_chain=True)["w"]
    got = vectorized.get_samples(group_by_chain=True)["w"]
    assert got.shape == expected.shape == (CHAINS, SAMPLES, D)
    assert not np.allclose(got[0], got[1])  # two different chains, not one chain twice
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_same_extra_fields(runs):
    sequential, vectorized = runs
    expected = sequential.get_extra_fields(group_by_chain=True)
    got = vectorized.get_extra_fields(group_by_chain=True)
    for name in EXACT_FIELDS:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    for name in FLOAT_FIELDS:
        np.testing.assert_allclose(got[name], expected[name], rtol=RTOL, atol=ATOL, err_msg=name)


def test_same_last_state(runs):
    """The adaptation ends in the same place: schedule and counters exactly, masses and
    sigma^2 to float tolerance, and the same key for a continuation."""
    sequential, vectorized = runs
    expected, got = sequential.last_state, vectorized.last_state
    for name in ("i", "num_grad_evals"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    for a, b in zip(jax.tree.leaves(got.schedule), jax.tree.leaves(expected.schedule), strict=True):
        np.testing.assert_array_equal(a, b)
    for name in ("mass", "grad_var", "noise_ratio", "momentum"):
        for a, b in zip(
            jax.tree.leaves(getattr(got, name)),
            jax.tree.leaves(getattr(expected, name)),
            strict=True,
        ):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=name)
    np.testing.assert_array_equal(
        jax.random.key_data(got.rng_key), jax.random.key_data(expected.rng_key)
    )


def test_a_chain_that_is_not_due_is_left_alone(runs):
    """At a move where only the other chain re-estimates, the vectorized run computes a
    re-estimate for both; the chain that is not due spends one gradient and keeps its noise
    ratios, as in the sequential run."""
    _, vectorized = runs
    fields = vectorized.get_extra_fields(group_by_chain=True)
    grads = np.asarray(fields["num_grad_evals"])
    ratio = np.asarray(fields["mean_noise_ratio"])
    reestimated = np.diff(grads, axis=1) > 1  # the move from draw j to j + 1
    only_one = np.flatnonzero(reestimated[0] != reestimated[1])
    assert only_one.size >= 3, "the chains' schedules never differed: nothing is tested"
    for move in only_one:
        idle = int(np.flatnonzero(~reestimated[:, move])[0])
        assert grads[idle, move + 1] - grads[idle, move] == 1
        assert ratio[idle, move + 1] == ratio[idle, move]
