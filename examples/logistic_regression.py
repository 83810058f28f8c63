"""Bayesian logistic regression on real data: PseudoLangevin on minibatches and NUTS on the
full data, with the same NumPyro model, compared with ArviZ.

Data: scikit-learn's bundled breast-cancer set (569 patients, 30 standardised features).
Shows: the model needs no change between the two samplers; `az.from_numpyro` works on both,
and `numpyro_pl.to_arviz` also carries the kernel's sample statistics (kinetic temperature,
minibatch potential energy, gradient evaluations); ArviZ's summary (ESS, R-hat) and trace plot;
the kinetic-temperature plot, the pL analogue of NUTS's energy plot.

Run:  python examples/logistic_regression.py [--quick] [--out DIR]
"""

import argparse
import os
import time

import arviz as az
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS
from sklearn.datasets import load_breast_cancer

from numpyro_pl import PseudoLangevin, to_arviz
from numpyro_pl.diagnostics import plot_temperature

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def model(X, y=None):
    w = numpyro.sample("w", dist.Normal(0.0, 1.0).expand([X.shape[1]]).to_event(1))
    b = numpyro.sample("b", dist.Normal(0.0, 5.0))
    with numpyro.plate("data", X.shape[0]) as idx:  # an ordinary full-data plate
        logits = X[idx] @ w + b
        numpyro.sample("y", dist.Bernoulli(logits=logits), obs=None if y is None else y[idx])


def load_data():
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    return jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, for smoke tests")
    parser.add_argument("--out", default=os.path.join("examples", "output"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    scale = 10 if args.quick else 1
    X, y = load_data()

    pl_kernel = PseudoLangevin(model, batch_size=32, temperature=1.0, noise_ratio=0.05)
    pl_mcmc = MCMC(
        pl_kernel,
        num_warmup=20_000 // scale,
        num_samples=100_000 // scale,
        thinning=50,
        num_chains=2,
        chain_method="vectorized",
        # with a bar NumPyro calls the compiled move from Python once per move: the full run
        # took 239 s with it and 15 s without (benchmarks/move_overhead.py, MCMC table)
        progress_bar=False,
    )
    start = time.perf_counter()
    pl_mcmc.run(
        jax.random.key(0),
        X,
        y,
        extra_fields=("kinetic_temperature", "potential_energy", "num_grad_evals"),
    )
    jax.block_until_ready(pl_mcmc.get_samples())  # run() returns before the work is done
    pl_seconds = time.perf_counter() - start

    nuts = MCMC(
        NUTS(model),
        num_warmup=1000 // scale,
        num_samples=1000 // scale,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    start = time.perf_counter()
    nuts.run(jax.random.key(1), X, y)
    jax.block_until_ready(nuts.get_samples())
    nuts_seconds = time.perf_counter() - start

    pl_idata, nuts_idata = to_arviz(pl_mcmc), az.from_numpyro(nuts)
    print("\nPseudoLangevin (B=32):")
    print(az.summary(pl_idata, var_names=["b", "w"]).head(8))
    print("\nNUTS (full data):")
    print(az.summary(nuts_idata, var_names=["b", "w"]).head(8))

    pl_w = np.asarray(pl_mcmc.get_samples()["w"])
    nuts_w = np.asarray(nuts.get_samples()["w"])
    kinetic = np.asarray(pl_mcmc.get_extra_fields()["kinetic_temperature"])
    grads = np.asarray(pl_mcmc.get_extra_fields(group_by_chain=True)["num_grad_evals"])[:, -1]
    gap = np.abs(pl_w.mean(0) - nuts_w.mean(0)) / nuts_w.std(0)
    print(f"\nmean kinetic temperature of pL: {kinetic.mean():.3f} (target 1)")
    print(f"largest |mean_pL - mean_NUTS| / sd_NUTS over the 30 weights: {gap.max():.2f}")
    print(f"sd_pL / sd_NUTS, median over weights: {np.median(pl_w.std(0) / nuts_w.std(0)):.2f}")
    print(
        f"pL: {pl_seconds:.1f} s, {grads.sum() * 32:,} data-point gradients; "
        f"NUTS: {nuts_seconds:.1f} s"
    )

    az.plot_trace(pl_idata, var_names=["b", "w"], coords={"w_dim_0": [0, 1, 2]})
    path = os.path.join(args.out, "logistic_regression_trace.png")
    plt.tight_layout()
    plt.savefig(path, dpi=80)
    print(f"trace plot written to {path}")

    ax = plot_temperature(pl_idata)
    ax.set_title("PseudoLangevin: kinetic temperature per draw (target T = 1)")
    path = os.path.join(args.out, "logistic_regression_temperature.png")
    ax.figure.savefig(path, dpi=80)
    print(f"temperature plot written to {path}")


if __name__ == "__main__":
    main()
