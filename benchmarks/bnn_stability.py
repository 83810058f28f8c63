"""Why the chains of ``examples/bnn_regression.py`` go non-finite on some seeds: masses lighter
than the curvature allows.

The example's PseudoLangevin set-up (its model, data, ``batch_size`` and ``noise_ratio``, two
vectorized chains, 10 relaxation times = 2 500 warmup moves, as with ``--quick``) runs for
each of ``--seeds`` (the example itself uses seed 0) with ``on_nonfinite="rollback"``, so that
a chain that fails goes on, and then ``--moves`` more moves. For each chain it reports the
non-finite moves and the kinetic temperature after warmup.

For the first chain that fails, it reruns the warmup with every move collected and prints,
move by move up to the failure, the integrator's stability number of the worst component,

    max_i  dt^2 H_ii / M_i,

with H_ii the diagonal of the Hessian of the full-data potential energy at the move's
position (unconstrained), M_i the chain's mass and dt the step size (1): the move is a
velocity-Verlet step for each component, which is unstable above 4 on a harmonic well. It
also gives the prior's share of that H_ii (the Hessian of the prior potential whose curvature
the kernel bounds the masses by, ``minibatch_potential(...).prior_potential_fn_gen``), the
smallest mass, and how many components are above 4.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/bnn_stability.py [--seeds 0 1 2 3 4 5 6 7] [--moves 2000]
        [--max-prior-stability default|off|NUMBER] [--out NAME]
(about 5 minutes on 2 cores); writes benchmarks/results/<NAME>.md (default ``bnn_stability``).
"""

import argparse
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from environment import ROOT, write_results
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC
from numpyro.infer.util import initialize_model, unconstrain_fn

from numpyro_pl import PseudoLangevin
from numpyro_pl.potential import minibatch_potential

sys.path.insert(0, str(ROOT / "examples"))
import bnn_regression as example  # noqa: E402

STEP_SIZE = 1.0  # the kernel's default
WARMUP = 10 * example.RELAXATION_MOVES  # the example's --quick warmup
STABLE = 4.0  # dt^2 H / M of a velocity-Verlet step on a harmonic well


def data():
    return example.make_data(example.NUM_TRAIN, np.random.default_rng(0))


def pl_mcmc(num_samples, bound):
    kernel = PseudoLangevin(
        example.model,
        batch_size=example.BATCH_SIZE,
        noise_ratio=example.NOISE_RATIO,
        step_size=STEP_SIZE,
        on_nonfinite="rollback",
        **bound,
    )
    return MCMC(
        kernel,
        num_warmup=WARMUP,
        num_samples=num_samples,
        num_chains=2,
        chain_method="vectorized",
        progress_bar=False,
    )


def example_key(seed):
    return jax.random.split(jax.random.key(seed), 3)[0]  # as the example splits its key


def scan(seeds, moves, X, y, bound):
    """Rows of the seed table; and the (seed, chain) of the first chain with a fault."""
    rows, first = [], None
    for seed in seeds:
        mcmc = pl_mcmc(moves, bound)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mcmc.run(example_key(seed), X, y, extra_fields=("kinetic_temperature",))
        t_kin = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["kinetic_temperature"])
        faults = np.asarray(mcmc.last_state.num_nonfinite)
        for chain in range(2):
            rows.append(
                f"| {seed} | {chain} | {faults[chain]} | {t_kin[chain].mean():.3f} | "
                f"{t_kin[chain].max():.2f} |"
            )
        if first is None and faults.any():
            first = (seed, int(np.argmax(faults > 0)))
        print(rows[-2], rows[-1], sep="\n", flush=True)
    return rows, first


def unconstrained(samples, chain, move, X, y):
    """The latent values of one collected draw, back on the space the chain moves in."""
    params = {k: v[chain, move] for k, v in samples.items() if k != "f"}
    return unconstrain_fn(example.model, (X, y), {}, params)


def trace(seed, chain, X, y, bound):
    """Rows of the move-by-move table of ``chain`` up to its first fault (warmup only)."""
    mcmc = pl_mcmc(1, bound)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mcmc.warmup(
            example_key(seed),
            X,
            y,
            collect_warmup=True,
            extra_fields=("mass", "kinetic_temperature", "diverging", "i"),
        )
    fields = mcmc.get_extra_fields(group_by_chain=True)
    samples = mcmc.get_samples(group_by_chain=True)
    diverging = np.asarray(fields["diverging"][chain])
    if not diverging.any():
        return ["| (its first non-finite move came after the warmup; not traced) |"]
    fault = int(np.argmax(diverging))
    full = initialize_model(jax.random.key(0), example.model, model_args=(X, y)).potential_fn
    # the kernel's own prior potential, whose curvature bounds the masses
    prior = minibatch_potential(
        jax.random.key(0), example.model, model_args=(X, y), batch_size=example.BATCH_SIZE
    ).prior_potential_fn_gen(X, y)
    flat, unravel = ravel_pytree(unconstrained(samples, chain, 0, X, y))
    names = np.concatenate([[k] * np.size(v) for k, v in sorted(unravel(flat).items())])

    def hessian_diagonal(potential):
        return jax.jit(lambda f: jnp.diag(jax.hessian(lambda g: potential(unravel(g)))(f)))

    full_diag, prior_diag = hessian_diagonal(full), hessian_diagonal(prior)
    rows = []
    for move in range(max(0, fault - 25), fault + 1):
        f = ravel_pytree(unconstrained(samples, chain, move, X, y))[0]
        mass = ravel_pytree({k: fields["mass"][k][chain, move] for k in unravel(f)})[0]
        number = STEP_SIZE**2 * full_diag(f) / mass
        worst = int(jnp.argmax(number))
        rows.append(
            f"| {int(fields['i'][chain, move])} | "
            f"{float(fields['kinetic_temperature'][chain, move]):.3g} | "
            f"{float(number[worst]):.3g} | {names[worst]} | "
            f"{float(STEP_SIZE**2 * prior_diag(f)[worst] / mass[worst]):.3g} | "
            f"{float(mass.min()):.3g} | {int(jnp.sum(number > STABLE))} |"
        )
        print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    parser.add_argument("--moves", type=int, default=2000, help="moves after the warmup")
    parser.add_argument(
        "--max-prior-stability",
        default="default",
        help="the kernel's max_prior_stability: a number, 'off' (None: no mass bound) or "
        "'default' (the kernel's default)",
    )
    parser.add_argument("--out", default="bnn_stability", help="results file name")
    args = parser.parse_args()
    if args.moves < 1:
        parser.error("--moves must be at least 1")
    bound = {}
    if args.max_prior_stability == "off":
        bound = {"max_prior_stability": None}
    elif args.max_prior_stability != "default":
        try:
            bound = {"max_prior_stability": float(args.max_prior_stability)}
        except ValueError:
            parser.error("--max-prior-stability must be a number, 'off' or 'default'")
    X, y = data()
    seed_rows, first = scan(args.seeds, args.moves, X, y, bound)
    setting = ", ".join(f"`{k}={v}`" for k, v in bound.items()) or "the kernel's defaults"
    lines = [
        f"The example's PseudoLangevin set-up, 2 vectorized chains, {WARMUP} warmup + "
        f'{args.moves} moves, `on_nonfinite="rollback"`, {setting}; T_kin over the moves '
        "after warmup.",
        "",
        "| seed | chain | non-finite moves | T_kin / T, mean | T_kin / T, max |",
        "|---:|---:|---:|---:|---:|",
        *seed_rows,
        "",
    ]
    if first is not None:
        lines += [
            f"Seed {first[0]}, chain {first[1]}, up to its first non-finite move (the number "
            f"is dt² H_ii / M_i, stable below {STABLE:g}; H the full-data Hessian's diagonal):",
            "",
            "| move | T_kin / T | worst number | its site | its prior's part | smallest mass "
            f"| components above {STABLE:g} |",
            "|---:|---:|---:|---|---:|---:|---:|",
            *trace(*first, X, y, bound),
            "",
        ]
    write_results(args.out, "Stability of the BNN example's chains", *lines)


if __name__ == "__main__":
    main()
