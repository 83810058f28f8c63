"""pL from a trained start at the cold T of Fig. 4: does the chain run hot?

Setting: a network of ``diffusion_scaling.py`` (``--size``, default 1e5: 100 -> 500 -> 100 ->
10, ReLU on every layer, 101 610 parameters, lambda = 1e-4), KSpin with P = ``--num-train``
(default 2 000, as in ``diffusion_scaling.py``; the paper's is 100 000), T_paper = 1e-6,
B = 128, started at the network trained by 1 000 minibatch Adam steps. PseudoLangevin
with ``warmup_reestimate_interval=10``, ``on_nonfinite="rollback"`` and the kernel's hot check
at ``--hot-ratio`` (default the kernel's, 1.5; ``off`` turns it off, which is how the kernel
ran before the check existed), ``--warmup`` warmup
moves (default 1 000), then ``--moves`` more, in jitted blocks of 10 moves; a run stops early
if the kinetic temperature passes the kernel's runaway threshold
(``RUNAWAY_TEMPERATURE_RATIO`` = 1e4 T).

For each noise ratio r and seed it reports:

- the first move at which the kinetic temperature was above ``HOT`` = 3 T (where
  ``diffusion_scaling.py`` calls a chain unstable), the move of a runaway, the largest kinetic
  temperature, and its mean over all moves after the warmup and over the last ``LAST`` moves
  (1 at equilibrium);
- the share of the gradients after the warmup that went into sigma^2 estimates (the
  kernel's ``num_grad_evals`` less one per move);
- the sigma^2 estimates, as the median over the first layer's weights (W0) of each estimate
  the chain made: the largest factor between two consecutive estimates shows how much the
  measured minibatch noise changes from one estimate to the next;
- at the start, the largest dt^2 |H_i| / M_i over all components, with |H_i| the root mean
  square of component i of Hessian-vector products with random signs (``HVP_PROBES`` probes,
  each on its own minibatch): the linear stability limit of the integrator is about 4.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/trained_start.py [--size 1e5] [--noise-ratios 0.01 0.003 0.001]
        [--seeds 0 1] [--warmup 1000] [--moves 12000] [--hot-ratio 1.5 | off]
        [--num-train 2000] [--out trained_start]
(about 5 minutes on 2 cores); writes benchmarks/results/<out>.md.
"""

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from diffusion_scaling import ADAM_LR, RESULTS, SIZES, paper_loss, pretrain
from environment import machine, package_version
from jax import lax, random

from numpyro_pl import PseudoLangevin, bayesian_mlp, paper_to_numpyro
from numpyro_pl.datasets import kspin_split
from numpyro_pl.kernel import RUNAWAY_TEMPERATURE_RATIO
from numpyro_pl.potential import minibatch_potential
from numpyro_pl.white_noise import rademacher_like

T_PAPER, B, BLOCK = 1e-6, 128, 10
HOT = 3.0  # kinetic temperature / T at which diffusion_scaling.py calls a chain unstable
LAST = 1000  # moves at the end over which the kinetic temperature is averaged
HVP_PROBES = 16


def hessian_row_norm(potential, z, rng_key):
    """sqrt(E[(H v)_i^2]) over random-sign v, each Hessian-vector product on a fresh
    minibatch: at least |H_ii|, and the norm of row i of the minibatch Hessian."""

    def squared(key):
        key_v, key_batch = random.split(key)
        v = rademacher_like(key_v, z)
        _, hv = jax.jvp(lambda w: jax.grad(potential)(w, key_batch), (z,), (v,))
        return jax.tree.map(jnp.square, hv)

    sq = lax.map(squared, random.split(rng_key, HVP_PROBES))
    return jax.tree.map(lambda s: jnp.sqrt(jnp.mean(s, axis=0)), sq)


def run(model, start, X, y, temperature, noise_ratio, seed, warmup, moves, hot_ratio):
    """One chain from ``start``, read every ``BLOCK`` moves; returns one table row's values."""
    kernel = PseudoLangevin(
        model,
        batch_size=B,
        temperature=temperature,
        noise_ratio=noise_ratio,
        warmup_reestimate_interval=10,
        on_nonfinite="rollback",
        hot_ratio=hot_ratio,
    )
    key_init, key_hvp = random.split(random.key(seed))
    state = kernel.init(key_init, warmup, start, (X, y), {})
    potential = minibatch_potential(
        key_init, model, model_args=(X, y), batch_size=B
    ).potential_fn_gen(X, y)
    rows = hessian_row_norm(potential, state.z, key_hvp)
    ratios = jax.tree.map(lambda h, m: h / m, rows, state.mass)  # step_size = 1
    max_linear = max(float(jnp.max(r)) for r in jax.tree.leaves(ratios))

    block = jax.jit(lambda s: lax.fori_loop(0, BLOCK, lambda i, s: kernel.sample(s, (X, y), {}), s))
    evals_at_warmup = int(state.num_grad_evals) if warmup == 0 else None
    estimates = [(0, float(jnp.median(state.grad_var["W0"])))]
    kinetic, first_hot, runaway_at = [], None, None
    while int(state.i) < warmup + moves:
        state = block(state)
        if int(state.i) == warmup:
            evals_at_warmup = int(state.num_grad_evals)
        kinetic.append(float(state.kinetic_temperature) / temperature)
        median = float(jnp.median(state.grad_var["W0"]))
        if median != estimates[-1][1]:
            estimates.append((int(state.i), median))
        if first_hot is None and not kinetic[-1] <= HOT:  # NaN counts
            first_hot = int(state.i)
        if not kinetic[-1] <= RUNAWAY_TEMPERATURE_RATIO:
            runaway_at = int(state.i)
            break
    jump = "one estimate only"
    if len(estimates) > 1:
        factor, at, before, after = max(
            (max(b / a, a / b), i, a, b)
            for (_, a), (i, b) in zip(estimates[:-1], estimates[1:], strict=True)
        )
        jump = f"{factor:.1f}x at move {at:,} ({before:.2g} -> {after:.2g})"
    after_warmup = int(state.i) - warmup
    share = (
        (int(state.num_grad_evals) - evals_at_warmup - after_warmup) / after_warmup
        if evals_at_warmup is not None and after_warmup > 0
        else float("nan")
    )
    return dict(
        noise_ratio=noise_ratio,
        seed=seed,
        first_hot=first_hot,
        runaway_at=runaway_at,
        moves=int(state.i),
        hottest=max(kinetic),
        after_warmup=float(np.mean(kinetic[warmup // BLOCK :])),
        last=float(np.mean(kinetic[-LAST // BLOCK :])),
        num_nonfinite=int(state.num_nonfinite),
        num_estimates=len(estimates),
        share=share,
        jump=jump,
        max_linear=max_linear,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise-ratios", type=float, nargs="+", default=[0.01, 0.003, 0.001])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--size", choices=list(SIZES), default="1e5")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--moves", type=int, default=12000, help="moves after the warmup")
    parser.add_argument(
        "--hot-ratio",
        type=lambda v: None if v == "off" else float(v),
        default=1.5,
        help="the kernel's hot_ratio, or off",
    )
    parser.add_argument("--num-train", type=int, default=2000, help="P (paper: 100 000)")
    parser.add_argument("--out", default="trained_start")
    args = parser.parse_args()
    if args.warmup < 0 or args.warmup % BLOCK or args.moves < BLOCK:
        parser.error(f"--warmup must be a multiple of {BLOCK} and --moves at least {BLOCK}")
    t0 = time.perf_counter()

    P = args.num_train
    split = kspin_split(P, 1, seed=0)
    X, y = jnp.asarray(split.train.X, jnp.float32), jnp.asarray(split.train.y)
    hidden, weight_decay, _, _ = SIZES[args.size]
    widths = [X.shape[1], *hidden, 10]
    prior_scale, temperature = paper_to_numpyro(P, weight_decay, T_PAPER)
    model = bayesian_mlp(widths, activate_output=True, prior_scale=prior_scale)
    start = pretrain(widths, weight_decay, X, y, 1000, random.key(0), ADAM_LR[args.size])
    start_loss = float(paper_loss(start, X, y, weight_decay))

    rows = []
    for noise_ratio in args.noise_ratios:
        for seed in args.seeds:
            res = run(
                model,
                start,
                X,
                y,
                temperature,
                noise_ratio,
                seed,
                args.warmup,
                args.moves,
                args.hot_ratio,
            )
            hot, runaway = (
                "none" if res[key] is None else f"move {res[key]:,}"
                for key in ("first_hot", "runaway_at")
            )
            rows.append(
                f"| {noise_ratio:g} | {seed} | {hot} | {runaway} | {res['moves']:,} | "
                f"{res['hottest']:.3g} | {res['after_warmup']:.3g} | {res['last']:.3g} | "
                f"{res['num_nonfinite']} | "
                f"{res['num_estimates']} | {100 * res['share']:.2f}% | {res['jump']} "
                f"| {res['max_linear']:.2g} |"
            )
            print(rows[-1], flush=True)

    lines = [
        f"# pL from a trained start at {args.size} parameters",
        "",
        f"- command: `{' '.join(['python', 'benchmarks/trained_start.py', *sys.argv[1:]])}`",
        f"- machine: {machine()}",
        f"- package: {package_version()}",
        f"- {sum(v.size for v in start.values()):,} parameters, P = {P}, T_paper = {T_PAPER:g} "
        f"(T = {temperature:g}, prior sd {prior_scale:.3g}), B = {B}; {args.warmup} warmup moves "
        "with `warmup_reestimate_interval=10`, hot check "
        f"{'off' if args.hot_ratio is None else f'at hot_ratio = {args.hot_ratio:g}'}, "
        "from the Adam start (paper loss "
        f"{start_loss:.4g}); the kinetic temperature is read at the end "
        f"of every block of {BLOCK} moves; hot: above {HOT:g} T; runaway: above "
        f"{RUNAWAY_TEMPERATURE_RATIO:g} T, where the run stops; wall time "
        f"{time.perf_counter() - t0:.0f} s",
        "",
        "| r | seed | first hot | runaway | moves made | max T_kin / T | T_kin / T after the "
        f"warmup | T_kin / T, last {LAST} moves | non-finite moves | sigma^2 estimates | gradients "
        "on sigma^2 after the warmup | largest "
        "change between consecutive estimates (median sigma^2 of W0) | max dt^2 abs(H_i) / M_i "
        "at the start |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        *rows,
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
