"""The Bayesian MLP: parameter counts, prior draws, the forward pass, the likelihoods, the
paper-scale conversion (checked on the potential energy), and runs under NUTS and
PseudoLangevin."""

import math
from itertools import pairwise

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm
from numpyro.infer import MCMC, NUTS, Predictive
from numpyro.infer.util import log_density, potential_energy

from numpyro_pl import PseudoLangevin
from numpyro_pl.datasets import kspin, kspin_references
from numpyro_pl.models import (
    bayesian_mlp,
    mlp_forward,
    num_params,
    numpyro_to_paper,
    paper_to_numpyro,
)

WIDTHS = [6, 5, 3]


@pytest.fixture(scope="module")
def data():
    return kspin(200, kspin_references(num_classes=3, dim=6, seed=0), seed=1)


def random_params(seed, widths, scale=1.0, dtype=np.float32):
    """Parameters drawn with NumPy (no JAX op to compile), as the sites of bayesian_mlp."""
    rng, params = np.random.default_rng(seed), {}
    for i, (n_in, n_out) in enumerate(pairwise(widths)):
        params[f"W{i}"] = (scale * rng.normal(size=(n_in, n_out))).astype(dtype)
        params[f"b{i}"] = (scale * rng.normal(size=n_out)).astype(dtype)
    return params


@pytest.mark.parametrize(
    "widths, expected",
    [
        ([100, 50, 100, 10], 11_160),
        ([100, 500, 100, 10], 101_610),
        ([100, 5000, 100, 10], 1_006_110),
        ([3, 1], 4),
    ],
)
def test_num_params(widths, expected):
    assert num_params(widths) == expected


def test_prior_draws(data):
    model = bayesian_mlp([6, 40, 30, 3], prior_scale=0.3)
    prior = jax.jit(Predictive(model, num_samples=50))(jax.random.key(0), data.X)
    assert {name: prior[name].shape for name in prior} == {
        "W0": (50, 6, 40),
        "b0": (50, 40),
        "W1": (50, 40, 30),
        "b1": (50, 30),
        "W2": (50, 30, 3),
        "b2": (50, 3),
        "y": (50, 200),
    }
    assert prior["y"].dtype == jnp.int32 and set(np.unique(prior["y"])) <= {0, 1, 2}
    assert float(jnp.std(prior["W1"])) == pytest.approx(0.3, rel=0.03)
    assert num_params([6, 40, 30, 3]) == sum(v[0].size for k, v in prior.items() if k != "y")


def test_mlp_forward():
    params = random_params(1, [4, 3, 2])
    X = np.random.default_rng(2).normal(size=(7, 4)).astype(np.float32)
    forward = jax.jit(mlp_forward, static_argnames=("activation", "activate_output"))
    hidden = X @ params["W0"] + params["b0"]
    out = np.maximum(hidden, 0) @ params["W1"] + params["b1"]
    tanh_out = np.tanh(np.tanh(hidden) @ params["W1"] + params["b1"])
    close = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(forward(params | {"y": np.zeros(7)}, X), out, **close)
    np.testing.assert_allclose(
        forward(params, X, activate_output=True), np.maximum(out, 0), **close
    )
    for activation in ("tanh", jnp.tanh):
        tanh = forward(params, X, activation=activation, activate_output=True)
        np.testing.assert_allclose(tanh, tanh_out, **close)


def test_potential_energy_matches_the_paper_scale(data):
    """U / T = U_paper / T_paper + const, with the constant the prior's normaliser."""
    weight_decay, paper_temperature = 1e-2, 1e-3
    num_examples = data.X.shape[0]
    prior_scale, temperature = paper_to_numpyro(num_examples, weight_decay, paper_temperature)
    model = bayesian_mlp(WIDTHS, activate_output=True, prior_scale=prior_scale)
    X, y = data.X.astype(np.float64), data.y

    def difference(params):
        u = potential_energy(model, (X, y), {}, params)
        log_probs = jax.nn.log_softmax(mlp_forward(params, X, activate_output=True))
        mean_ce = -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))
        sq_norm = sum(jnp.sum(v**2) for v in params.values())
        u_paper = mean_ce + weight_decay / 2 * sq_norm
        return u / temperature - u_paper / paper_temperature

    with jax.enable_x64(True):
        difference = jax.jit(difference)
        differences = [
            float(difference(random_params(seed, WIDTHS, 0.5 + seed, np.float64)))
            for seed in range(3)
        ]
    const = num_params(WIDTHS) * (math.log(prior_scale) + 0.5 * math.log(2 * math.pi))
    np.testing.assert_allclose(differences, const / temperature, rtol=1e-9)


def test_conversion_round_trip():
    assert paper_to_numpyro(100_000, 1e-5, 1e-6) == pytest.approx((1.0, 0.1))
    assert numpyro_to_paper(100_000, 1.0, 0.1) == pytest.approx((1e-5, 1e-6))
    back = numpyro_to_paper(11_160, *paper_to_numpyro(11_160, 9e-4, 3e-7))
    assert back == pytest.approx((9e-4, 3e-7), rel=1e-12)


def test_normal_likelihood():
    model = bayesian_mlp(
        [2, 3, 2], activation="tanh", prior_scale=2.0, likelihood="normal", noise_scale=0.5
    )
    params = random_params(3, [2, 3, 2])
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(2, 9, 2)).astype(np.float32)

    @jax.jit
    def log_joints(params):
        expected = jnp.sum(norm.logpdf(y, mlp_forward(params, X, activation="tanh"), 0.5))
        expected += sum(jnp.sum(norm.logpdf(v, 0.0, 2.0)) for v in params.values())
        return log_density(model, (X, y), {}, params)[0], expected

    log_joint, expected = log_joints(params)
    assert float(log_joint) == pytest.approx(float(expected), rel=1e-5)
    draws = {name: value[None] for name, value in params.items()}
    predictions = jax.jit(Predictive(model, posterior_samples=draws))(jax.random.key(6), X)
    assert predictions["y"].shape == (1, 9, 2)


def test_nuts_runs(data):
    kernel = NUTS(bayesian_mlp(WIDTHS), max_tree_depth=3)
    mcmc = MCMC(kernel, num_warmup=10, num_samples=10, progress_bar=False)
    mcmc.run(jax.random.key(0), data.X, data.y)
    samples = mcmc.get_samples()
    assert samples["W0"].shape == (10, 6, 5) and samples["b1"].shape == (10, 3)
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in samples.values())


def test_pseudo_langevin_runs(data):
    model = bayesian_mlp(WIDTHS, activate_output=True)
    kernel = PseudoLangevin(model, batch_size=16, min_grad_var_draws=10, max_grad_var_draws=20)
    mcmc = MCMC(kernel, num_warmup=20, num_samples=20, progress_bar=False)
    mcmc.run(jax.random.key(1), data.X, data.y)
    samples = mcmc.get_samples()
    assert samples["W1"].shape == (20, 5, 3)
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in samples.values())
    logits = jax.vmap(lambda p: mlp_forward(p, data.X, activate_output=True))(samples)
    assert logits.shape == (20, 200, 3)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(widths=[6]), ValueError, "widths"),
        (dict(widths=[6, 0, 3]), ValueError, "widths"),
        (dict(widths=[6, 2.0, 3]), ValueError, "widths"),
        (dict(widths=6), TypeError, "widths"),
        (dict(activation="sigmoid"), ValueError, "activation"),
        (dict(activation=3), TypeError, "activation"),
        (dict(prior_scale=0.0), ValueError, "prior_scale"),
        (dict(likelihood="bernoulli"), ValueError, "likelihood"),
        (dict(noise_scale=-1.0), ValueError, "noise_scale"),
    ],
)
def test_bad_builder_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        bayesian_mlp(**(dict(widths=WIDTHS) | kwargs))


def test_bad_data(data):
    model = bayesian_mlp(WIDTHS)
    with pytest.raises(ValueError, match="`X` must have shape"):
        Predictive(model, num_samples=1)(jax.random.key(0), data.X[:, :5])
    with pytest.raises(ValueError, match="`y` must have shape"):
        log_density(model, (data.X, data.y[:-1]), {}, random_params(0, WIDTHS))
    with pytest.raises(ValueError, match="params"):
        mlp_forward({"W0": jnp.ones((6, 3))}, data.X)


@pytest.mark.parametrize(
    "fn, args, error, name",
    [
        (paper_to_numpyro, (0, 1e-5, 1e-6), ValueError, "num_examples"),
        (paper_to_numpyro, (10.0, 1e-5, 1e-6), TypeError, "num_examples"),
        (paper_to_numpyro, (10, 0.0, 1e-6), ValueError, "weight_decay"),
        (paper_to_numpyro, (10, 1e-5, -1.0), ValueError, "paper_temperature"),
        (numpyro_to_paper, (10, 0.0, 1.0), ValueError, "prior_scale"),
        (numpyro_to_paper, (10, 1.0, float("inf")), ValueError, "temperature"),
    ],
)
def test_bad_conversion_arguments(fn, args, error, name):
    with pytest.raises(error, match=name):
        fn(*args)
