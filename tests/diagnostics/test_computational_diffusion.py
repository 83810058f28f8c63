"""The diffusion d^2 of a Gaussian random walk against its exact value, and of a run."""

import numpy as np
import pytest

from numpyro_pl.diagnostics import diffusion


def test_diffusion_of_a_random_walk():
    """d^2(lag) = lag * num_components * step_var, within 4 standard errors over chains."""
    steps = 0.5 * np.random.default_rng(0).standard_normal((40, 400, 3))
    walk = np.cumsum(steps, axis=1)
    result = diffusion({"a": walk[..., :2], "b": walk[..., 2]}, [0, 1, 5, 20, 50])
    expected = result.lags * 3 * 0.25
    assert result.d2[0] == 0 and np.all(result.d2_se[1:] > 0)
    assert np.all(np.abs(result.d2 - expected)[1:] < 4 * result.d2_se[1:]), (result, expected)
    assert result.grad_evals is None and result.seconds is None
    default = diffusion({"a": walk})
    assert default.lags[0] == 1 and default.lags[-1] == 200 and np.all(np.diff(default.d2) > 0)
    assert np.all(np.isnan(diffusion({"a": walk[:1]}, [1, 2]).d2_se))


def test_diffusion_of_a_run(mcmc):
    result = diffusion(mcmc, [0, 1, 10, 100], seconds_per_sample=0.01)
    assert result.d2[0] == 0 and np.all(result.d2[1:] > 0)
    samples = mcmc.get_samples(group_by_chain=True)
    latent = diffusion({"w": samples["w"]}, [0, 1, 10, 100])
    np.testing.assert_allclose(result.d2, latent.d2)  # the deterministic site is left out
    counts = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_grad_evals"])
    per_draw = np.mean(counts[:, -1] - counts[:, 0]) / (counts.shape[1] - 1)
    assert per_draw >= 1
    np.testing.assert_allclose(result.grad_evals, result.lags * per_draw)
    np.testing.assert_allclose(result.seconds, [0.0, 0.01, 0.1, 1.0])


def test_diffusion_bad_input():
    walk = {"a": np.zeros((2, 10, 3))}
    for lags in ([-1], [10], [0.5], [[1]]):
        with pytest.raises(
            ValueError, match=r"`lags` must be a 1-D array of integers in \[0, 10\)"
        ):
            diffusion(walk, lags)
    with pytest.raises(ValueError, match=r"`grad_evals` must have shape \(chains, draws\)"):
        diffusion(walk, grad_evals=np.zeros(10))
    with pytest.raises(TypeError, match="`seconds_per_sample`"):
        diffusion(walk, seconds_per_sample="1s")
    with pytest.raises(ValueError, match="`seconds_per_sample`"):
        diffusion(walk, seconds_per_sample=-1.0)
    with pytest.raises(ValueError, match=r"leading dimensions \(chains, draws\)"):
        diffusion({"a": np.zeros(10)})
    with pytest.raises(ValueError, match=r"leading dimensions \(chains, draws\)"):
        diffusion({"a": np.zeros((2, 10)), "b": np.zeros((2, 9))})
