"""The PseudoLangevin kernel inside NumPyro's MCMC driver: chain methods, thinning,
progress bar, pickling, determinism, continuation, extra fields and the model forms."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC
from short_runs import EXTRA, FAST, TRUE_WEIGHTS, logistic, logistic_data

from numpyro_pl import PLState, PseudoLangevin

N, B = 500, 50
D = len(TRUE_WEIGHTS)  # features of logistic_data


def logistic_declared(X, y):
    """The same model, subsampling itself (form (a))."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0], subsample_size=B):
        batch_X = numpyro.subsample(X, event_dim=1)
        batch_y = numpyro.subsample(y, event_dim=0)
        numpyro.sample("y", dist.Bernoulli(logits=batch_X @ w), obs=batch_y)


def two_datasets(X, y, X2, y2):
    """Two independent likelihoods in two subsampled plates."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("first", X.shape[0]) as idx:
        numpyro.sample("y", dist.Bernoulli(logits=X[idx] @ w), obs=y[idx])
    with numpyro.plate("second", X2.shape[0], subsample_size=20) as idx:
        numpyro.sample("y2", dist.Bernoulli(logits=X2[idx] @ w), obs=y2[idx])


@pytest.fixture(scope="module")
def data():
    return logistic_data(N)


def run(data, num_chains=1, chain_method="sequential", seed=0, **mcmc_kwargs):
    kwargs = dict(num_warmup=60, num_samples=100, progress_bar=False)
    kwargs.update(mcmc_kwargs)
    mcmc = MCMC(
        PseudoLangevin(logistic, batch_size=B, **FAST),
        num_chains=num_chains,
        chain_method=chain_method,
        **kwargs,
    )
    mcmc.run(jax.random.key(seed), *data, extra_fields=EXTRA)
    return mcmc


@pytest.fixture(scope="module")
def sequential(data):
    return run(data, num_chains=2)


@pytest.mark.parametrize("chain_method", ["vectorized", "parallel"])
def test_chain_methods_agree_with_sequential(data, sequential, chain_method):
    mcmc = run(data, num_chains=2, chain_method=chain_method)
    expected = sequential.get_samples(group_by_chain=True)["w"]
    got = mcmc.get_samples(group_by_chain=True)["w"]
    assert got.shape == (2, 100, D)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_same_key_gives_identical_samples(data, sequential):
    again = run(data, num_chains=2)
    np.testing.assert_array_equal(again.get_samples()["w"], sequential.get_samples()["w"])
    other = run(data, num_chains=2, seed=1)
    assert not np.allclose(other.get_samples()["w"], sequential.get_samples()["w"])


def test_kinetic_properties_of_a_vectorized_state(data):
    """The kinetic energy and temperature are computed from the state when read: on the
    state of two vectorized chains, one value per chain, equal to the collected last draw."""
    mcmc = run(data, num_chains=2, chain_method="vectorized")
    state = mcmc.last_state
    assert state.kinetic_temperature.shape == (2,)
    last = mcmc.get_extra_fields(group_by_chain=True)["kinetic_temperature"][:, -1]
    np.testing.assert_allclose(state.kinetic_temperature, last, rtol=1e-5)
    first = jax.tree.map(lambda x: x[0], state)
    np.testing.assert_allclose(first.kinetic_energy, state.kinetic_energy[0], rtol=1e-6)


def test_thinning_keeps_every_kth_sample(data):
    full = run(data).get_samples()["w"]
    thinned = run(data, thinning=4).get_samples()["w"]
    np.testing.assert_array_equal(thinned, full[3::4])


def test_extra_fields(data, sequential):
    fields = sequential.get_extra_fields(group_by_chain=True)
    for name in EXTRA:
        assert fields[name].shape == (2, 100), name
        assert np.all(np.isfinite(fields[name])), name
    np.testing.assert_allclose(
        fields["kinetic_temperature"], 2 * fields["kinetic_energy"] / D, rtol=1e-5
    )
    grads = fields["num_grad_evals"]
    # one gradient per move, plus the estimates of sigma^2 (at init and on the schedule)
    assert np.all(np.diff(grads, axis=1) >= 1)
    assert np.all(grads[:, -1] >= 160 + 2 * FAST["min_grad_var_draws"])
    assert np.all((fields["mean_noise_ratio"] > 0) & (fields["mean_noise_ratio"] <= 0.01 + 1e-7))
    assert not np.any(sequential.get_extra_fields()["diverging"])


def test_state_is_a_documented_namedtuple(sequential):
    state = sequential.last_state
    assert isinstance(state, PLState)
    for field in (
        "i",
        "z",
        "momentum",
        "potential_energy",
        "mass",
        "grad_var",
        "noise_ratio",
        "num_grad_evals",
        "rng_key",
    ):
        assert field in PLState._fields
        assert f"**{field}**" in PLState.__doc__


def test_post_warmup_state_continuation(data):
    first = run(data)
    first.post_warmup_state = first.last_state
    first.run(first.post_warmup_state.rng_key, *data)
    assert int(first.last_state.i) == 60 + 200
    # continuing from the state is the same as one longer run
    longer = run(data, num_samples=200)
    np.testing.assert_allclose(
        first.get_samples()["w"][-1], longer.get_samples()["w"][-1], rtol=1e-5
    )


def test_pickle_kernel_and_mcmc(data, sequential):
    kernel = pickle.loads(pickle.dumps(sequential.sampler))
    assert kernel.temperature == 1.0 and kernel.model is logistic
    mcmc = pickle.loads(pickle.dumps(sequential))
    np.testing.assert_array_equal(mcmc.get_samples()["w"], sequential.get_samples()["w"])
    mcmc.post_warmup_state = mcmc.last_state
    mcmc.run(mcmc.post_warmup_state.rng_key, *data)  # rebuilds the dropped closures
    assert mcmc.get_samples()["w"].shape == (200, D)


def test_progress_bar_and_diagnostics_string(data, capsys):
    with_bar = run(data, progress_bar=True)
    without = run(data)
    np.testing.assert_allclose(with_bar.get_samples()["w"], without.get_samples()["w"], rtol=1e-5)
    text = with_bar.sampler.get_diagnostics_str(with_bar.last_state)
    assert "kin. temp." in text and "U_mb" in text


def test_model_declaring_subsample_size(data):
    kernel = PseudoLangevin(logistic_declared, **FAST)
    mcmc = MCMC(kernel, num_warmup=50, num_samples=50, progress_bar=False)
    mcmc.run(jax.random.key(0), *data)
    assert kernel.plates == {"data": (N, B)}
    assert mcmc.get_samples()["w"].shape == (50, D)


def test_several_subsampled_plates(data):
    X, y = data
    kernel = PseudoLangevin(two_datasets, batch_size=B, plate_name="first", **FAST)
    mcmc = MCMC(kernel, num_warmup=50, num_samples=50, progress_bar=False)
    mcmc.run(jax.random.key(0), X, y, X[:100], y[:100])
    assert kernel.plates == {"first": (N, B), "second": (100, 20)}
    assert np.all(np.isfinite(mcmc.get_samples()["w"]))


def test_potential_fn_interface():
    def potential_fn(z, rng_key):
        noise = jax.random.normal(rng_key, z["x"].shape)
        return 0.5 * jnp.sum(z["x"] ** 2) + jnp.sum(noise * z["x"])

    kernel = PseudoLangevin(potential_fn=potential_fn, **FAST)
    mcmc = MCMC(kernel, num_warmup=20, num_samples=30, progress_bar=False)
    mcmc.run(jax.random.key(0), init_params={"x": jnp.zeros(4)})
    assert mcmc.get_samples()["x"].shape == (30, 4)


def test_arviz_conversion(sequential):
    az = pytest.importorskip("arviz")
    idata = az.from_numpyro(sequential)
    assert idata.posterior["w"].shape[:2] == (2, 100)
    assert "w" in str(az.summary(idata).index[0])


def logistic_with_nan_gradient(X, y=None):
    """``logistic`` plus a factor whose value is 0 everywhere but whose gradient is NaN once
    ``w[0]`` passes 0.1 (the square root of a negative number, masked by ``where``): the
    posterior of ``w[0]`` lies near 1, so a chain started at 0 walks into it (at move 150
    or so)."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    b = numpyro.sample("b", dist.Normal(0, 1))
    numpyro.factor("nan_gradient", 0.0 * jnp.where(w[0] > 0.1, 0.0, jnp.sqrt(0.1 - w[0])))
    with numpyro.plate("data", X.shape[0]) as idx:
        logits = X[idx] @ w + b
        numpyro.sample("y", dist.Bernoulli(logits=logits), obs=None if y is None else y[idx])


NAN_RUN = dict(num_warmup=0, num_samples=400, progress_bar=False)
NAN_INIT = {"w": jnp.zeros(D), "b": jnp.zeros(())}


@pytest.mark.parametrize("progress_bar", [False, True])
def test_nonfinite_move_raises_naming_move_and_sites(data, progress_bar):
    """The NaN gradient in ``w`` makes the momentum and then the position of ``w``
    non-finite; the run stops at that move with an error naming them."""
    kernel = PseudoLangevin(logistic_with_nan_gradient, batch_size=B, **FAST)
    mcmc = MCMC(kernel, **{**NAN_RUN, "progress_bar": progress_bar})
    message = (
        r"non-finite potential energy at move \d+ \(chain\(s\) \[0\]\); "
        r"non-finite position at site\(s\) \['w'\]"
    )
    with pytest.raises(Exception, match=message) as error:
        mcmc.run(jax.random.key(0), *data, init_params=NAN_INIT)
        jax.block_until_ready(mcmc.last_state)
    assert "on_nonfinite='rollback'" in str(error.value)


def test_nonfinite_move_rolls_back_to_the_last_snapshot(data):
    """With ``on_nonfinite="rollback"`` the run goes on: each fault is warned about and
    recorded in ``diverging``, the chain restarts from ``last_finite`` (bitwise) and
    re-estimates sigma^2 there at the next move, and every sample is finite."""
    kernel = PseudoLangevin(
        logistic_with_nan_gradient, batch_size=B, on_nonfinite="rollback", **FAST
    )
    mcmc = MCMC(kernel, **NAN_RUN)
    with pytest.warns(RuntimeWarning, match=r"position at site\(s\) \['w'\].*snapshot"):
        mcmc.run(
            jax.random.key(0),
            *data,
            init_params=NAN_INIT,
            extra_fields=(
                "diverging",
                "num_nonfinite",
                "last_finite",
                "nonfinite",
                "num_grad_evals",
            ),
        )
        jax.block_until_ready(mcmc.last_state)
        jax.effects_barrier()
    samples, extra = mcmc.get_samples(), mcmc.get_extra_fields()
    faults = np.flatnonzero(extra["diverging"])
    assert faults.size > 0
    np.testing.assert_array_equal(extra["num_nonfinite"], np.cumsum(extra["diverging"]))
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(samples))
    for name in ("w", "b"):
        np.testing.assert_array_equal(samples[name][faults], extra["last_finite"].z[name][faults])
    assert np.all(extra["last_finite"].i[faults] % 100 == 0)
    assert np.all(extra["nonfinite"].z["w"][faults]) and not np.any(extra["nonfinite"].z["b"])
    assert not np.any(extra["nonfinite"].z["w"][~extra["diverging"]])
    # the move after each rollback re-estimates sigma^2 at the snapshot
    after = faults[faults + 1 < len(extra["diverging"])] + 1
    assert after.size > 0
    spent = np.diff(extra["num_grad_evals"])[after - 1]
    assert np.all(spent >= 1 + FAST["min_grad_var_draws"])


def test_on_nonfinite_is_checked():
    with pytest.raises(ValueError, match="`on_nonfinite`"):
        PseudoLangevin(logistic, batch_size=B, on_nonfinite="ignore")


def test_finite_runaway_is_warned_about():
    """An inverted well U = -w^2/2 (gradient noise of variance 0.1): the chain accelerates
    away, |w| growing by e every 16 moves or so, and is still finite at the check of move 100,
    where its kinetic temperature is about 3e5 T."""

    def inverted_well(z, key):
        return -0.5 * jnp.sum(z**2) + jnp.sqrt(0.1) * jnp.sum(jax.random.normal(key, z.shape) * z)

    kernel = PseudoLangevin(potential_fn=inverted_well, **FAST)
    mcmc = MCMC(kernel, num_warmup=0, num_samples=100, progress_bar=False)
    with pytest.warns(RuntimeWarning, match=r"kinetic temperature .* T at move 100 .*running away"):
        mcmc.run(jax.random.key(0), init_params=jnp.full(2, 0.1), extra_fields=("diverging",))
        jax.block_until_ready(mcmc.last_state)
        jax.effects_barrier()
    assert not np.any(mcmc.get_extra_fields()["diverging"])
