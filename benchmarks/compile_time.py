"""How long XLA takes to compile a PseudoLangevin move, against one bare minibatch gradient.

A short run, a test or an example's ``--quick`` run spends most of its time compiling, not
moving: on a 2-core CPU, 200 moves of the KSpin quick example took 37 s and 4 000 took
39 s. This script compiles, for the paper's KSpin MLPs (``benchmarks/move_overhead.py``),

- the bare ``value_and_grad`` of the minibatch potential;
- the functional core's ``init_kernel`` (a gradient, an estimate of sigma^2, the masses and
  the first momentum; ``numpyro_pl.core.pl``);
- its ``sample_kernel``, one move with its re-estimate, snapshot and non-finite branches,
  with ``on_nonfinite="raise"`` (the default) and ``"rollback"`` (which recomputes a
  gradient and redraws the momentum), and with ``white_noise="normal"``;

each traced afresh and compiled ``--repeats`` times, interleaved, and reports the median
seconds and their ratio to the bare gradient's, which takes out most of the machine's speed.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/compile_time.py [--sizes 1e4 1e5] [--repeats 5] [--out NAME]
(about 5 minutes with ``--repeats 3`` on a slower 2-core machine); writes
benchmarks/results/<NAME>.md (default ``compile_time``), with the commit of the package that
was compiled.
"""

import argparse
import statistics
import time

import jax
from environment import write_results
from jax import random
from move_overhead import SIZES, B, kspin_data, mlp_model, potential_gen
from numpyro.infer.util import initialize_model

from numpyro_pl.core import pl

NUM_WARMUP = 10  # any positive count: the step is compiled, not run


def compile_seconds(fn, *args) -> float:
    """Seconds that XLA takes to compile ``jax.jit(fn)`` for ``args`` (tracing excluded)."""
    lowered = jax.jit(fn).lower(*args)
    start = time.perf_counter()
    lowered.compile()
    return time.perf_counter() - start


def programs(widths):
    """``{row label: thunk}``: each thunk traces a fresh program and returns its compile
    seconds."""
    X, y = kspin_data(random.key(0))
    model = mlp_model(widths)
    gen = potential_gen(model, X, y, B)
    init_params = initialize_model(random.key(1), model, model_args=(X, y))[0].z
    key = random.key(2)

    def bare_row():
        def bare(z, key, X, y):  # defined afresh: JAX caches a program by its function
            return jax.value_and_grad(gen(X, y))(z, key)

        return compile_seconds(bare, init_params, key, X, y)

    def core(**kwargs):
        init_kernel, sample_kernel = pl(potential_fn_gen=gen, **kwargs)
        state = init_kernel(init_params, NUM_WARMUP, key, (X, y))
        return init_kernel, sample_kernel, state

    def init_row():
        init_kernel, _, _ = core()
        return compile_seconds(
            lambda z, key, X, y: init_kernel(z, NUM_WARMUP, key, (X, y)), init_params, key, X, y
        )

    def step_row(**kwargs):
        def run():
            _, sample_kernel, state = core(**kwargs)
            return compile_seconds(lambda s, X, y: sample_kernel(s, (X, y)), state, X, y)

        return run

    return {
        "bare value_and_grad": bare_row,
        "init_kernel": init_row,
        "sample_kernel": step_row(),
        'sample_kernel, on_nonfinite="rollback"': step_row(on_nonfinite="rollback"),
        'sample_kernel, white_noise="normal"': step_row(white_noise="normal"),
    }


def bench(size, repeats):
    rows = programs(SIZES[size])
    times = {label: [] for label in rows}
    for _ in range(repeats):
        for label, run in rows.items():
            times[label].append(run())
    bare = statistics.median(times["bare value_and_grad"])
    return [
        (size, label, statistics.median(t), statistics.median(t) / bare, min(t), max(t))
        for label, t in times.items()
    ]


def table(results):
    lines = [
        "| N | program | compile s, median | ÷ bare gradient | min–max s |",
        "|---|---|---:|---:|---:|",
    ]
    for size, label, median, ratio, low, high in results:
        lines.append(f"| {size} | {label} | {median:.2f} | {ratio:.1f} | {low:.2f}–{high:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["1e4", "1e5"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="compile_time", help="results file name")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    text = table([row for size in args.sizes for row in bench(size, args.repeats)])
    print(text)
    write_results(args.out, "Compile time of a move", text)


if __name__ == "__main__":
    main()
