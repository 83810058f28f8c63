"""Why a pL chain of the Fig. 4 benchmark runs away: the minibatch noise at the chain's
position against the masses, and the curvature against the integrator's stability limit.

Setting: ``benchmarks/diffusion_scaling.py`` at one size (default 1e5): the same KSpin data
(P = 2 000), network, Adam start, T = P * T_paper and kernel (``warmup_reestimate_interval=10``,
``on_nonfinite="rollback"``, its warmup length). Each chain (``--seeds``) makes its warmup and
then up to ``--moves`` moves in chunks of ``CHUNK``, and stops at the first chunk that ends
with the kinetic temperature above ``HOT`` T. At the end of the warmup, at the end of the last
chunk before the hot one, and at the end of the hot one it records:

- the noise ratio that the minibatch noise *there* has against the masses,
  :math:`r_i^{now} = \\sigma_i^2(w) \\Delta t^2 / (4 T m_1^2 M_i)`
  (``numpyro_pl.dynamics.noise_ratio_from_mass``), with :math:`\\sigma^2(w)` estimated from
  ``DRAWS`` minibatch gradients of the kernel's own potential at the chain's position. The
  fluctuation-dissipation choice needs :math:`r_i < 1/(1 + c_1^2) \\approx 1/2`; the masses
  were matched to :math:`r = 0.01` where they were last estimated;
- the largest eigenvalue of :math:`M^{-1/2} H M^{-1/2}`, H the full-data Hessian of U there
  (power iteration on Hessian-vector products, ``POWER_STEPS``). The linearised move is
  stable below :math:`4 / \\Delta t^2` = 4.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/runaway_diagnosis.py [--size 1e5] [--seeds 0 1 2 3] [--moves 20000]
(about 3 minutes at 1e5 on 2 cores); writes benchmarks/results/<NAME>.md (default
``runaway_diagnosis_<size>``).
"""

import argparse
import sys
from pathlib import Path

import diffusion_scaling as fig4
import jax
import jax.numpy as jnp
from environment import machine
from jax import random
from move_overhead import jitted_loop, potential_gen
from numpyro.infer.util import potential_energy

from numpyro_pl import PseudoLangevin, bayesian_mlp, paper_to_numpyro
from numpyro_pl.datasets import kspin_split
from numpyro_pl.dynamics import leaf_kinetic_energies, noise_ratio_from_mass
from numpyro_pl.noise import estimate_grad_var

CHUNK = 250  # moves between two looks at the kinetic temperature
HOT = 3.0  # a chunk that ends above HOT * T is hot
DRAWS = 200  # minibatch gradients per sigma^2 estimate
POWER_STEPS = 40


def tree_dot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def normalised(v):
    norm = jnp.sqrt(tree_dot(v, v))
    return jax.tree.map(lambda a: a / norm, v)


def largest_eigenvalue(grad_u, z, mass, key):
    """Power iteration for the eigenvalue of largest magnitude of M^-1/2 H(z) M^-1/2."""

    @jax.jit
    def apply(v):
        w = jax.tree.map(lambda a, m: a / jnp.sqrt(m), v, mass)
        hv = jax.jvp(grad_u, (z,), (w,))[1]
        return jax.tree.map(lambda a, m: a / jnp.sqrt(m), hv, mass)

    v = jax.tree.map(lambda x: random.normal(key, jnp.shape(x)), z)
    value = 0.0
    for _ in range(POWER_STEPS):
        v = normalised(v)
        u = apply(v)
        value, v = float(tree_dot(v, u)), u
    return value


def diagnose(state, temperature, grad_batch, grad_u, key):
    key_var, key_power = random.split(key)
    var = estimate_grad_var(grad_batch, state.z, key_var, min_draws=DRAWS, max_draws=DRAWS)
    ratio = noise_ratio_from_mass(var.grad_var, state.mass, temperature, 1.0, 0.1)
    r = jnp.concatenate([x.ravel() for x in jax.tree.leaves(ratio)])
    energies = leaf_kinetic_energies(state.momentum, state.z_grad, state.coefficients)
    leaf_t = {
        k: float(2 * e / jnp.size(x) / temperature)
        for (k, x), e in zip(state.z.items(), jax.tree.leaves(energies), strict=True)
    }
    return dict(
        move=int(state.i),
        t_kin=float(state.kinetic_temperature) / temperature,
        hottest=max(leaf_t, key=leaf_t.get),
        hottest_t=max(leaf_t.values()),
        r_mean=float(jnp.mean(r)),
        r_median=float(jnp.median(r)),
        r_p99=float(jnp.quantile(r, 0.99)),
        r_max=float(jnp.max(r)),
        eig=largest_eigenvalue(grad_u, state.z, state.mass, key_power),
    )


def run_chain(size, seed, moves, X, y):
    hidden, weight_decay, _, _ = fig4.SIZES[size]
    widths = [X.shape[1], *hidden, 10]
    prior_scale, temperature = paper_to_numpyro(X.shape[0], weight_decay, 1e-6)
    model = bayesian_mlp(widths, activate_output=True, prior_scale=prior_scale)
    keys = dict(zip(fig4.SIZES, random.split(random.key(0), len(fig4.SIZES)), strict=True))
    key_adam, key_pl, _ = random.split(keys[size], 3)  # as in diffusion_scaling.main
    start = fig4.pretrain(widths, weight_decay, X, y, 1000, key_adam, fig4.ADAM_LR[size])
    kernel = PseudoLangevin(
        model,
        batch_size=fig4.B,
        temperature=temperature,
        warmup_reestimate_interval=10,
        on_nonfinite="rollback",
    )
    warmup = fig4.PL_WARMUP[size]
    state = kernel.init(random.fold_in(key_pl, seed), warmup, start, (X, y), {})
    potential = potential_gen(model, X, y, fig4.B)(X, y)
    grad_u = jax.grad(lambda z: potential_energy(model, (X, y), {}, z))
    run = jitted_loop(lambda i, s: kernel.sample(s, (X, y), {}))

    def look(state, label):
        key = random.fold_in(random.key(11), int(state.i))
        return dict(label=label, **diagnose(state, temperature, jax.grad(potential), grad_u, key))

    state = run(state, jnp.int32(warmup))
    rows = [look(state, "end of warmup")]
    previous = state
    for _ in range(moves // CHUNK):
        state = run(state, jnp.int32(CHUNK))
        if float(state.kinetic_temperature) > HOT * temperature:
            rows += [look(previous, "last chunk before hot"), look(state, "first hot chunk")]
            break
        previous = state
    else:
        rows.append(look(state, f"end ({moves:,} moves, never hot)"))
    return rows, int(state.num_nonfinite)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(fig4.SIZES), default="1e5")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--moves", type=int, default=20_000, help="moves after the warmup")
    parser.add_argument("--out", default=None, help="results file name")
    args = parser.parse_args()
    split = kspin_split(2000, 1, seed=0)
    X, y = jnp.asarray(split.train.X, jnp.float32), jnp.asarray(split.train.y)
    lines = [
        "| seed | moment | move | T_kin / T | hottest site (T_kin / T) "
        "| r_now mean | median | 99th pct | max | λ_max(M^-1/2 H M^-1/2) |",
        "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for seed in args.seeds:
        rows, faults = run_chain(args.size, seed, args.moves, X, y)
        for r in rows:
            lines.append(
                f"| {seed} | {r['label']} | {r['move']:,} | {r['t_kin']:.3g} "
                f"| {r['hottest']} ({r['hottest_t']:.3g}) | {r['r_mean']:.3g} "
                f"| {r['r_median']:.3g} | {r['r_p99']:.3g} | {r['r_max']:.3g} | {r['eig']:.3g} |"
            )
        lines.append(f"| {seed} | non-finite moves rolled back: {faults} | | | | | | | | |")
        print("\n".join(lines[-len(rows) - 1 :]), flush=True)
    text = "\n".join(lines) + "\n"
    out = Path(__file__).parent / "results" / f"{args.out or 'runaway_diagnosis_' + args.size}.md"
    out.write_text(
        f"# Runaway diagnosis, Fig. 4 setting at {args.size}\n\n- {machine()}\n"
        f"- command: `{' '.join(['python', *sys.argv])}`\n"
        f"- r_now: noise ratio of the minibatch noise at the chain's position against its "
        f"masses ({DRAWS} draws; the masses were matched to r = 0.01; the scheme needs "
        f"r < 1/2); λ_max: {POWER_STEPS} power steps, stability limit 4\n\n{text}"
    )


if __name__ == "__main__":
    main()
