"""A Bayesian neural network classifier sampled with PseudoLangevin: single samples against
their Bayesian model average (BMA), by test accuracy, negative log-likelihood and calibration.

Data: scikit-learn's bundled 8x8 digits through `numpyro_pl.datasets.load_digits_dataset`
(1 297 training and 500 test images, 10 classes).
Shows: `numpyro_pl.bayesian_mlp` (64 -> 100 -> 10, ReLU; 7 510 weights and biases) sampled on
minibatches of 128, two chains from He's initialisation; the prior scale and temperature of
the paper's digits setting through `paper_to_numpyro` (weight decay 1e-3, T_paper = 1e-5,
the temperature of the best BMA test NLL in docs/generalisation.md): a cold posterior,
T = 0.013; the warmup sized from the relaxation time of docs/parameters.md; the test
accuracy of each sample and of the BMA, with their NLL and expected calibration error
(`numpyro_pl.diagnostics`); the kinetic temperature against its target; an ArviZ summary
(ESS, R-hat) of |w|^2 and of the output biases; a plot of the kinetic temperature per draw
(`plot_temperature`), a reliability diagram and a histogram of the BMA's confidence.

Run:  python examples/digits_classifier.py [--quick] [--out DIR]
"""

import argparse
import math
import os
import time

import arviz as az
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from numpyro.infer import MCMC

from numpyro_pl import PseudoLangevin, bayesian_mlp, mlp_forward, paper_to_numpyro, to_arviz
from numpyro_pl.datasets import load_digits_dataset
from numpyro_pl.diagnostics import (
    expected_calibration_error,
    kinetic_temperature,
    model_average,
    negative_log_likelihood,
    plot_temperature,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WIDTHS = (64, 100, 10)  # the digits network of examples/sampling_as_training.py
BATCH_SIZE = 128
NUM_CHAINS = 2
# The paper's loss, mean cross-entropy + (lambda / 2) |w|^2, at the digits setting of
# docs/generalisation.md: lambda = 1e-3 (10 / num_params to one significant figure, as in the
# paper) and T_paper = 1e-5. Hotter, at T_paper = 3e-4 and 1e-3 (T ~ 0.3 and 1), chains on
# this network ran away (docs/generalisation.md, "Hot runs can run away"); at T = 1 with a
# prior sd of 1, from a prior draw, 2 of 4 chains went non-finite within 10 400 moves here.
WEIGHT_DECAY, PAPER_TEMPERATURE = 1e-3, 1e-5
# PseudoLangevin's default r. At r = 0.05 (a relaxation 5 times shorter) the kinetic
# temperature of this network ran 4-5% above T, with bursts to 1.5 T; at 0.01 it is within 1%.
NOISE_RATIO = 0.01


def he_init(rng, num_chains):
    """He's normal init, Normal(0, sqrt(2 / fan_in)) weights and zero biases, one per chain:
    a trained-like scale, at which no ReLU unit starts dead (as in sampling_as_training)."""
    params = {}
    for i, (n_in, n_out) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:], strict=True)):
        weights = rng.normal(0.0, math.sqrt(2.0 / n_in), (num_chains, n_in, n_out))
        params[f"W{i}"] = jnp.asarray(weights, jnp.float32)
        params[f"b{i}"] = jnp.zeros((num_chains, n_out))
    return params


def reliability(ax, probs, y, label, num_bins=10):
    """Accuracy against confidence of the most probable class, in equal-width bins."""
    confidence, correct = probs.max(1), probs.argmax(1) == y
    bins = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    used = [b for b in range(num_bins) if np.any(bins == b)]
    ax.plot(
        [confidence[bins == b].mean() for b in used],
        [correct[bins == b].mean() for b in used],
        "o-",
        label=label,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, for smoke tests")
    parser.add_argument("--out", default=os.path.join("examples", "output"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    train, test = load_digits_dataset(num_test=500, seed=0)
    num_train = len(train.y)
    prior_scale, temperature = paper_to_numpyro(num_train, WEIGHT_DECAY, PAPER_TEMPERATURE)
    # docs/parameters.md: pL relaxes in about 1/(4 r T) epochs, here 1/(4 r B T_paper) moves
    relaxation = round(1.0 / (4 * NOISE_RATIO * BATCH_SIZE * PAPER_TEMPERATURE))
    # two relaxation times of warmup (docs/parameters.md asks for several; from He's init the
    # kinetic temperature is within 1% of T after them) and five of samples, about a minute
    # of sampling on 2 cores; with --quick a tenth of each, enough to check that all runs
    scale = 10 if args.quick else 1
    warmup, moves = 2 * relaxation // scale, 5 * relaxation // scale
    num_draws = 100  # per chain, for the BMA and ArviZ

    model = bayesian_mlp(WIDTHS, prior_scale=prior_scale)
    mcmc = MCMC(
        PseudoLangevin(
            model, batch_size=BATCH_SIZE, temperature=temperature, noise_ratio=NOISE_RATIO
        ),
        num_warmup=warmup,
        num_samples=moves,
        thinning=moves // num_draws,
        num_chains=NUM_CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.run(
        jax.random.key(0),
        train.X,
        train.y,
        init_params=he_init(np.random.default_rng(0), NUM_CHAINS),
        extra_fields=("kinetic_temperature", "diverging"),
    )
    samples = mcmc.get_samples()
    jax.block_until_ready(samples)
    seconds = time.perf_counter() - start
    print(
        f"digits: {num_train} training and {len(test.y)} test images; network {WIDTHS}, "
        f"prior sd {prior_scale:.3f}, T = {temperature:.4g} (lambda {WEIGHT_DECAY:g}, "
        f"T_paper {PAPER_TEMPERATURE:g})"
    )
    print(
        f"PseudoLangevin (B = {BATCH_SIZE}, r = {NOISE_RATIO}): {NUM_CHAINS} chains of "
        f"{warmup:,} warmup + {moves:,} moves (relaxation time ~{relaxation:,} moves), "
        f"{num_draws} draws kept per chain, {seconds:.1f} s"
    )
    if np.any(mcmc.get_extra_fields()["diverging"]):
        print("WARNING: a chain went non-finite; the numbers below are not valid")

    estimate = kinetic_temperature(mcmc)
    print(
        f"kinetic temperature / T: {estimate.mean / temperature:.3f} "
        f"+- {estimate.mcse / temperature:.3f} (target 1)"
    )

    # every draw's class probabilities on the test set, and their average (the BMA)
    logits = jax.vmap(lambda params: mlp_forward(params, test.X))(samples)
    single_probs = np.asarray(jax.nn.softmax(logits, axis=-1))
    bma_probs = np.asarray(model_average(mlp_forward, samples, test.X))
    single_accuracy = np.mean(single_probs.argmax(-1) == test.y, axis=1)
    single_nll = [float(negative_log_likelihood(p, test.y)) for p in single_probs]
    single_ece = [float(expected_calibration_error(p, test.y)) for p in single_probs]
    print(f"\n{'test set':<34}{'accuracy':>9}{'NLL':>9}{'ECE':>9}")
    print(
        f"{'single samples (mean of ' + str(len(single_probs)) + ')':<34}"
        f"{single_accuracy.mean():>9.2%}{np.mean(single_nll):>9.4f}{np.mean(single_ece):>9.4f}"
    )
    bma_accuracy = np.mean(bma_probs.argmax(-1) == test.y)
    bma_nll = float(negative_log_likelihood(bma_probs, test.y))
    bma_ece = float(expected_calibration_error(bma_probs, test.y))
    print(f"{'Bayesian model average':<34}{bma_accuracy:>9.2%}{bma_nll:>9.4f}{bma_ece:>9.4f}")

    idata = to_arviz(mcmc)
    posterior = idata["posterior"]
    squared_norm = sum(
        np.sum(np.asarray(value) ** 2, axis=tuple(range(2, np.ndim(value))))
        for value in mcmc.get_samples(group_by_chain=True).values()
    )
    posterior["w_squared_norm"] = (("chain", "draw"), squared_norm)
    print("\nArviZ summary of |w|^2 and of the output biases b1:")
    summary = az.summary(idata, var_names=["w_squared_norm", "b1"])
    columns = ["mean", "sd", "ess_bulk", "ess_tail", "r_hat"]
    print(summary[[c for c in columns if c in summary.columns]])

    fig, (ax_t, ax_r, ax_c) = plt.subplots(1, 3, figsize=(16, 4))
    plot_temperature(idata, ax=ax_t)
    ax_t.set_title("kinetic temperature per draw after warmup")
    ax_r.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    reliability(ax_r, bma_probs, test.y, "Bayesian model average")
    reliability(ax_r, single_probs[-1], test.y, "last single sample")
    ax_r.set(
        xlabel="confidence (probability of the predicted class)",
        ylabel="test accuracy",
        title="reliability diagram, 10 confidence bins",
    )
    ax_r.legend(fontsize=8)
    confidence, correct = bma_probs.max(1), bma_probs.argmax(1) == test.y
    bins = np.linspace(0.0, 1.0, 21)
    ax_c.hist(confidence[correct], bins=bins, alpha=0.7, label=f"right ({correct.sum()})")
    ax_c.hist(confidence[~correct], bins=bins, alpha=0.7, label=f"wrong ({(~correct).sum()})")
    ax_c.set(
        yscale="log",
        xlabel="confidence of the BMA",
        ylabel="test images",
        title="BMA: confidence of right and wrong predictions",
    )
    ax_c.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(args.out, "digits_classifier.png")
    fig.savefig(path, dpi=90)
    print(f"plot written to {path}")

    r_hat = summary["r_hat"].max() if "r_hat" in summary.columns else float("nan")
    gain = 100 * (bma_accuracy - single_accuracy.mean())
    print(
        f"\nverdict: the BMA scores {gain:+.2f} pp of accuracy "
        f"and {bma_nll - np.mean(single_nll):+.4f} NLL against the mean single sample; the "
        f"kinetic temperature is {abs(estimate.mean / temperature - 1):.1%} from its target; "
        f"largest R-hat {r_hat:.2f}"
        + (" (the chains have not mixed in every direction in this budget)" if r_hat > 1.1 else "")
    )


if __name__ == "__main__":
    main()
