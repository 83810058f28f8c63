"""The regression that the diagnostics tests sample, and a short PseudoLangevin run of it."""

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, init_to_value
from short_runs import EXTRA, FAST

from numpyro_pl import PseudoLangevin

N, D, B = 300, 3, 30


def regression(X, y):
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    numpyro.deterministic("w_sq", jnp.sum(w**2))  # not a latent site: ignored
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Normal(X[idx] @ w, 1.0), obs=y[idx])


def run(data, extra_fields=EXTRA, num_samples=300, num_chains=2):
    """A short run started at the mode, near equilibrium (a start far from the posterior
    takes thousands of moves to relax)."""
    start = init_to_value(values={"w": jnp.linalg.lstsq(*data)[0]})
    kernel = PseudoLangevin(
        regression, batch_size=B, noise_ratio=0.1, friction=0.3, init_strategy=start, **FAST
    )
    mcmc = MCMC(
        kernel,
        num_warmup=200,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(1), *data, extra_fields=extra_fields)
    return mcmc
