"""Reproduce Fig. 3d of the paper: equilibrium statistics of pL against exact hybrid Monte Carlo.

The KSpin problem with the paper's MLP, 100 -> [50, 100] -> 10 with ReLU on every layer
(11 160 parameters) and lambda = 9.0e-4 (lambda * N ~ 10), is sampled at several paper
temperatures T_paper by

- PseudoLangevin on minibatches of B = 128, at T = P * T_paper with prior scale
  1 / sqrt(lambda * P) (``numpyro_pl.paper_to_numpyro``), annealed: the temperatures run
  from the highest down, each chain starting from its last state at the previous one
  (from a random start, pL at low T relaxes over about 1/(4 r T) epochs), and
- NumPyro's HMC on the full data: unit mass, a fixed number of leapfrog steps, step size
  adapted during warmup only, Metropolis-corrected, on ``tempered(model, T)``; it starts
  from the last pL warmup state, so that its (expensive) burn-in is short.

For every sample it measures, on the full training set and in the paper's units, the loss
U = mean CE + lambda/2 |w|^2, the cost (mean CE), |w|^2 and the training error. Error bars
are sd / sqrt(ESS) (NumPyro's ``effective_sample_size`` over chains). It writes a markdown
table and a plot overlaid with the published points (``../shared/paper_data/Fig.3/Fig.3d``).

Run from the repository root after ``pip install -e ".[examples]"``:
    python benchmarks/fig3d_validation.py [--num-train 2000] [--temperatures 1e-5 3e-6 1e-6]
Results go to benchmarks/results/fig3d.{md,png}.
"""

import argparse
import csv
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import HMC, MCMC

from numpyro_pl import PseudoLangevin, bayesian_mlp, mlp_forward, paper_to_numpyro, tempered
from numpyro_pl.datasets import kspin_split

WIDTHS = [100, 50, 100, 10]
WEIGHT_DECAY = 9.0e-4
PAPER_DIR = Path(__file__).resolve().parents[2] / "shared" / "paper_data" / "Fig.3" / "Fig.3d"
RESULTS = Path(__file__).resolve().parent / "results"
OBSERVABLES = ("loss", "cost", "mod2", "error")


def observables(samples, X, y):
    """Paper-unit observables per sample: loss, cost (mean CE), |w|^2, training error."""

    def one(params):
        logits = mlp_forward(params, X, activate_output=True)
        cost = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(y.shape[0]), y])
        mod2 = sum(jnp.sum(v**2) for v in params.values())
        error = jnp.mean(jnp.argmax(logits, -1) != y)
        return cost + 0.5 * WEIGHT_DECAY * mod2, cost, mod2, error

    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in samples.items()}
    chains = next(iter(samples.values())).shape[0]
    values = jax.lax.map(one, flat, batch_size=16)
    return {
        k: np.asarray(v, np.float64).reshape(chains, -1)
        for k, v in zip(OBSERVABLES, values, strict=True)
    }


def summarise(values):
    """Mean and sd / sqrt(ESS) of each observable, ESS across chains."""
    out = {}
    for name, v in values.items():
        ess = float(effective_sample_size(v)) if v.std() > 0 else float(v.size)
        out[name] = (float(v.mean()), float(v.std() / np.sqrt(max(ess, 1.0))), ess)
    return out


def run_temperature(paper_temperature, X, y, args, key, init):
    prior_scale, temperature = paper_to_numpyro(X.shape[0], WEIGHT_DECAY, paper_temperature)
    model = bayesian_mlp(WIDTHS, activate_output=True, prior_scale=prior_scale)
    key_pl, key_hmc = jax.random.split(key)

    pl = MCMC(
        PseudoLangevin(model, batch_size=128, temperature=temperature),
        num_warmup=args.pl_warmup if init is not None else args.initial_warmup,
        num_samples=args.pl_moves,
        thinning=args.pl_thinning,
        num_chains=args.chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    start = time.perf_counter()
    pl.run(key_pl, X, y, init_params=init, extra_fields=("kinetic_temperature",))
    pl_seconds = time.perf_counter() - start
    pl_stats = summarise(observables(pl.get_samples(group_by_chain=True), X, y))
    pl_stats["kinetic T / T"] = (
        float(np.mean(pl.get_extra_fields()["kinetic_temperature"]) / temperature),
        0.0,
        0.0,
    )

    hmc = MCMC(
        HMC(
            tempered(model, temperature),
            step_size=1e-3,
            num_steps=args.hmc_steps,
            trajectory_length=None,
            adapt_mass_matrix=False,
        ),
        num_warmup=args.hmc_warmup,
        num_samples=args.hmc_samples,
        num_chains=args.chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    last = jax.tree.map(lambda v: v[:, -1], pl.get_samples(group_by_chain=True))
    start = time.perf_counter()
    hmc.run(key_hmc, X, y, init_params=last, extra_fields=("accept_prob",))
    hmc_seconds = time.perf_counter() - start
    hmc_stats = summarise(observables(hmc.get_samples(group_by_chain=True), X, y))
    hmc_stats["accept prob"] = (float(np.mean(hmc.get_extra_fields()["accept_prob"])), 0.0, 0.0)
    return {"pL": pl_stats, "hMC": hmc_stats, "seconds": (pl_seconds, hmc_seconds)}, last


def read_paper(sampler):
    with open(PAPER_DIR / f"{sampler}_thermodynamics.csv") as f:
        rows = list(csv.reader(f))[1:]
    return {float(r[0]): [float(x) for x in r[1:]] for r in rows}


def write_table(results, args):
    lines = [
        "# Fig. 3d reproduction: pL against exact hMC on KSpin",
        "",
        f"- command: `python benchmarks/fig3d_validation.py {' '.join(args.argv)}`",
        f"- network {WIDTHS} (ReLU on every layer, 11 160 parameters), lambda = {WEIGHT_DECAY}, "
        f"P = {args.num_train} training examples (paper: 100 000), B = 128",
        f"- pL: {args.chains} chains x ({args.pl_warmup} warmup + {args.pl_moves} moves), "
        f"{args.initial_warmup} warmup moves at the first (highest) temperature, "
        f"thinning {args.pl_thinning}; hMC: {args.chains} chains x ({args.hmc_warmup} warmup + "
        f"{args.hmc_samples} samples) of {args.hmc_steps} leapfrog steps, unit mass",
        "- error bars: sd / sqrt(ESS); observables in the paper's units on the full training set",
        "",
        "| T_paper | observable | pL | hMC | (pL - hMC) / combined error | rel. diff |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for t, res in results.items():
        for name in OBSERVABLES:
            (a, ea, _), (b, eb, _) = res["pL"][name], res["hMC"][name]
            z = (a - b) / np.hypot(ea, eb) if np.hypot(ea, eb) > 0 else 0.0
            lines.append(
                f"| {t:g} | {name} | {a:.5g} ± {ea:.2g} | {b:.5g} ± {eb:.2g} | {z:+.2f} "
                f"| {(a - b) / b if b else float('nan'):+.2%} |"
            )
        lines.append(
            f"| {t:g} | diagnostics | kinetic T/T = {res['pL']['kinetic T / T'][0]:.4f} "
            f"| accept = {res['hMC']['accept prob'][0]:.2f} | time pL {res['seconds'][0]:.0f} s "
            f"| hMC {res['seconds'][1]:.0f} s |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fig3d.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def plot(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paper = {s: read_paper(s) for s in ("hMC", "pL")}
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    temps = sorted(results)
    for i, (ax, name) in enumerate(zip(axes, OBSERVABLES, strict=True)):
        for sampler, marker in (("hMC", "o"), ("pL", "s")):
            pts = sorted(paper[sampler])
            ax.errorbar(
                pts,
                [paper[sampler][t][2 * i] for t in pts],
                yerr=[paper[sampler][t][2 * i + 1] for t in pts],
                marker=marker,
                ls=":",
                alpha=0.5,
                label=f"paper {sampler} (P = 100 000)",
            )
            ax.errorbar(
                temps,
                [results[t][sampler][name][0] for t in temps],
                yerr=[results[t][sampler][name][1] for t in temps],
                marker=marker,
                ls="-",
                label=f"numpyro-pl {sampler}",
            )
        ax.set_xscale("log")
        ax.set_xlabel("T (paper units)")
        ax.set_title(name)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "fig3d.png", dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[3e-5, 1e-5, 3e-6, 1e-6])
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--initial-warmup", type=int, default=100_000)
    parser.add_argument("--pl-warmup", type=int, default=20_000)
    parser.add_argument("--pl-moves", type=int, default=200_000)
    parser.add_argument("--pl-thinning", type=int, default=100)
    parser.add_argument("--hmc-warmup", type=int, default=200)
    parser.add_argument("--hmc-samples", type=int, default=1000)
    parser.add_argument("--hmc-steps", type=int, default=20)
    args, _ = parser.parse_known_args()
    import sys

    args.argv = sys.argv[1:]
    split = kspin_split(args.num_train, 1, seed=0)
    X, y = jnp.asarray(split.train.X), jnp.asarray(split.train.y)
    results, init = {}, None
    for i, t in enumerate(sorted(args.temperatures, reverse=True)):
        results[t], init = run_temperature(t, X, y, args, jax.random.key(i), init)
        print(f"T_paper = {t:g} done in {sum(results[t]['seconds']):.0f} s", flush=True)
    write_table(results, args)
    plot(results)


if __name__ == "__main__":
    main()
