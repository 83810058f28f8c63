"""The σ² re-estimation schedule over a long run: how many gradients it spends, and why.

The chain of ``benchmarks/move_overhead.py`` (the paper's MLP at one size, P = 100 000,
B = 128, T = 1, kernel defaults) runs from ``kernel.init`` at ``init_to_uniform`` without
warmup, in jitted chunks of 1 000 moves (``move_overhead.measure_schedule``). At every
estimate after the first it records the move, the draws, the interval that the estimate set,
the schedule's test statistic (the mean square relative change of the standard deviations
against the previous estimate less its sampling floor; the interval grows when it is at most
``rtol``² = 0.01), the same statistic with each relative change capped at 1 (a statistic
that a few components cannot dominate; the kernel does not use it), the number of
components whose σ² rose more than 100-fold, and the kinetic temperature and |w|² there.
It reports the share of all gradients spent on estimates over the whole run and over its
second half and last quarter, which a relaxing chain leaves behind.

An estimate costs more than its draws' gradients: each draw also updates a running mean and
variance over every parameter. The script times estimates of exactly 200 draws (two rounds
of 100 at ``grad_var_rtol=0``) at the chain's final position against the bare minibatch
gradient of ``move_overhead.py``, in the same repeats, and reports the cost of a draw in bare
gradients; the share of time is the share of gradients times that cost.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/schedule_share.py [--size 1e6] [--moves 240000] [--out NAME]
(about 35 minutes at 10⁶ on 2 cores; beyond move 241 806 the 10⁶ chain fails at every second
move, each time rolled back with a fresh estimate, and the run slows a hundredfold); writes
benchmarks/results/<NAME>.md (default ``schedule_share_<size>``).
"""

import argparse
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
from environment import machine, package_version
from jax import random
from move_overhead import (
    SCHEDULE_CHUNK,
    SIZES,
    TEMPERATURE,
    B,
    bare_gradient_body,
    kspin_data,
    loop,
    markdown,
    measure_schedule,
    mlp_model,
    per_iteration,
    potential_gen,
)

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
        "| the same, each change capped at 1 | components whose σ² rose > 100× "
        "| T_kin / T | Σ w² | non-finite moves so far",
        [
            f"| {t['move']:,} | {t['draws']} | {t['interval']:,} | {t['change']:.4g} "
            f"| {t['capped_change']:.4f} | {t['jumps']:,} "
            f"| {t['t_kin']:.3f} | {t['w2']:.4g} | {t['nonfinite']} |"
            for t in result["trace"]
        ],
    )
    return (
        f"Size {size}; initial estimate {result['initial_draws']} draws; estimates after it, "
        f"each found in a chunk of {SCHEDULE_CHUNK:,} moves. One draw of an estimate costs "
        f"{cost[1]:.3f} (quartiles {cost[0]:.3f}-{cost[2]:.3f}) bare gradients (estimates of "
        f"{DRAWS} draws at the final position, {REPEATS} repeats). Non-finite moves, each "
        f"rolled back to the last snapshot: {result['nonfinite']}.\n\n"
        f"Shares:\n\n{shares}\n{trace}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="1e6")
    parser.add_argument("--moves", type=int, default=240_000)
    parser.add_argument("--criterion", choices=("rms", "max"), default="rms")
    parser.add_argument("--out", default=None, help="results file name")
    args = parser.parse_args()
    header = (
        f"- {machine()}\n- {package_version()}\n- command: `{' '.join(['python', *sys.argv])}`\n"
    )
    X, y = kspin_data(random.key(42))
    model = mlp_model(SIZES[args.size])
    result = measure_schedule(model, X, y, args.moves, args.criterion)
    text = report(result, args.size, draw_cost(model, X, y, result["z"]))
    print(text)
    out = Path(__file__).parent / "results" / f"{args.out or 'schedule_share_' + args.size}.md"
    out.write_text(
        f"# σ² schedule over a long run\n\n{header}- T = {TEMPERATURE}, "
        f"grad_var_criterion = {args.criterion}\n\n{text}"
    )


if __name__ == "__main__":
    main()
