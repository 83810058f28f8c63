"""The σ² re-estimation schedule over a long run: how many gradients it spends, and why.

The chain of ``benchmarks/move_overhead.py`` (the paper's MLP at one size, P = 100 000,
B = 128, T = 1, kernel defaults) runs from ``kernel.init`` at ``init_to_uniform`` without
warmup, in jitted chunks of 1 000 moves (``move_overhead.measure_schedule``). At every
estimate after the first it records the move, the draws, the interval that the estimate set,
the schedule's test statistic (``numpyro_pl.noise.change_beyond_sampling``: the mean square
relative change of the standard deviations, each capped at 1, net of the sampling error of
both estimates measured from their halves; the interval grows when it is at most ``rtol``² =
0.01), the capped mean square change itself, the statistic of earlier versions (uncapped,
less the Gaussian floor (1/n_new + 1/n_old)/2), the number of components whose σ² rose more
than 100-fold, and the kinetic temperature and |w|² there.
It reports the share of all gradients spent on estimates over the whole run and over its
second half and last quarter, which a relaxing chain leaves behind.

An estimate costs more than its draws' gradients: each draw also updates a running mean and
variance over every parameter. The script times estimates of exactly 200 draws (two rounds
of 100 at ``grad_var_rtol=0``) at the chain's final position against the bare minibatch
gradient of ``move_overhead.py``, in the same repeats, and reports the cost of a draw in bare
gradients; the share of time is the share of gradients times that cost.

The same posterior from a trained start: ``--start trained`` starts the chain at the
network trained by ``--adam-steps`` minibatch Adam steps on the paper's loss with weight
decay lambda = 1/P = 1e-5 (``diffusion_scaling.pretrain``, with its learning rates), the
posterior's own regulariser: under N(0, 1) priors with P = 100 000 the chain at T = 1 is the
paper's setting at T_paper = 1e-5 (``numpyro_pl.paper_to_numpyro``; at 10⁶ parameters
lambda = 1e-5 is also the paper's). The model is then ``numpyro_pl.bayesian_mlp`` with the
same priors and likelihood. ``--paper-temperature`` sets T = P T_paper for either start
(default 1e-5, T = 1; Fig. 4 of the paper is at 1e-6, T = 0.1). ``--warmup`` warmup moves
(kernel defaults) come first; the estimate that ends them is counted with them, and the
shares count the moves after them.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/schedule_share.py [--size 1e6] [--moves 240000] [--out NAME]
        [--start uniform | trained] [--warmup 0] [--adam-steps 1000]
        [--paper-temperature 1e-5] [--reference-mass-floor]
(about 35 minutes at 10⁶ on 2 cores from ``init_to_uniform``; beyond move 241 806 that chain
fails at every second move, each time rolled back with a fresh estimate, and the run slows a
hundredfold); writes benchmarks/results/<NAME>.md (default ``schedule_share_<size>``, with
``_trained`` for a trained start).
"""

import argparse
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
from diffusion_scaling import ADAM_LR, RESULTS, pretrain, reference_mass_floor
from environment import machine, package_version
from jax import random
from move_overhead import (
    SCHEDULE_CHUNK,
    SIZES,
    B,
    D,
    K,
    P,
    bare_gradient_body,
    kspin_data,
    loop,
    markdown,
    measure_schedule,
    mlp_model,
    per_iteration,
    potential_gen,
)

from numpyro_pl import bayesian_mlp
from numpyro_pl.noise import estimate_grad_var

DRAWS = 200  # two rounds of 100, the fewest that an estimate takes
REPEATS = 7


def draw_cost(model, X, y, z, repeats=REPEATS):
    """(lower quartile, median, upper quartile) over ``repeats`` of the time of one draw of
    an estimate (``DRAWS`` draws at ``z``, one compiled estimate per iteration) over the
    time of one bare minibatch gradient, both from per-iteration differencing."""
    potential = potential_gen(model, X, y, B)(X, y)

    def estimate_body(i, acc):
        estimate = estimate_grad_var(
            jax.grad(potential),
            z,
            random.fold_in(random.key(4), i),
            min_draws=DRAWS // 2,
            max_draws=DRAWS,
            rtol=0.0,
        )
        return (
            acc + estimate.num_draws + sum(jnp.sum(v) for v in jax.tree.leaves(estimate.grad_var))
        )

    estimates = loop(estimate_body, jnp.float32(0))
    grads = loop(bare_gradient_body(potential), (z, jnp.float32(0)))
    estimates(1), grads(1)  # compile
    ratios = [
        per_iteration(estimates, 1, 3)[0] / DRAWS / per_iteration(grads, 100, 300)[0]
        for _ in range(repeats)
    ]
    return statistics.quantiles(ratios, n=4, method="inclusive")


def share_after(result, start):
    """Share of the gradients spent on estimates over the moves after ``start``."""
    spent = sum(t["draws"] for t in result["trace"] if t["move"] > start)
    return spent / (result["moves"] - start)


def report(result, size, cost):
    moves = result["moves"]
    shares = markdown(
        "moves | share of gradients on σ² | share of time, in bare gradients per move",
        [
            f"| {label} | {100 * share_after(result, start):.2f}% "
            f"| {100 * share_after(result, start) * cost[1]:.2f}% |"
            for label, start in (
                (f"all {moves:,}", 0),
                (f"second half ({moves // 2:,}-{moves:,})", moves // 2),
                (f"last quarter ({3 * moves // 4:,}-{moves:,})", 3 * moves // 4),
            )
        ],
    )
    trace = markdown(
        "chunk ending at move | draws | interval set | test statistic (stable ≤ 0.01) "
        "| mean square change, capped at 1 | earlier statistic (uncapped, Gaussian floor) "
        "| components whose σ² rose > 100× | T_kin / T | Σ w² | non-finite moves so far",
        [
            f"| {t['move']:,} | {t['draws']} | {t['interval']:,} | {t['change']:.4g} "
            f"| {t['capped_change']:.4f} | {t['uncapped_change']:.4g} | {t['jumps']:,} "
            f"| {t['t_kin']:.3f} | {t['w2']:.4g} | {t['nonfinite']} |"
            for t in result["trace"]
        ],
    )
    return (
        f"Size {size}; the estimate in use when the counted moves start: "
        f"{result['initial_draws']} draws; estimates after it, "
        f"each found in a chunk of {SCHEDULE_CHUNK:,} moves. One draw of an estimate costs "
        f"{cost[1]:.3f} (quartiles {cost[0]:.3f}-{cost[2]:.3f}) bare gradients (estimates of "
        f"{DRAWS} draws at the final position, {REPEATS} repeats). Non-finite moves, each "
        f"rolled back to the last snapshot: {result['nonfinite']}.\n\n"
        f"Shares:\n\n{shares}\n{trace}"
    )


def add_chain_arguments(parser, moves):
    """The arguments that pick the chain: ``--size``, ``--moves`` (default ``moves``),
    ``--start``, ``--warmup``, ``--adam-steps``, ``--paper-temperature``."""
    parser.add_argument("--size", choices=sorted(SIZES), default="1e6")
    parser.add_argument("--moves", type=int, default=moves)
    parser.add_argument("--start", choices=("uniform", "trained"), default="uniform")
    parser.add_argument("--warmup", type=int, default=0, help="warmup moves")
    parser.add_argument("--adam-steps", type=int, default=1000, help="for --start trained")
    parser.add_argument("--paper-temperature", type=float, default=1e-5, help="T = P T_paper")


def parse_chain_arguments(parser):
    """``parser.parse_args()``, with the chain's arguments checked: a clear error unless
    ``--warmup`` is at least 0 and ``--moves`` at least one chunk of ``SCHEDULE_CHUNK``."""
    args = parser.parse_args()
    if args.warmup < 0 or args.moves < SCHEDULE_CHUNK:
        parser.error(f"--warmup must be at least 0 and --moves at least {SCHEDULE_CHUNK}")
    return args


def chain_setting(args, X, y):
    """``(model, start, temperature, header)`` of the chain that :func:`add_chain_arguments`
    picked: the start is ``None`` (``init_to_uniform``) or trained parameters; the header
    is the results file's list of the machine, the command and the setting."""
    if args.start == "trained":
        widths = [D, *SIZES[args.size], K]
        model = bayesian_mlp(widths, activate_output=True, prior_scale=1.0)
        start = pretrain(widths, 1 / P, X, y, args.adam_steps, random.key(0), ADAM_LR[args.size])
        setting = f"start: {args.adam_steps} Adam steps (lr {ADAM_LR[args.size]:g}, lambda 1/P)"
    else:
        model, start = mlp_model(SIZES[args.size]), None
        setting = "start: init_to_uniform"
    temperature = P * args.paper_temperature
    command = " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    header = (
        f"- {machine()}\n- {package_version()}\n- command: `{command}`\n"
        f"- size {args.size}, T = {temperature:g} (T_paper = {args.paper_temperature:g}), "
        f"P = {P:,}; {setting}; {args.warmup} warmup moves\n"
    )
    return model, start, temperature, header


def results_name(args, stem):
    """``<stem>_<size>``, with ``_trained`` for a trained start and ``_T<T_paper>`` for a
    paper temperature other than 1e-5."""
    name = f"{stem}_{args.size}" + ("_trained" if args.start == "trained" else "")
    if args.paper_temperature != 1e-5:
        name += f"_T{args.paper_temperature:g}"
    return name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_chain_arguments(parser, 240_000)
    parser.add_argument("--criterion", choices=("rms", "max"), default="rms")
    parser.add_argument(
        "--reference-mass-floor",
        action="store_true",
        help="the reference's floor on sigma^2 (1e-8 P^2 on U) instead of the relative mass floor",
    )
    parser.add_argument("--out", default=None, help="results file name")
    args = parse_chain_arguments(parser)
    X, y = kspin_data(random.key(42))
    model, start, temperature, header = chain_setting(args, X, y)
    floor = reference_mass_floor(P) if args.reference_mass_floor else {}
    result = measure_schedule(
        model, X, y, args.moves, args.criterion, start, args.warmup, temperature, floor
    )
    text = report(result, args.size, draw_cost(model, X, y, result["z"]))
    print(text)
    (RESULTS / f"{args.out or results_name(args, 'schedule_share')}.md").write_text(
        f"# σ² schedule over a long run\n\n{header}- grad_var_criterion = {args.criterion}"
        + (f"; {floor}" if floor else "")
        + "\n\n"
        f"{text}"
    )


if __name__ == "__main__":
    main()
