"""Two independent σ² estimates at one position: how much of the schedule's statistic is
sampling error.

The re-estimation schedule lengthens its interval only when two consecutive estimates agree
to ``rtol`` = 0.1 net of their sampling error. Earlier versions tested the mean square
relative change of the standard deviations less the floor that Gaussian minibatch gradients
would give, (1/n_A + 1/n_B)/2; this version caps each change at 1 and measures the sampling
error from the halves of each estimate (``numpyro_pl.noise.change_beyond_sampling``). This
script runs a chain of ``benchmarks/schedule_share.py`` (same arguments: ``--size``,
``--start``, ``--warmup``, ``--moves``, ...), stops it, and takes two independent estimates at
its final position with the kernel's own estimator and defaults. Nothing moves between them,
so whatever a statistic shows is sampling error. It reports:

- the draws of each estimate, the earlier statistic and its Gaussian floor, the capped mean
  square change, and the schedule's statistic; the components whose σ² is at the floor
  (1e-8) in one estimate and more than 100 times above it in the other, and those that
  differ more than 100-fold;
- from ``--kurtosis-draws`` further draws at the same position (two passes: the mean, then
  the central moments), the excess kurtosis of each component of the minibatch gradient, and
  the floor that it implies for the earlier statistic, (2 + kappa_i)(1/n_A + 1/n_B)/4
  averaged over the components.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/estimate_replicates.py [--size 1e6] [--start uniform | trained]
        [--warmup 0] [--moves 1000] [--paper-temperature 1e-5] [--kurtosis-draws 400]
        [--out NAME]
(about 2 minutes at 10⁶ with 2 000 warmup moves on 2 cores); writes
benchmarks/results/<NAME>.md (default ``estimate_replicates_<size>``, with ``_trained`` and
``_T<T_paper>`` as in ``schedule_share.py``).
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from diffusion_scaling import RESULTS
from jax import lax, random
from move_overhead import (
    B,
    kspin_data,
    markdown,
    measure_schedule,
    potential_gen,
    schedule_statistics,
)
from schedule_share import (
    add_chain_arguments,
    chain_setting,
    parse_chain_arguments,
    results_name,
)

from numpyro_pl.noise import estimate_grad_var

FLOOR = 1e-8  # the kernel's grad_var_floor


def accumulate(grad, z, key, draws, center=None):
    """Sums over ``draws`` minibatch gradients at ``z``: of g and g^2, or, given ``center``,
    of (g - center)^2 and (g - center)^4."""

    def body(i, acc):
        g = grad(z, random.fold_in(key, i))
        if center is None:
            return jax.tree.map(lambda a, gi: a + jnp.stack([gi, gi**2]), acc, g)
        return jax.tree.map(
            lambda a, gi, c: a + jnp.stack([(gi - c) ** 2, (gi - c) ** 4]), acc, g, center
        )

    zero = jax.tree.map(lambda w: jnp.zeros((2, *w.shape)), z)
    return jax.jit(lambda: lax.fori_loop(0, draws, body, zero))()


def excess_kurtosis(grad, z, key, draws):
    """Per-component excess kurtosis of the minibatch gradient at ``z`` over ``draws`` draws,
    flattened, and whether each component has any noise above ``FLOOR``."""
    key_mean, key_moments = random.split(key)
    sums = accumulate(grad, z, key_mean, draws)
    center = jax.tree.map(lambda s: s[0] / draws, sums)
    moments = accumulate(grad, z, key_moments, draws, center)
    m2 = np.concatenate([np.asarray(m[0]).ravel() / draws for m in jax.tree.leaves(moments)])
    m4 = np.concatenate([np.asarray(m[1]).ravel() / draws for m in jax.tree.leaves(moments)])
    live = m2 > FLOOR
    return np.where(live, m4 / np.where(live, m2, 1.0) ** 2 - 3.0, 0.0), live


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_chain_arguments(parser, 1000)
    parser.add_argument("--kurtosis-draws", type=int, default=400)
    parser.add_argument("--out", default=None, help="results file name")
    args = parse_chain_arguments(parser)
    if args.kurtosis_draws < 2:
        parser.error("--kurtosis-draws must be at least 2")
    X, y = kspin_data(random.key(42))
    model, start, temperature, header = chain_setting(args, X, y)
    chain = measure_schedule(model, X, y, args.moves, "rms", start, args.warmup, temperature)
    z = chain["z"]
    grad = jax.jit(jax.grad(potential_gen(model, X, y, B)(X, y)))
    a, b = (estimate_grad_var(grad, z, random.key(seed)) for seed in (11, 12))
    n = (int(a.num_draws), int(b.num_draws))
    stats = schedule_statistics(a.grad_var, b.grad_var, a, b)
    pairs = [
        (np.asarray(u).ravel(), np.asarray(v).ravel())
        for u, v in zip(jax.tree.leaves(a.grad_var), jax.tree.leaves(b.grad_var), strict=True)
    ]
    low = sum(
        int(np.sum((np.minimum(u, v) <= FLOOR) & (np.maximum(u, v) > 100 * FLOOR)))
        for u, v in pairs
    )
    apart = sum(int(np.sum(np.maximum(u / v, v / u) > 100)) for u, v in pairs)
    kappa, live = excess_kurtosis(grad, z, random.key(13), args.kurtosis_draws)
    gaussian = (1 / n[0] + 1 / n[1]) / 2
    kurtosis_floor = float(np.mean(np.where(live, (2 + kappa) / 4 * (1 / n[0] + 1 / n[1]), 0)))
    q = np.percentile(kappa[live], [50, 90, 99])
    rows = [
        ("draws of the two estimates", f"{n[0]}, {n[1]}"),
        (
            "earlier statistic: mean square change less the Gaussian floor",
            f"{stats['uncapped_change']:.4g}",
        ),
        ("Gaussian floor (1/n_A + 1/n_B)/2", f"{gaussian:.4g}"),
        ("mean square change, each change capped at 1", f"{stats['capped_change']:.4g}"),
        ("the schedule's statistic, net of the halves' (stable ≤ 0.01)", f"{stats['change']:.4g}"),
        ("components at the floor in one, > 100× it in the other", f"{low:,}"),
        ("components more than 100-fold apart", f"{apart:,}"),
        ("components with noise (σ² > 1e-8 over the kurtosis draws)", f"{live.mean():.4f}"),
        ("excess kurtosis: median, 90th, 99th percentile", ", ".join(f"{v:.3g}" for v in q)),
        ("floor from the kurtosis, (2 + κ)(1/n_A + 1/n_B)/4", f"{kurtosis_floor:.4g}"),
    ]
    table = markdown(
        "at the final position | value", [f"| {name} | {value} |" for name, value in rows]
    )
    text = (
        f"Chain: {chain['moves']:,} moves after the warmup, {chain['nonfinite']} non-finite; "
        f"two estimates with the kernel's defaults (keys 11 and 12), kurtosis from "
        f"{args.kurtosis_draws} more draws.\n\n{table}"
    )
    print(text)
    name = args.out or results_name(args, "estimate_replicates")
    (RESULTS / f"{name}.md").write_text(f"# Two σ² estimates at one position\n\n{header}\n{text}")


if __name__ == "__main__":
    main()
