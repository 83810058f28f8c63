"""Settings, a model and its data shared by the tests that make short PseudoLangevin runs."""

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

# Cheap sigma^2 estimates (20 to 60 draws), re-estimated every 50 moves after warmup.
FAST = dict(reestimate_interval=50, min_grad_var_draws=20, max_grad_var_draws=60)

# Every extra field of the kernel's state that a run can collect besides `diverging`.
EXTRA = (
    "potential_energy",
    "kinetic_energy",
    "kinetic_temperature",
    "mean_noise_ratio",
    "num_grad_evals",
    "num_nonfinite",
)


def logistic(X, y=None):
    """Logistic regression: weights ``w`` with a N(0, 1) prior, the data in the plate
    ``data``."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Bernoulli(logits=X[idx] @ w), obs=None if y is None else y[idx])


#: the weights that :func:`logistic_data` draws its labels with; one per feature.
TRUE_WEIGHTS = (1.0, -1.0, 0.5)


def logistic_data(num_data):
    """``(X, y)`` for :func:`logistic`: ``len(TRUE_WEIGHTS)`` standard normal features,
    labels drawn with :data:`TRUE_WEIGHTS`; the same for every test."""
    key_x, key_y = jax.random.split(jax.random.key(0))
    X = jax.random.normal(key_x, (num_data, len(TRUE_WEIGHTS)))
    y = jax.random.bernoulli(key_y, jax.nn.sigmoid(X @ jnp.array(TRUE_WEIGHTS)))
    return X, y.astype(jnp.float32)
