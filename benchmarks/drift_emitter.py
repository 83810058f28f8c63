"""The drift's form and XLA's CPU emitters: the kernel's move against the same move with the
drift of earlier versions, and the bare minibatch gradient, in one process.

The kernel's drift is ``w + dt * (inv_m * p)`` with the step size ``dt`` a traced scalar
of the state (``numpyro_pl.dynamics.drift``). Earlier versions stored ``s = dt / M`` and
computed ``w + s * p``: a fusion of three whole arrays and nothing else, which XLA CPU
(jaxlib 0.10) compiles with its tiled emitter rather than its loop emitter. This script
builds the kernel twice, once with ``numpyro_pl.core.drift`` replaced by that three-array form
(the same numbers at the default ``step_size=1``, where ``inv_m`` equals ``dt / M``), and
times both and the bare gradient as ``benchmarks/move_overhead.py`` does: differenced
jitted loops, every row in each repeat, ratios to the bare gradient within each repeat,
median and quartiles over the repeats.

To see which emitter compiled which pass, dump the compiled modules (``--out dump`` keeps
the results file of the real run):
``XLA_FLAGS=--xla_dump_to=DIR python benchmarks/drift_emitter.py --sizes 1e5 --repeats 2
--out dump``; kernels of the tiled emitter are the files
``*__compute_module_<fusion>.ir-with-opt.ll``, those of the loop emitter
``*.<fusion>_kernel_module.ir-with-opt.ll``.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/drift_emitter.py [--sizes 1e5 1e6] [--repeats 15] [--out NAME]
(about 4 minutes on 2 cores); writes benchmarks/results/<NAME>.md (default
``drift_emitter``).
"""

import argparse
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
from environment import machine
from jax import random
from move_overhead import (
    SIZES,
    TEMPERATURE,
    B,
    bare_gradient_body,
    kspin_data,
    loop,
    markdown,
    mlp_model,
    past_first_check,
    per_iteration,
    potential_gen,
    spread,
)

import numpyro_pl.core
from numpyro_pl import PseudoLangevin

WINDOW = {"1e4": (200, 1200), "1e5": (100, 500), "1e6": (20, 220)}


def three_array_drift(z, half_momentum, inverse_mass, step_size):
    """The drift of earlier versions, ``w + s * p`` with ``s`` an array; equal to the
    kernel's at ``step_size = 1``, which it ignores."""
    return jax.tree.map(lambda w, p, s: w + s * p, z, half_momentum, inverse_mass)


def move_loop(model, X, y, drift=None):
    """``run(n)`` of the kernel's move from 200 moves after ``kernel.init``; with ``drift``
    in place of the kernel's while the loop is traced and compiled."""
    kept = numpyro_pl.core.drift
    numpyro_pl.core.drift = drift or kept
    try:
        kernel = PseudoLangevin(model, batch_size=B, temperature=TEMPERATURE)
        state = past_first_check(kernel, kernel.init(random.key(0), 0, None, (X, y), {}), X, y)
        run = loop(lambda i, s: kernel.sample(s, (X, y), {}), state)
        run(1)  # compile
    finally:
        numpyro_pl.core.drift = kept
    return run, state


def bench(name, repeats):
    model = mlp_model(SIZES[name])
    X, y = kspin_data(random.key(42))
    move, state = move_loop(model, X, y)
    old, _ = move_loop(model, X, y, three_array_drift)
    grad = loop(bare_gradient_body(potential_gen(model, X, y, B)(X, y)), (state.z, jnp.float32(0)))
    grad(1)
    runs = {"grad": grad, "move": move, "three_array": old}
    n1, n2 = WINDOW[name]
    est = [{k: per_iteration(r, n1, n2)[0] for k, r in runs.items()} for _ in range(repeats)]
    quartiles = {
        k: statistics.quantiles([e[k] / e["grad"] for e in est], n=4, method="inclusive")
        for k in ("move", "three_array")
    }
    diff = [(e["three_array"] - e["move"]) / e["grad"] for e in est]
    print(f"done {name}", flush=True)
    return dict(
        size=name,
        params=sum(x.size for x in jax.tree.leaves(state.z)),
        ms={k: 1e3 * statistics.median(e[k] for e in est) for k in runs},
        quartiles=quartiles,
        diff=statistics.quantiles(diff, n=4, method="inclusive"),
    )


def table(rows):
    return markdown(
        "size | N params | bare grad ms | move ms | move/grad | three-array drift ms "
        "| three-array/grad | difference / grad",
        [
            f"| {r['size']} | {r['params']:,} | {r['ms']['grad']:.3f} | {r['ms']['move']:.3f} "
            f"| {spread(r['quartiles']['move'])} | {r['ms']['three_array']:.3f} "
            f"| {spread(r['quartiles']['three_array'])} | {spread(r['diff'])} |"
            for r in rows
        ],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["1e5", "1e6"])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default="drift_emitter", help="results file name")
    args = parser.parse_args()
    if args.repeats < 2:
        parser.error("--repeats must be at least 2 (the quartiles need two repeats)")
    text = table([bench(name, args.repeats) for name in args.sizes])
    print(text)
    out = Path(__file__).parent / "results" / f"{args.out}.md"
    out.write_text(
        f"# The drift's form and XLA's CPU emitters\n\n- {machine()}\n"
        f"- command: `{' '.join(['python', *sys.argv])}`\n"
        f"- per-iteration times from differenced loops; ratios to the bare gradient within "
        f"each repeat, median (quartiles) over {args.repeats} repeats\n\n{text}"
    )


if __name__ == "__main__":
    main()
