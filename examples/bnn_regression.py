"""Bayesian neural network regression with predictive uncertainty bands: PseudoLangevin on
minibatches at T = 1 and NUTS on the full data, with the same NumPyro model.

Data: synthetic, y = sin(3x) + Normal(0, 0.1) noise, with x drawn uniformly from two clusters,
[-2, -0.75] and [0.75, 2], so that there is a gap without data between them; 200 training
points and 500 held-out points from the same clusters.
Shows: a small Bayesian MLP (1 -> 16 -> 16 -> 1, tanh) with a learned noise scale, written
as an ordinary NumPyro model with a full-data plate, which `PseudoLangevin(model,
batch_size=20)` turns into minibatches and NUTS runs unchanged; the warmup sized from the
relaxation time 1/(4 r T) epochs of docs/parameters.md; `numpyro.infer.Predictive` on a grid
for the posterior mean and the 90% band of the posterior predictive, plotted for both
samplers (the epistemic uncertainty widens the band in the gap and outside the data); the
kinetic temperature (target 1) and the coverage of the band on the held-out points (target
0.9). With --quick, NUTS is skipped and pL runs 40 times fewer moves.

Run:  python examples/bnn_regression.py [--quick] [--out DIR]
"""

import argparse
import os
import time

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS, Predictive

from numpyro_pl import PseudoLangevin, mlp_forward
from numpyro_pl.diagnostics import kinetic_temperature

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WIDTHS = (1, 16, 16, 1)
NOISE_SD = 0.1  # of the synthetic data
CLUSTERS = ((-2.0, -0.75), (0.75, 2.0))
GAP = (CLUSTERS[0][1], CLUSTERS[1][0])
NUM_TRAIN, NUM_HELD_OUT = 200, 500
BATCH_SIZE = 20  # 10 minibatches per epoch
NOISE_RATIO = 0.01  # PseudoLangevin's default r
# docs/parameters.md: pL relaxes in about 1/(4 r T) epochs, 25 epochs = 250 moves here
RELAXATION_MOVES = round(NUM_TRAIN / BATCH_SIZE / (4 * NOISE_RATIO * 1.0))


def model(X, y=None):
    """Weights Normal(0, 1/sqrt(fan_in)) (so that every layer's pre-activation has a prior
    scale of about 1 whatever its width), biases Normal(0, 1), noise sd HalfNormal(1)."""
    params = {}
    for i, (n_in, n_out) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:], strict=True)):
        w_prior = dist.Normal(0.0, 1.0 / np.sqrt(n_in)).expand([n_in, n_out]).to_event(2)
        params[f"W{i}"] = numpyro.sample(f"W{i}", w_prior)
        params[f"b{i}"] = numpyro.sample(f"b{i}", dist.Normal(0.0, 1.0).expand([n_out]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("data", X.shape[0]) as idx:  # an ordinary full-data plate
        f = numpyro.deterministic("f", mlp_forward(params, X[idx], activation="tanh")[:, 0])
        numpyro.sample("y", dist.Normal(f, sigma), obs=None if y is None else y[idx])


def make_data(num, rng):
    """``num`` points, half in each cluster, as (N, 1) inputs and (N,) targets."""
    x = np.concatenate(
        [
            rng.uniform(lo, hi, size)
            for (lo, hi), size in zip(CLUSTERS, (num // 2, num - num // 2), strict=True)
        ]
    )
    y = np.sin(3 * x) + NOISE_SD * rng.normal(size=num)
    return jnp.asarray(x[:, None], jnp.float32), jnp.asarray(y, jnp.float32)


def predict(rng_key, samples, X):
    """The posterior predictive on ``X``: draws of the network output f and of y."""
    # the model's plate takes all of X (it indexes by a full-data plate), so Predictive needs
    # no `numpyro_pl.handlers.full_data`; a model with `subsample_size` would
    samples = {name: value for name, value in samples.items() if name != "f"}
    draws = Predictive(model, samples, return_sites=["f", "y"])(rng_key, X)
    return np.asarray(draws["f"]), np.asarray(draws["y"])


def band_summary(name, y_held_draws, y_held, grid, grid_y_draws):
    """Print and return the coverage of the 90% predictive band on the held-out points, and
    the band's mean width over the data and in the gap."""
    lo, hi = np.quantile(y_held_draws, [0.05, 0.95], axis=0)
    coverage = float(np.mean((y_held >= lo) & (y_held <= hi)))
    lo, hi = np.quantile(grid_y_draws, [0.05, 0.95], axis=0)
    in_data = np.any([(grid >= a) & (grid <= b) for a, b in CLUSTERS], axis=0)
    in_gap = (grid > GAP[0]) & (grid < GAP[1])
    width_data, width_gap = np.mean((hi - lo)[in_data]), np.mean((hi - lo)[in_gap])
    print(
        f"{name}: coverage of the 90% band on {len(y_held)} held-out points {coverage:.3f} "
        f"(target 0.9); mean band width {width_data:.2f} over the data, {width_gap:.2f} in "
        "the gap"
    )
    return coverage, width_gap / width_data


def plot_panel(ax, title, X, y, grid, f_draws, y_draws):
    ax.axvspan(*GAP, color="0.93", lw=0, label="gap in the data")
    lo, hi = np.quantile(y_draws, [0.05, 0.95], axis=0)
    ax.fill_between(grid, lo, hi, color="tab:blue", alpha=0.25, lw=0, label="90% band of y")
    lo, hi = np.quantile(f_draws, [0.05, 0.95], axis=0)
    ax.fill_between(grid, lo, hi, color="tab:blue", alpha=0.35, lw=0, label="90% band of f")
    ax.plot(grid, f_draws.mean(0), color="tab:blue", label="posterior mean")
    ax.plot(grid, np.sin(3 * grid), "k--", lw=1, label="sin(3x)")
    ax.plot(X[:, 0], y, ".", color="tab:orange", ms=3, label="training data")
    ax.set(title=title, xlabel="x", ylabel="y", ylim=(-3.0, 3.0))
    ax.legend(fontsize=7, loc="lower left")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, for smoke tests")
    parser.add_argument("--out", default=os.path.join("examples", "output"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    rng = np.random.default_rng(0)
    X, y = make_data(NUM_TRAIN, rng)
    X_held, y_held = make_data(NUM_HELD_OUT, rng)
    grid = np.linspace(-2.5, 2.5, 501, dtype=np.float32)
    key_pl, key_nuts, key_pred = jax.random.split(jax.random.key(0), 3)

    # warmup: 20 relaxation times (10 with --quick); docs/parameters.md asks for several. The
    # samples: 1600 relaxation times (40 with --quick), because that time is the one of the
    # fast directions: in trials the noise sd, which follows how closely the network fits the
    # data, still drifted over the first 10^5 moves (and a network of 32 + 32 units had not
    # settled in 4 * 10^5). Moves are cheap here: 4 * 10^5 take about a minute on 2 cores.
    warmup = (10 if args.quick else 20) * RELAXATION_MOVES
    moves = (40 if args.quick else 1600) * RELAXATION_MOVES
    pl_mcmc = MCMC(
        PseudoLangevin(model, batch_size=BATCH_SIZE, temperature=1.0, noise_ratio=NOISE_RATIO),
        num_warmup=warmup,
        num_samples=moves,
        thinning=moves // 1000,  # 1000 draws per chain
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    start = time.perf_counter()
    pl_mcmc.run(key_pl, X, y, extra_fields=("kinetic_temperature",))
    jax.block_until_ready(pl_mcmc.get_samples())
    pl_seconds = time.perf_counter() - start
    temperature = kinetic_temperature(pl_mcmc)
    print(
        f"PseudoLangevin (B = {BATCH_SIZE}, r = {NOISE_RATIO}): 2 chains of {warmup:,} warmup + "
        f"{moves:,} moves (relaxation time ~{RELAXATION_MOVES} moves), {pl_seconds:.1f} s"
    )
    print(f"kinetic temperature: {temperature.mean:.3f} +- {temperature.mcse:.3f} (target 1)")

    runs = {"PseudoLangevin": pl_mcmc}
    if not args.quick:
        # max_tree_depth=8, at most 255 gradients per draw: on a 32 + 32 unit version of this
        # network NUTS filled its default depth of 10 (1023) at every iteration, 5 minutes on
        # 2 cores. Capped, NUTS is still a valid MCMC; it only moves less far per draw.
        nuts = MCMC(
            NUTS(model, max_tree_depth=8),
            num_warmup=500,
            num_samples=500,
            num_chains=2,
            chain_method="vectorized",
            progress_bar=False,
        )
        start = time.perf_counter()
        nuts.run(key_nuts, X, y)
        jax.block_until_ready(nuts.get_samples())
        runs["NUTS"] = nuts
        print(
            f"NUTS (full data, max_tree_depth 8): 2 chains of 500 + 500, "
            f"{time.perf_counter() - start:.1f} s"
        )
    else:
        print("NUTS: skipped with --quick")

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4.2), squeeze=False)
    results = {}
    for ax, (name, mcmc) in zip(axes[0], runs.items(), strict=True):
        samples = mcmc.get_samples()
        sigma = np.asarray(mcmc.get_samples(group_by_chain=True)["sigma"])
        print(
            f"{name}: noise sd {sigma.mean():.3f} +- {sigma.std():.3f} (true {NOISE_SD}; "
            f"chain means {', '.join(f'{m:.3f}' for m in sigma.mean(1))})"
        )
        _, y_held_draws = predict(key_pred, samples, X_held)
        f_grid, y_grid = predict(key_pred, samples, jnp.asarray(grid[:, None]))
        results[name] = band_summary(name, y_held_draws, np.asarray(y_held), grid, y_grid)
        title = {
            "PseudoLangevin": f"pL, minibatches of {BATCH_SIZE}, T = 1",
            "NUTS": "NUTS, full data",
        }[name]
        plot_panel(ax, title, np.asarray(X), np.asarray(y), grid, f_grid, y_grid)
    if args.quick:
        axes[0, 0].set_title(axes[0, 0].get_title() + " (--quick, no NUTS)")
    fig.tight_layout()
    path = os.path.join(args.out, "bnn_regression.png")
    fig.savefig(path, dpi=90)
    print(f"plot written to {path}")

    verdict = ", ".join(
        f"{name} covers {coverage:.1%} of the held-out points with its 90% band, which is "
        f"{ratio:.1f}x as wide in the gap as over the data"
        for name, (coverage, ratio) in results.items()
    )
    print(
        f"\nverdict: {verdict}; pL's kinetic temperature is "
        f"{abs(temperature.mean - 1):.1%} from its target 1"
    )


if __name__ == "__main__":
    main()
