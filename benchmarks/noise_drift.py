"""How fast sigma^2 changes along the 10⁶ chain of Fig. 4: the schedule's statistic against
the lag.

The re-estimation schedule lengthens its interval only when two consecutive estimates agree
to ``grad_var_rtol`` = 0.1 net of their sampling error
(``numpyro_pl.noise.change_beyond_sampling`` at most 0.01). On the chain relaxed by
``mass_diffusion.py --burn-in 100000`` the interval stayed at its minimum of 5 000 moves, and
the estimates took 11.5 % of the gradients. This script tells sampling from change: it builds
the chain of ``mass_diffusion.py`` (same arguments and keys), runs ``--moves`` more moves,
keeps the position every ``--spacing`` moves, and takes one estimate at each kept position
with the kernel's own estimator and defaults. For each lag (a multiple of the spacing) it
reports the schedule's statistic over every pair of estimates that far apart: its mean,
range and the pairs above 0.01, and the capped mean square change of sigma
(``numpyro_pl.noise.mean_square_change``). Lag 0 is two estimates at the first position,
where nothing moved: sampling alone.

Run from the repository root after ``pip install -e .``:
    python benchmarks/noise_drift.py [--moves 10000] [--spacing 500] [--burn-in N] [--out NAME]
(9 minutes on 2 cores, 26 with ``--burn-in 100000``, on the slower machine of
docs/benchmarks.md); writes
benchmarks/results/<NAME>.md (default ``noise_drift_1e6``, with the suffixes of
``mass_diffusion.py``).
"""

import argparse
import inspect
import time

import jax
import numpy as np
from diffusion_scaling import RESULTS
from environment import run_lines
from jax import random
from mass_diffusion import (
    add_chain_arguments,
    chain_state,
    continue_chain,
    results_name,
    sq_norm,
)
from move_overhead import B, markdown, potential_gen

from numpyro_pl import PseudoLangevin
from numpyro_pl.noise import change_beyond_sampling, estimate_grad_var, mean_square_change

#: the kernel's arguments of its estimator, and those of estimate_grad_var they set
ESTIMATOR = dict(
    min_grad_var_draws="min_draws",
    max_grad_var_draws="max_draws",
    grad_var_rtol="rtol",
    grad_var_criterion="criterion",
    grad_var_floor="floor",
)


def estimator(setting):
    """``estimate(z, key)``: the kernel's sigma^2 estimate at ``z``, with its arguments."""
    defaults = inspect.signature(PseudoLangevin).parameters
    options = {
        ours: setting["kernel_options"].get(theirs, defaults[theirs].default)
        for theirs, ours in ESTIMATOR.items()
    }
    kernel = setting["kernel"]
    X, y = setting["X"], setting["y"]
    grad = jax.grad(potential_gen(kernel.model, X, y, B)(X, y))
    return jax.jit(lambda z, key: estimate_grad_var(grad, z, key, **options)), options


def drift_table(samples, estimate, key, rtol):
    """The schedule's statistic and the capped mean square change of sigma between the
    estimates at the kept positions, by lag in kept positions (0: two at the first)."""
    num = jax.tree.leaves(samples)[0].shape[0]
    keys = random.split(key, num + 1)
    at = [jax.tree.map(lambda v, i=i: v[i], samples) for i in range(num)]
    estimates = [estimate(z, k) for z, k in zip(at, keys[:num], strict=True)]
    pairs_by_lag = [[(estimate(at[0], keys[num]), estimates[0])]]
    pairs_by_lag += [
        [(estimates[i + m], estimates[i]) for i in range(num - m)] for m in range(1, num)
    ]
    rows = []
    for lag, pairs in enumerate(pairs_by_lag):
        stats = np.array([float(change_beyond_sampling(a.halves, b.halves)) for a, b in pairs])
        capped = np.array([float(mean_square_change(a.grad_var, b.grad_var)) for a, b in pairs])
        rows.append(
            dict(
                lag=lag,
                pairs=len(pairs),
                mean=stats.mean(),
                low=stats.min(),
                high=stats.max(),
                above=int(np.sum(stats > rtol**2)),
                capped=capped.mean(),
            )
        )
    return rows, [int(e.num_draws) for e in estimates], sq_norm(at[0]), sq_norm(at[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_chain_arguments(parser)
    parser.add_argument("--moves", type=int, default=10_000)
    parser.add_argument("--spacing", type=int, default=500, help="moves between kept positions")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.moves < 2 * args.spacing:
        parser.error("--moves must be at least twice --spacing")
    args.out = args.out or results_name(args, "noise_drift_1e6")
    state, setting = chain_state(args)
    samples, _, chain = continue_chain(state, setting, args.moves, args.spacing)
    estimate, options = estimator(setting)
    start = time.process_time()
    rows, draws, first, last = drift_table(
        samples, estimate, random.fold_in(setting["key_run"], 1), options["rtol"]
    )
    cpu = time.process_time() - start
    burn_in = setting["burn_in"]
    text = "\n".join(
        [
            "# How fast sigma^2 changes along the 10⁶ chain of Fig. 4",
            "",
            *run_lines(),
            f"The chain of `mass_diffusion.py` with these arguments: P = {args.num_train}, "
            f"T_paper = {args.paper_temperature:g}, Adam start, "
            + (
                f"burn-in of {burn_in['moves']} moves at r = {args.burn_in_noise_ratio:g} "
                f"(|w|^2 {setting['start_sq_norm']:.4g} to {burn_in['sq_norm']:.4g}), "
                if burn_in
                else ""
            )
            + f"{args.equilibrate} untimed moves; then {args.moves} moves, the position kept "
            f"every {args.spacing}: |w|^2 {first:.4g} at the first kept position and "
            f"{last:.4g} at the last, kinetic T / T {chain['kinetic_mean']:.3f} (max "
            f"{chain['kinetic_max']:.3f}), {chain['num_nonfinite']} non-finite moves; "
            f"{100 * chain['grad_var_share']:.1f} % of their gradients went to the kernel's "
            f"sigma^2 estimates, its interval at the kept positions {chain['intervals']}.",
            "",
            f"One estimate at each kept position with the kernel's estimator ({options}): "
            f"{draws} draws; {cpu:.0f} CPU s for all of them. The schedule lengthens its "
            f"interval when the statistic is at most rtol^2 = {options['rtol'] ** 2:g}.",
            "",
            markdown(
                "lag, moves | pairs | schedule's statistic, mean | min | max "
                f"| pairs above {options['rtol'] ** 2:g} | capped mean square change of sigma",
                [
                    f"| {row['lag'] * args.spacing} | {row['pairs']} | {row['mean']:+.4f} | "
                    f"{row['low']:+.4f} | {row['high']:+.4f} | {row['above']} | "
                    f"{row['capped']:.4f} |"
                    for row in rows
                ],
            ),
        ]
    )
    print(text)
    (RESULTS / f"{args.out}.md").write_text(text)


if __name__ == "__main__":
    main()
