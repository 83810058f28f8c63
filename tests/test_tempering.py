"""tempered(model, T) scales the log joint by 1/T."""

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer.util import log_density

from numpyro_pl import tempered


def model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 2.0))
    with numpyro.plate("data", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


@pytest.mark.parametrize("temperature", [0.1, 1.0, 3.0])
def test_log_joint_scaled_by_inverse_temperature(temperature):
    y = jnp.array([0.3, -1.0, 2.0])
    params = {"mu": 0.7}
    plain, _ = log_density(model, (y,), {}, params)
    hot, _ = log_density(tempered(model, temperature), (y,), {}, params)
    assert float(hot) == pytest.approx(float(plain) / temperature, rel=1e-6)


def test_keeps_the_model_name():
    assert tempered(model, 2.0).__name__ == "model"


@pytest.mark.parametrize(
    "bad, error",
    [(0.0, ValueError), (-1.0, ValueError), (float("inf"), ValueError), ("1", TypeError)],
)
def test_bad_temperature(bad, error):
    with pytest.raises(error, match="temperature"):
        tempered(model, bad)
