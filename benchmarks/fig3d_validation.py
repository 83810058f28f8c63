"""Reproduce Fig. 3d of the paper: equilibrium statistics of pL against exact hybrid Monte Carlo.

The KSpin problem with the paper's MLP, 100 -> [50, 100] -> 10 with ReLU on every layer
(11 160 parameters) and lambda = 9.0e-4 (lambda * N ~ 10), is sampled at several paper
temperatures T_paper by

- PseudoLangevin on minibatches of B = 128, at T = P * T_paper with prior scale
  1 / sqrt(lambda * P) (``numpyro_pl.paper_to_numpyro``), with its default parameters, and
- NumPyro's HMC on the full data: unit mass, a fixed number of leapfrog steps, step size
  adapted during warmup only, Metropolis-corrected, on ``tempered(model, T)``.

Both samplers start from the same point, a minimum of the paper's loss found by full-batch
Adam, and are heated through the temperatures from the lowest up, each chain starting every
temperature from its own last state at the previous one. (Relaxing *down* to a low
temperature takes pL about 1/(4 r T_paper B) moves, 2e5 at T_paper = 1e-6 whatever P is, and
from a random start far longer: the weight norm relaxes slowest. Heating from a minimum is
fast, and puts the two samplers on an equal footing.)

For every sample it measures, on the full training set and in the paper's units, the loss
U = mean CE + lambda/2 |w|^2, the cost (mean CE), |w|^2 and the training error. Error bars
are sd / sqrt(ESS), with NumPyro's ``effective_sample_size`` over all chains, so chains that
disagree widen them; the split R-hat is reported beside them. It writes a markdown table and
a plot overlaid with the published points (``../shared/paper_data/Fig.3/Fig.3d``).

Run from the repository root after ``pip install -e ".[examples]"``:
    python benchmarks/fig3d_validation.py [--num-train 2000] [--temperatures 1e-5 3e-6 1e-6]
Results go to benchmarks/results/fig3d.{md,png} (``--out`` renames them).
"""

import argparse
import csv
import json
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer import HMC, MCMC, init_to_uniform
from numpyro.infer.util import initialize_model
from numpyro.optim import Adam

from numpyro_pl import PseudoLangevin, bayesian_mlp, mlp_forward, paper_to_numpyro, tempered
from numpyro_pl.datasets import kspin_split
from numpyro_pl.diagnostics import error_rate, full_batch_observables

WIDTHS = [100, 50, 100, 10]
WEIGHT_DECAY = 9.0e-4
PAPER_DIR = Path(__file__).resolve().parents[2] / "shared" / "paper_data" / "Fig.3" / "Fig.3d"
RESULTS = Path(__file__).resolve().parent / "results"
OBSERVABLES = ("loss", "cost", "mod2", "error")


def paper_loss(params, X, y):
    """The paper's loss, mean cross-entropy + lambda/2 |w|^2, which Adam minimises."""
    logits = mlp_forward(params, X, activate_output=True)
    cost = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(y.shape[0]), y])
    return cost + 0.5 * WEIGHT_DECAY * sum(jnp.sum(v**2) for v in params.values())


def minimise(model, X, y, steps, key):
    """A minimum of the paper's loss by full-batch Adam, from small random weights."""
    params = initialize_model(
        key, model, model_args=(X, y), init_strategy=init_to_uniform(radius=0.3)
    ).param_info.z
    optimizer = Adam(3e-3)

    def step(_, state):
        grads = jax.grad(paper_loss)(optimizer.get_params(state), X, y)
        return optimizer.update(grads, state)

    state = jax.lax.fori_loop(0, steps, step, optimizer.init(params))
    return optimizer.get_params(state)


def observables(samples, model, X, y):
    """Paper-unit observables per sample, shaped (chains, draws): the loss, the cost (mean
    CE), |w|^2 and the training error, from the package's full-batch diagnostics."""
    full_batch = full_batch_observables(samples, model, (X, y))
    cost = full_batch.neg_log_likelihood / y.shape[0]
    values = (
        cost + 0.5 * WEIGHT_DECAY * full_batch.sq_norm,
        cost,
        full_batch.sq_norm,
        error_rate(partial(mlp_forward, activate_output=True), samples, X, y, batch_ndims=2),
    )
    return {k: np.asarray(v, np.float64) for k, v in zip(OBSERVABLES, values, strict=True)}


def summarise(values):
    """Mean, sd / sqrt(ESS), ESS and split R-hat of each observable, across chains."""
    out = {}
    for name, v in values.items():
        if v.std() > 0:
            ess, rhat = float(effective_sample_size(v)), float(split_gelman_rubin(v))
        else:
            ess, rhat = float(v.size), 1.0
        out[name] = (float(v.mean()), float(v.std() / np.sqrt(max(ess, 1.0))), ess, rhat)
    return out


def run_temperature(paper_temperature, X, y, args, key, inits):
    prior_scale, temperature = paper_to_numpyro(X.shape[0], WEIGHT_DECAY, paper_temperature)
    model = bayesian_mlp(WIDTHS, activate_output=True, prior_scale=prior_scale)
    key_pl, key_hmc = jax.random.split(key)

    pl = MCMC(
        PseudoLangevin(model, batch_size=128, temperature=temperature, **args.pl_options),
        num_warmup=args.pl_warmup,
        num_samples=args.pl_moves,
        thinning=args.pl_thinning,
        num_chains=args.chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    start = time.perf_counter()
    pl.run(key_pl, X, y, init_params=inits["pL"], extra_fields=("kinetic_temperature",))
    jax.block_until_ready(pl.get_samples())  # run() returns before the device has finished
    pl_seconds = time.perf_counter() - start
    pl_stats = summarise(observables(pl.get_samples(group_by_chain=True), model, X, y))

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
    pl_last = jax.tree.map(lambda v: v[:, -1], pl.get_samples(group_by_chain=True))
    hmc_init = pl_last if args.hmc_from_pl else inits["hMC"]
    start = time.perf_counter()
    hmc.run(key_hmc, X, y, init_params=hmc_init, extra_fields=("accept_prob",))
    jax.block_until_ready(hmc.get_samples())
    hmc_seconds = time.perf_counter() - start
    hmc_stats = summarise(observables(hmc.get_samples(group_by_chain=True), model, X, y))
    last = {
        "pL": pl_last,
        "hMC": jax.tree.map(lambda v: v[:, -1], hmc.get_samples(group_by_chain=True)),
    }
    return {
        "pL": pl_stats,
        "hMC": hmc_stats,
        "kinetic T / T": float(np.mean(pl.get_extra_fields()["kinetic_temperature"]) / temperature),
        "accept prob": float(np.mean(hmc.get_extra_fields()["accept_prob"])),
        "seconds": (pl_seconds, hmc_seconds),
    }, last


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
        f"- start: full-batch Adam minimum ({args.adam_steps} steps), heated from the lowest "
        "temperature up; "
        + (
            "hMC starts every temperature from pL's last state there"
            if args.hmc_from_pl
            else "each sampler continues from its own last state"
        ),
        f"- pL: {args.chains} chains x ({args.pl_warmup} warmup + {args.pl_moves} moves), "
        f"thinning {args.pl_thinning}, kernel defaults except {args.pl_options}; "
        f"hMC: {args.chains} chains x "
        f"({args.hmc_warmup} warmup + {args.hmc_samples} samples) of {args.hmc_steps} leapfrog "
        "steps, unit mass",
        "- error bars: sd / sqrt(ESS), ESS over all chains; R-hat: split R-hat; observables in "
        "the paper's units on the full training set",
        "",
        "| T_paper | observable | pL | ESS, R-hat | hMC | ESS, R-hat "
        "| (pL - hMC) / combined error | rel. diff |",
        "|---:|---|---:|---|---:|---|---:|---:|",
    ]
    for t, res in sorted(results.items()):
        for name in OBSERVABLES:
            (a, ea, na, ra), (b, eb, nb, rb) = res["pL"][name], res["hMC"][name]
            z = (a - b) / np.hypot(ea, eb) if np.hypot(ea, eb) > 0 else 0.0
            lines.append(
                f"| {t:g} | {name} | {a:.5g} ± {ea:.2g} | {na:.0f}, {ra:.2f} "
                f"| {b:.5g} ± {eb:.2g} | {nb:.0f}, {rb:.2f} | {z:+.2f} "
                f"| {(a - b) / b if b else float('nan'):+.2%} |"
            )
        lines.append(
            f"| {t:g} | diagnostics | kinetic T/T = {res['kinetic T / T']:.4f} "
            f"| time {res['seconds'][0]:.0f} s | accept = {res['accept prob']:.2f} "
            f"| time {res['seconds'][1]:.0f} s | | |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def compare(relative, pl, pl_err, hmc, hmc_err):
    """pL against hMC with its error bar: pL / hMC - 1 if ``relative``, else pL - hMC."""
    if relative:
        return pl / hmc - 1.0, np.hypot(pl_err, hmc_err) / hmc
    return pl - hmc, np.hypot(pl_err, hmc_err)


def plot(results, out):
    """Top row: the observables against T; bottom row: the relative difference of pL from hMC,
    which can be set beside the paper's although P differs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paper = {s: read_paper(s) for s in ("hMC", "pL")}
    fig, axes = plt.subplots(2, 4, figsize=(16, 6.4), sharex=True)
    temps = sorted(results)
    paper_temps = sorted(paper["hMC"])
    for i, (top, bottom, name) in enumerate(zip(*axes, OBSERVABLES, strict=True)):
        for sampler, marker in (("hMC", "o"), ("pL", "s")):
            top.errorbar(
                paper_temps,
                [paper[sampler][t][2 * i] for t in paper_temps],
                yerr=[paper[sampler][t][2 * i + 1] for t in paper_temps],
                marker=marker,
                ls=":",
                alpha=0.5,
                label=f"paper {sampler} (P = 100 000)",
            )
            top.errorbar(
                temps,
                [results[t][sampler][name][0] for t in temps],
                yerr=[results[t][sampler][name][1] for t in temps],
                marker=marker,
                ls="-",
                label=f"numpyro-pl {sampler}",
            )
        # the training error can be ~0 for hMC: compare it as a difference, the rest as ratios
        relative = name != "error"

        paper_rel, paper_err = zip(
            *(
                compare(
                    relative,
                    *paper["pL"][t][2 * i : 2 * i + 2],
                    *paper["hMC"][t][2 * i : 2 * i + 2],
                )
                for t in paper_temps
            ),
            strict=True,
        )
        rel, err = zip(
            *(
                compare(relative, *results[t]["pL"][name][:2], *results[t]["hMC"][name][:2])
                for t in temps
            ),
            strict=True,
        )
        bottom.errorbar(paper_temps, paper_rel, yerr=paper_err, marker="o", ls=":", label="paper")
        bottom.errorbar(temps, rel, yerr=err, marker="s", ls="-", label="numpyro-pl")
        bottom.axhline(0.0, color="k", lw=0.8)
        bottom.set_xscale("log")
        bottom.set_xlabel("T (paper units)")
        bottom.set_ylabel(f"{name}: pL / hMC - 1" if relative else f"{name}: pL - hMC")
        bottom.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        top.set_title(name)
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{out}.png", dpi=90)
    with open(RESULTS / f"{out}.json", "w") as f:
        json.dump({str(t): {k: res[k] for k in ("pL", "hMC")} for t, res in results.items()}, f)


def replot(out):
    """Redraw the plot from the results that a run saved."""
    with open(RESULTS / f"{out}.json") as f:
        plot({float(t): res for t, res in json.load(f).items()}, out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1e-6, 3e-6, 1e-5, 3e-5])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--adam-steps", type=int, default=5000)
    parser.add_argument("--pl-warmup", type=int, default=10_000)
    parser.add_argument("--pl-moves", type=int, default=100_000)
    parser.add_argument("--pl-thinning", type=int, default=100)
    parser.add_argument("--hmc-warmup", type=int, default=200)
    parser.add_argument("--hmc-samples", type=int, default=800)
    parser.add_argument("--hmc-steps", type=int, default=20)
    parser.add_argument(
        "--warmup-reestimate-interval",
        type=int,
        help="the PseudoLangevin argument (default: the kernel's)",
    )
    parser.add_argument(
        "--hmc-from-pl",
        action="store_true",
        help="start hMC at every temperature from pL's last state there (a check of whether "
        "hMC drifts away from it) instead of from its own last state",
    )
    parser.add_argument(
        "--out", default="fig3d", help="name of the table and plot in benchmarks/results/"
    )
    for option in ("--noise-ratio", "--max-noise-ratio", "--reset-prob"):
        parser.add_argument(
            option, type=float, help="the PseudoLangevin argument (default: the kernel's)"
        )
    parser.add_argument(
        "--replot", action="store_true", help="only redraw the plot from the saved results"
    )
    args, _ = parser.parse_known_args()
    if args.replot:
        return replot(args.out)

    args.pl_options = {
        name: getattr(args, name)
        for name in ("warmup_reestimate_interval", "noise_ratio", "max_noise_ratio", "reset_prob")
        if getattr(args, name) is not None
    }

    args.argv = sys.argv[1:]
    split = kspin_split(args.num_train, 1, seed=0)
    X, y = jnp.asarray(split.train.X), jnp.asarray(split.train.y)
    key_start, key_run = jax.random.split(jax.random.key(0))
    minimum = minimise(bayesian_mlp(WIDTHS, activate_output=True), X, y, args.adam_steps, key_start)
    start = jax.tree.map(lambda v: jnp.broadcast_to(v, (args.chains,) + v.shape), minimum)
    print(f"Adam minimum: paper loss {float(paper_loss(minimum, X, y)):.5g}", flush=True)
    results, inits = {}, {"pL": start, "hMC": start}
    temperatures = sorted(args.temperatures)
    for t, key in zip(temperatures, jax.random.split(key_run, len(temperatures)), strict=True):
        results[t], inits = run_temperature(t, X, y, args, key, inits)
        print(f"T_paper = {t:g} done in {sum(results[t]['seconds']):.0f} s", flush=True)
        write_table(results, args)
        plot(results, args.out)


if __name__ == "__main__":
    main()
