"""Sampling as training: PseudoLangevin (pL) at the paper's temperatures against Adam and SGD
with momentum on the same network, loss, minibatches of 128 and initial weights, by test error,
and by the test NLL and calibration of the Bayesian model average (BMA) of the pL samples.

Data: KSpin (the paper's Fig. 5, reduced by default to a 101 610-parameter network; the
paper's is one option away), scikit-learn's bundled digits, or projected FashionMNIST (the
paper's Fig. 6, from IDX files you supply; the paper's network by default).
Shows: the paper's setting (P, lambda, T_paper) becomes the prior scale of `bayesian_mlp` and
the temperature of `PseudoLangevin` through `paper_to_numpyro`; the test error of the thinned
pL samples along each run (warmup included, from the same initial weights as the
optimisers), and of the BMA of the post-warmup samples (the warmup is the burn-in), with its
NLL and expected calibration error; Adam and SGD on the paper's loss, mean cross-entropy +
(lambda/2)|w|^2, with early stopping on a validation set that pL never sees, and without
(the last epoch). The paper's Fig. 5 and 6 values are overlaid when ../shared/paper_data is
there. Every method starts from He's normal init by default: a draw from the prior
(`--init prior`) starts the KSpin network with dead ReLU outputs, from which neither pL nor
Adam nor SGD got below 80% test error in the --quick budget.

Run:  python examples/sampling_as_training.py --dataset digits        (about 4 min, 2 cores)
      python examples/sampling_as_training.py                         (KSpin, about 30 min)
      python examples/sampling_as_training.py --hidden 5000 100       (the paper's Fig. 5)
      python examples/sampling_as_training.py --dataset fashion --fashion-dir DIR
      with --quick: a smoke test of under a minute; --help lists every option and default.
Writes: examples/output/sampling_as_training_<dataset>.md, .json and .png (`--out`).
"""

import argparse
import csv
import json
import math
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from jax import lax
from numpyro.infer import MCMC

from numpyro_pl import PseudoLangevin, bayesian_mlp, mlp_forward, num_params, paper_to_numpyro
from numpyro_pl.datasets import (
    Dataset,
    kspin,
    kspin_split,
    load_digits_dataset,
    load_projected_fashion_mnist,
)
from numpyro_pl.diagnostics import (
    error_rate,
    expected_calibration_error,
    model_average,
    negative_log_likelihood,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogLocator, PercentFormatter  # noqa: E402

BATCH_SIZE = 128
NUM_CLASSES = 10  # in each of the three datasets
PAPER_DATA = Path(__file__).resolve().parents[2] / "shared" / "paper_data"
DATASETS = ("kspin", "digits", "fashion")
# The paper's setting of each of its datasets (method.md, "Networks of the paper").
PAPER = {
    "kspin": {"hidden": (5000, 100), "num_train": 100_000, "weight_decay": 1e-5},
    "fashion": {"hidden": (5000, 100), "num_train": 50_000, "weight_decay": 1e-5},
}
# Defaults per dataset, then with --quick; `num_eval` is the size of the validation and of the
# test set (digits: the 500 test images of `load_digits_dataset`, the rest of its training
# part is the validation set). The weight decay defaults to 10/N (see `default_weight_decay`).
DEFAULTS = {
    "kspin": {
        "hidden": (500, 100),
        "num_train": 100_000,
        "num_eval": 10_000,
        "temperatures": (1e-7, 1e-6, 1e-5, 1e-4),
        "moves": 200_000,
        "warmup": 40_000,
        "epochs": 100,
    },
    "digits": {
        "hidden": (100,),
        "num_train": 1000,
        "temperatures": (1e-6, 3e-6, 1e-5, 3e-5, 1e-4),
        "moves": 100_000,
        "warmup": 20_000,
        "epochs": 1000,
    },
    "fashion": {
        "hidden": (5000, 100),
        "num_train": 50_000,
        "num_eval": 10_000,
        "temperatures": (5e-8, 1e-7, 5e-7, 1e-6, 1e-5),
        "moves": 200_000,
        "warmup": 40_000,
        "epochs": 100,
    },
}
QUICK = {
    "kspin": {
        "hidden": (50, 100),
        "num_train": 2000,
        "num_eval": 2000,
        "temperatures": (1e-4,),
        "moves": 3000,
        "warmup": 1000,
        "epochs": 20,
    },
    "digits": {
        "hidden": (100,),
        "num_train": 1000,
        "temperatures": (1e-4,),
        "moves": 3000,
        "warmup": 1000,
        "epochs": 50,
    },
}
QUICK["fashion"] = {**QUICK["kspin"], "temperatures": (1e-5,)}
# Datasets whose network, as in the paper, has a ReLU on its output logits too.
ACTIVATE_OUTPUT = {"kspin": True, "digits": False, "fashion": True}


# --- data, network and initial weights --------------------------------------------------------


def default_weight_decay(widths):
    """10/N to one significant figure, the paper's lambda * N ~ 10 (1e-5 at N = 1 006 110,
    9e-4 at N = 11 160)."""
    return float(f"{10 / num_params(widths):.0e}")


def load_data(args):
    """The training, validation and test :class:`~numpyro_pl.datasets.Dataset`."""
    if args.dataset == "kspin":
        train, test = kspin_split(args.num_train, args.num_eval, seed=args.seed)
        # the validation set: the training references, a seed independent of the split's
        (val_seed,) = np.random.SeedSequence(args.seed).spawn(1)[0].generate_state(1)
        return train, kspin(args.num_eval, train.references, seed=int(val_seed)), test
    if args.dataset == "digits":
        train, test = load_digits_dataset(seed=args.seed)
        if args.num_train >= len(train.y):
            raise ValueError(
                f"--num-train must be below the {len(train.y)} training images of digits (the "
                f"rest is the validation set), got {args.num_train}."
            )
        perm = np.random.default_rng(args.seed).permutation(len(train.y))
        fit, val = perm[: args.num_train], perm[args.num_train :]
        return Dataset(train.X[fit], train.y[fit]), Dataset(train.X[val], train.y[val]), test
    data = load_projected_fashion_mnist(args.fashion_dir)
    if args.num_train > len(data.train.y):
        raise ValueError(
            f"--num-train must be at most the {len(data.train.y)} training images of "
            f"FashionMNIST, got {args.num_train}."
        )
    train = Dataset(data.train.X[: args.num_train], data.train.y[: args.num_train])
    return (
        train,
        Dataset(data.val.X[: args.num_eval], data.val.y[: args.num_eval]),
        Dataset(data.test.X[: args.num_eval], data.test.y[: args.num_eval]),
    )


def initial_params(rng_key, widths, init, prior_scale):
    """The starting weights of every method: a draw from the prior, Normal(0, prior_scale)
    for every weight and bias (``init="prior"``), or He's normal init, Normal(0,
    sqrt(2 / fan_in)) for the weights and zero biases (``init="he"``)."""
    params = {}
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        key_w, key_b, rng_key = jax.random.split(rng_key, 3)
        if init == "prior":
            params[f"W{i}"] = prior_scale * jax.random.normal(key_w, (n_in, n_out))
            params[f"b{i}"] = prior_scale * jax.random.normal(key_b, (n_out,))
        else:
            params[f"W{i}"] = math.sqrt(2.0 / n_in) * jax.random.normal(key_w, (n_in, n_out))
            params[f"b{i}"] = jnp.zeros(n_out)
    return params


# --- pseudo-Langevin --------------------------------------------------------------------------


def run_pl(rng_key, args, widths, init, paper_temperature, train, test):
    """One pL run at ``paper_temperature``: the errors of the thinned samples along the run and
    the BMA metrics of its post-warmup samples."""
    prior_scale, temperature = paper_to_numpyro(
        args.num_train, args.weight_decay, paper_temperature
    )
    activate_output = ACTIVATE_OUTPUT[args.dataset]
    model = bayesian_mlp(widths, activate_output=activate_output, prior_scale=prior_scale)
    # a hot chain can blow up (docs/parameters.md): go on from the last finite state, and
    # report the temperature as diverged, rather than stop the sweep
    kernel = PseudoLangevin(
        model,
        batch_size=BATCH_SIZE,
        temperature=temperature,
        noise_ratio=args.noise_ratio,
        on_nonfinite="rollback",
    )
    mcmc = MCMC(
        kernel,
        num_warmup=args.warmup,
        num_samples=args.moves,
        thinning=args.moves // args.num_kept,
        progress_bar=False,
    )
    fields = ("i", "kinetic_temperature", "num_grad_evals", "num_nonfinite")
    key_warmup, key_sample = jax.random.split(rng_key)
    start = time.perf_counter()
    mcmc.warmup(
        key_warmup,
        train.X,
        train.y,
        extra_fields=fields,
        collect_warmup=True,
        init_params=init,
    )
    warmup_samples, warmup_fields = mcmc.get_samples(), mcmc.get_extra_fields()
    mcmc.run(key_sample, train.X, train.y, extra_fields=fields)
    samples, extra = mcmc.get_samples(), mcmc.get_extra_fields()
    jax.block_until_ready(samples)
    seconds = time.perf_counter() - start

    logits_fn = partial(mlp_forward, activate_output=activate_output)
    path = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), warmup_samples, samples)
    moves = np.concatenate([warmup_fields["i"], extra["i"]])
    train_error = np.asarray(error_rate(logits_fn, path, train.X, train.y, chunk_size=1))
    test_error = np.asarray(error_rate(logits_fn, path, test.X, test.y, chunk_size=1))
    probs = model_average(logits_fn, samples, test.X, chunk_size=1)
    kept = len(extra["i"])
    diverged = np.concatenate([warmup_fields["num_nonfinite"], extra["num_nonfinite"]]) > 0
    return {
        "T_paper": paper_temperature,
        "T": temperature,
        "prior_scale": prior_scale,
        "relaxation_moves": 1.0 / (4 * args.noise_ratio * BATCH_SIZE * paper_temperature),
        "moves": moves.tolist(),
        "train_error": train_error.tolist(),
        "test_error": test_error.tolist(),
        "num_samples": kept,
        "sample_train_error": float(train_error[-kept:].mean()),
        "sample_test_error": float(test_error[-kept:].mean()),
        "bma_test_error": float(jnp.mean(jnp.argmax(probs, axis=1) != test.y)),
        "bma_test_nll": float(negative_log_likelihood(probs, test.y)),
        "bma_test_ece": float(expected_calibration_error(probs, test.y)),
        "kinetic_temperature_ratio": float(np.mean(extra["kinetic_temperature"]) / temperature),
        "gradients": int(extra["num_grad_evals"][-1]),
        # the first recorded move by which the chain had been non-finite, or None
        "diverged_at": int(moves[diverged][0]) if diverged.any() else None,
        "seconds": seconds,
    }


# --- optimisers -------------------------------------------------------------------------------


def run_optimizer(rng_key, optimizer, args, init, train, val, test):
    """Minibatch training on the paper's loss, mean cross-entropy + (lambda/2)|w|^2, evaluated
    after every epoch; early stopping picks the epoch of lowest validation error."""
    forward = partial(mlp_forward, activate_output=ACTIVATE_OUTPUT[args.dataset])
    steps_per_epoch = len(train.y) // BATCH_SIZE

    def loss(params, X, y):
        cross_entropy = optax.softmax_cross_entropy_with_integer_labels(forward(params, X), y)
        sq_norm = sum(jnp.sum(jnp.square(w)) for w in jax.tree.leaves(params))
        return jnp.mean(cross_entropy) + 0.5 * args.weight_decay * sq_norm

    @jax.jit
    def epoch(params, opt_state, rng_key, X, y):
        # a fresh permutation per epoch; the last len(y) % BATCH_SIZE examples sit it out
        perm = jax.random.permutation(rng_key, len(y))[: steps_per_epoch * BATCH_SIZE]

        def step(carry, idx):
            params, opt_state = carry
            updates, opt_state = optimizer.update(
                jax.grad(loss)(params, X[idx], y[idx]), opt_state, params
            )
            return (optax.apply_updates(params, updates), opt_state), None

        batches = perm.reshape(steps_per_epoch, BATCH_SIZE)
        return lax.scan(step, (params, opt_state), batches)[0]

    @jax.jit
    def evaluate(params, train, val, test):
        def error(data):
            return jnp.mean(jnp.argmax(forward(params, data.X), axis=1) != data.y)

        probs = jax.nn.softmax(forward(params, test.X))
        return {
            "train_error": error(train),
            "val_error": error(val),
            "test_error": error(test),
            "test_nll": negative_log_likelihood(probs, test.y),
            "test_ece": expected_calibration_error(probs, test.y),
        }

    params, opt_state = init, optimizer.init(init)
    history = []
    start = time.perf_counter()
    for key_epoch in jax.random.split(rng_key, args.epochs):
        params, opt_state = epoch(params, opt_state, key_epoch, train.X, train.y)
        history.append({name: float(x) for name, x in evaluate(params, train, val, test).items()})
    seconds = time.perf_counter() - start
    best = int(np.argmin([h["val_error"] for h in history]))
    return {
        "steps_per_epoch": steps_per_epoch,
        "history": history,
        "early_stopping": {"epoch": best + 1, **history[best]},
        "last_epoch": {"epoch": args.epochs, **history[-1]},
        "seconds": seconds,
    }


# --- reporting --------------------------------------------------------------------------------


def read_paper_data(dataset):
    """The paper's pL test error by T_paper (Fig. 5 only) and its Adam + early stopping mean
    test error, from ../shared/paper_data; empty where the files are not there."""
    figure = {"kspin": "Fig.5", "fashion": "Fig.6"}.get(dataset)
    out = {}
    if figure is None:
        return out
    adam = PAPER_DATA / figure / "Adam_best.csv"
    if adam.is_file():
        with adam.open() as f:
            out["adam_test_error"] = float(
                np.mean([float(r["test_error"]) for r in csv.DictReader(f)])
            )
    thermo = PAPER_DATA / figure / "thermodynamics.csv"
    if thermo.is_file():
        with thermo.open() as f:
            rows = list(csv.DictReader(f))
        out["pl_T_paper"] = [float(r["T"]) for r in rows]
        out["pl_test_error"] = [float(r["test_error, avg"]) for r in rows]
    return out


def pct(x):
    return f"{100 * x:.2f}%"


def table(pl_runs, optimizers, num_test):
    """The results as a markdown table, with a caption."""
    num_samples = pl_runs[0]["num_samples"]
    lines = [
        f"pL: 'sample' errors are means over the {num_samples} thinned post-warmup samples; "
        "test error, NLL and ECE are those of their BMA. Optimisers: the network at the early-"
        "stopping epoch (lowest validation error, the first if tied) or at the last epoch. "
        "Gradients: minibatch gradients of 128 examples, pL's variance estimates included. "
        f"One test example is {100 / num_test:.2g} pp of test error.",
        "",
        "| method | T_paper | sample test error | test error | test NLL | test ECE "
        "| train error | kinetic T / T | gradients | time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in pl_runs:
        status = "" if run["diverged_at"] is None else ", DIVERGED"
        lines.append(
            f"| pL{status} | {run['T_paper']:g} "
            f"| {pct(run['sample_test_error'])} | {pct(run['bma_test_error'])} "
            f"| {run['bma_test_nll']:.4f} | {run['bma_test_ece']:.4f} "
            f"| {pct(run['sample_train_error'])} | {run['kinetic_temperature_ratio']:.3f} "
            f"| {run['gradients']:,} | {run['seconds']:.0f} |"
        )
    for name, result in optimizers.items():
        for label, key in (("early stopping", "early_stopping"), ("last epoch", "last_epoch")):
            row = result[key]
            lines.append(
                f"| {name}, {label} (epoch {row['epoch']}) | | | {pct(row['test_error'])} "
                f"| {row['test_nll']:.4f} | {row['test_ece']:.4f} | {pct(row['train_error'])} "
                f"| | {row['epoch'] * result['steps_per_epoch']:,} | {result['seconds']:.0f} |"
            )
    return "\n".join(lines)


def verdicts(pl_runs, optimizers):
    reference = optimizers["Adam"]["early_stopping"]["test_error"]

    def versus(error):
        return f"{pct(error)} ({100 * (error - reference):+.2f} pp vs Adam with early stopping)"

    lines = []
    for run in pl_runs:
        if run["diverged_at"] is not None:
            lines.append(
                f"- pL at T_paper = {run['T_paper']:g}: diverged (non-finite) by move "
                f"{run['diverged_at']:,}; its numbers are not valid."
            )
            continue
        lines.append(
            f"- pL at T_paper = {run['T_paper']:g}: BMA {versus(run['bma_test_error'])}; "
            f"mean sample {versus(run['sample_test_error'])}."
        )
    for name, result in optimizers.items():
        for label, key in (("with", "early_stopping"), ("without", "last_epoch")):
            error = result[key]["test_error"]
            is_reference = name == "Adam" and key == "early_stopping"
            verdict = f"{pct(error)} (the reference)" if is_reference else versus(error)
            lines.append(f"- {name} {label} early stopping: {verdict}.")
    finite = [run for run in pl_runs if run["diverged_at"] is None]
    if finite:
        best = min(finite, key=lambda run: run["bma_test_error"])
        lines.append(
            f"- Best pL: the BMA at T_paper = {best['T_paper']:g}, "
            f"{versus(best['bma_test_error'])}."
        )
    return "\n".join(lines)


def plot(path, dataset, pl_runs, optimizers, paper, warmup):
    """Left: test error by T_paper; right: test error along each run, by minibatch gradient."""
    fig, (ax_t, ax_moves) = plt.subplots(1, 2, figsize=(12, 4.5))
    temperatures = [run["T_paper"] for run in pl_runs]
    ax_t.plot(temperatures, [r["sample_test_error"] for r in pl_runs], "o-", label="pL, samples")
    ax_t.plot(temperatures, [r["bma_test_error"] for r in pl_runs], "s-", label="pL, BMA")
    styles = {"Adam": "black", "SGD": "tab:gray"}
    for name, result in optimizers.items():
        for key, line, label in (
            ("early_stopping", "-", "early stop."),
            ("last_epoch", "--", "last"),
        ):
            ax_t.axhline(
                result[key]["test_error"], color=styles[name], ls=line, label=f"{name}, {label}"
            )
    if "pl_test_error" in paper:
        ax_t.plot(
            paper["pl_T_paper"], paper["pl_test_error"], "x", color="tab:purple", label="paper: pL"
        )
    if "adam_test_error" in paper:
        ax_t.axhline(
            paper["adam_test_error"], color="tab:purple", ls=":", label="paper: Adam, early stop."
        )
    ax_t.set(
        xscale="log",
        yscale="log",
        xlabel="T_paper",
        ylabel="test error",
        title=f"{dataset}: test error by temperature",
    )
    ax_t.legend(fontsize=7)

    colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(pl_runs)))
    for run, color in zip(pl_runs, colors, strict=True):
        label = f"pL, T_paper = {run['T_paper']:g}"
        ax_moves.plot(run["moves"], run["test_error"], color=color, label=label)
    for name, result in optimizers.items():
        steps = result["steps_per_epoch"] * np.arange(1, len(result["history"]) + 1)
        errors = [h["test_error"] for h in result["history"]]
        ax_moves.plot(steps, errors, color=styles[name], ls="--", label=name)
    ax_moves.axvline(warmup, color="grey", lw=0.8, ls=":", label="end of pL warmup")
    ax_moves.set(
        xscale="log",
        yscale="log",
        xlabel="pL moves / optimiser steps (minibatch gradients)",
        ylabel="test error",
        title="test error along the run",
    )
    ax_moves.legend(fontsize=7)
    for ax in (ax_t, ax_moves):
        ax.yaxis.set_minor_locator(LogLocator(subs=(2, 3, 5)))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.yaxis.set_minor_formatter(PercentFormatter(1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- command line -----------------------------------------------------------------------------


def _defaults_help(name):
    def show(value):
        return " ".join(f"{v:g}" for v in value) if isinstance(value, tuple) else f"{value:,}"

    normal = ", ".join(f"{d} {show(DEFAULTS[d][name])}" for d in DATASETS if name in DEFAULTS[d])
    quick = ", ".join(f"{d} {show(QUICK[d][name])}" for d in DATASETS if name in QUICK[d])
    return f"default: {normal}; with --quick: {quick}"


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text):
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument(
        "--dataset", choices=DATASETS, default="kspin", help="the data (default: %(default)s)"
    )
    parser.add_argument(
        "--fashion-dir",
        type=Path,
        help="directory with the four FashionMNIST IDX files; required for, and only for, "
        "--dataset fashion",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, a smoke test of under a minute"
    )
    parser.add_argument(
        "--hidden",
        type=positive_int,
        nargs="+",
        help="hidden widths; " + _defaults_help("hidden"),
    )
    parser.add_argument(
        "--num-train",
        type=positive_int,
        help="training examples P, at least 128; " + _defaults_help("num_train"),
    )
    parser.add_argument(
        "--weight-decay",
        type=positive_float,
        help="lambda of the paper's loss; default: 10/N to one significant figure, N the "
        "number of weights and biases, as in the paper (1e-4 for the default KSpin network, "
        "1e-5 for the paper's)",
    )
    parser.add_argument(
        "--temperatures",
        type=positive_float,
        nargs="+",
        help="pL temperatures T_paper, in the paper's units; " + _defaults_help("temperatures"),
    )
    parser.add_argument(
        "--moves", type=positive_int, help="pL moves after warmup; " + _defaults_help("moves")
    )
    parser.add_argument(
        "--warmup", type=positive_int, help="pL warmup moves; " + _defaults_help("warmup")
    )
    parser.add_argument(
        "--num-kept",
        type=positive_int,
        default=40,
        help="thinned pL samples kept after warmup, for the BMA (default: %(default)s)",
    )
    parser.add_argument(
        "--noise-ratio",
        type=positive_float,
        default=0.01,
        help="noise_ratio r of PseudoLangevin; a chain relaxes in about 1/(4 r 128 T_paper) "
        "moves (default: %(default)s)",
    )
    parser.add_argument(
        "--init",
        choices=("he", "prior"),
        default="he",
        help="initial weights of every method: He's normal init, or a draw from the prior "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--epochs", type=positive_int, help="optimiser epochs; " + _defaults_help("epochs")
    )
    parser.add_argument(
        "--adam-lr",
        type=positive_float,
        default=1e-3,
        help="Adam's learning rate (default: %(default)s)",
    )
    parser.add_argument(
        "--sgd-lr",
        type=positive_float,
        default=1e-2,
        help="the learning rate of SGD with momentum 0.9 (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the data and of the runs (default: 0)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("examples", "output"),
        help="output directory (default: %(default)s)",
    )
    args = parser.parse_args()

    if args.dataset == "fashion" and args.fashion_dir is None:
        parser.error("--dataset fashion needs --fashion-dir DIR, the directory of the IDX files")
    if args.dataset != "fashion" and args.fashion_dir is not None:
        parser.error("--fashion-dir applies to --dataset fashion only")
    if args.seed < 0:
        parser.error(f"--seed must be non-negative, got {args.seed}")
    defaults = (QUICK if args.quick else DEFAULTS)[args.dataset]
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if args.num_train < BATCH_SIZE:
        parser.error(f"--num-train must be at least the batch size {BATCH_SIZE}")
    if args.moves < args.num_kept:
        parser.error(f"--moves ({args.moves}) must be at least --num-kept ({args.num_kept})")
    if args.warmup < args.moves // args.num_kept:
        parser.error(
            f"--warmup ({args.warmup}) must be at least the thinning --moves / --num-kept "
            f"({args.moves // args.num_kept}), so that the warmup is recorded"
        )
    return args


def describe_setting(args, widths, num_val, num_test):
    """Lines that say what runs, and what differs from the paper's setting."""
    lines = [
        f"dataset {args.dataset}: P = {args.num_train:,} training examples ({num_val:,} "
        f"validation, {num_test:,} test), network {widths} "
        f"({num_params(widths):,} weights and biases, ReLU"
        f"{' on every layer, the output too' if ACTIVATE_OUTPUT[args.dataset] else ''}), "
        f"lambda = {args.weight_decay:g}, B = {BATCH_SIZE}, initial weights: "
        + ("He's normal init" if args.init == "he" else "a draw from the prior"),
        f"pL: noise_ratio {args.noise_ratio:g}, {args.warmup:,} warmup + {args.moves:,} moves "
        f"at each T_paper, {args.num_kept} samples kept after warmup; Adam (lr {args.adam_lr:g})"
        f" and SGD (lr {args.sgd_lr:g}, momentum 0.9): {args.epochs:,} epochs",
    ]
    paper = PAPER.get(args.dataset)
    if paper is None:
        lines.append("not a dataset of the paper: no reference values")
        return lines
    ours = {
        "hidden": tuple(args.hidden),
        "num_train": args.num_train,
        "weight_decay": args.weight_decay,
    }
    labels = {"hidden": "hidden widths", "num_train": "P", "weight_decay": "lambda"}

    def show(value):
        return " ".join(map(str, value)) if isinstance(value, tuple) else f"{value:,g}"

    changes = [
        f"{labels[name]} {show(ours[name])} (paper {show(paper[name])})"
        for name in paper
        if ours[name] != paper[name]
    ]
    lines.append(
        "reduced from the paper's setting: " + ", ".join(changes)
        if changes
        else "the paper's setting"
    )
    return lines


def main():
    args = parse_args()
    train, val, test = load_data(args)
    widths = [train.X.shape[1], *args.hidden, NUM_CLASSES]
    if args.weight_decay is None:
        args.weight_decay = default_weight_decay(widths)
    for line in describe_setting(args, widths, len(val.y), len(test.y)):
        print(line)
    args.out.mkdir(parents=True, exist_ok=True)

    key_init, key_pl, key_adam, key_sgd = jax.random.split(jax.random.key(args.seed), 4)
    # the prior scale 1/sqrt(lambda P) is the same at every temperature
    prior_scale, _ = paper_to_numpyro(args.num_train, args.weight_decay, args.temperatures[0])
    init = initial_params(key_init, widths, args.init, prior_scale)

    pl_runs = []
    for paper_temperature, key in zip(
        args.temperatures, jax.random.split(key_pl, len(args.temperatures)), strict=True
    ):
        run = run_pl(key, args, widths, init, paper_temperature, train, test)
        pl_runs.append(run)
        print(
            f"pL T_paper = {paper_temperature:g} (T = {run['T']:g}): relaxation ~ "
            f"{run['relaxation_moves']:,.0f} moves, ran {args.warmup:,} + {args.moves:,}; "
            f"test error: samples {pct(run['sample_test_error'])}, BMA "
            f"{pct(run['bma_test_error'])}; {run['seconds']:.0f} s"
        )
    optimizers = {}
    for name, optimizer, key in (
        ("Adam", optax.adam(args.adam_lr), key_adam),
        ("SGD", optax.sgd(args.sgd_lr, momentum=0.9), key_sgd),
    ):
        optimizers[name] = run_optimizer(key, optimizer, args, init, train, val, test)
        stop = optimizers[name]["early_stopping"]
        print(
            f"{name}: test error {pct(stop['test_error'])} at the early-stopping epoch "
            f"{stop['epoch']}, {pct(optimizers[name]['last_epoch']['test_error'])} at the last; "
            f"{optimizers[name]['seconds']:.0f} s"
        )

    paper = read_paper_data(args.dataset)
    report = "\n\n".join(
        [
            f"# Sampling as training: {args.dataset}",
            "\n".join(
                f"- {line}"
                for line in [
                    "command: `python examples/sampling_as_training.py "
                    + " ".join(sys.argv[1:])
                    + "`",
                    *describe_setting(args, widths, len(val.y), len(test.y)),
                ]
            ),
            table(pl_runs, optimizers, len(test.y)),
            verdicts(pl_runs, optimizers),
        ]
    )
    print("\n" + report)
    stem = args.out / f"sampling_as_training_{args.dataset}"
    stem.with_suffix(".md").write_text(report + "\n")
    settings = {name: (str(v) if isinstance(v, Path) else v) for name, v in vars(args).items()}
    stem.with_suffix(".json").write_text(
        json.dumps(
            {
                "settings": {**settings, "widths": widths},
                "pl": pl_runs,
                "optimizers": optimizers,
                "paper": paper,
            },
            indent=1,
        )
    )
    plot(stem.with_suffix(".png"), args.dataset, pl_runs, optimizers, paper, args.warmup)
    print(f"written: {stem}.md, .json, .png")


if __name__ == "__main__":
    main()
