"""The memory floor of a PseudoLangevin move: what its elementwise passes cost when their
arrays come from main memory, against the bare minibatch gradient of the same run.

Beyond the bare gradient (``benchmarks/move_overhead.py``), a move makes two elementwise
passes over every parameter, the drift (reads w, pi, 1/M; writes w) and the kick (reads pi,
g, the noise amplitude; writes pi; the sign words are 1/32 of an array), in
``numpyro_pl/core.py`` and ``numpyro_pl/dynamics.py``. Its store of the gradient g reads and
writes as much as the bare gradient's own update of w. That makes eight more array touches,
8 x 4 bytes per parameter; XLA on the CPU fuses no two passes with different outputs. Once
these arrays and the gradient's own no longer fit in the cache together, the passes run at
the machine's memory bandwidth.

This script measures that bandwidth with the drift itself (``numpyro_pl.dynamics.drift``,
``w + dt * (s * p)`` with dt a traced scalar, as in the kernel) written back to w, over a pool
of arrays of N parameters each, 128 MB in all, visited in turn so that none is in the cache;
and the same update on one set of arrays, which stays in the cache. It
times the bare gradient and the move in the same repeats, and reports

    floor = 1 + 8 * 4 * N / (bandwidth * bare gradient time),

the ratio that the move would reach if its passes ran at the bandwidth and nothing else cost.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/pass_floor.py [--sizes 1e5 1e6] [--out NAME]
(about 3 minutes on 2 cores); writes benchmarks/results/<NAME>.md (default ``pass_floor``).
"""

import argparse
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
from environment import machine
from jax import lax, random
from move_overhead import (
    SIZES,
    TEMPERATURE,
    B,
    bare_gradient_body,
    kspin_data,
    loop,
    mlp_model,
    past_first_check,
    per_iteration,
    potential_gen,
)

from numpyro_pl import PseudoLangevin
from numpyro_pl.dynamics import drift

POOL_BYTES = 128 * 2**20  # four times the 32 MB cache of the machines used
EXTRA_TOUCHES = 8  # drift: 3 reads + 1 write; kick: 3 reads + 1 write
WINDOW = {"1e4": (200, 1200), "1e5": (100, 500), "1e6": (20, 80)}
REPEATS = 15


def streaming(n, sets):
    """``run(k)``: ``k * sets`` drifts, one over each of ``sets`` sets of n
    floats in turn in each of k iterations, as separate fusions (XLA splits each over the
    cores, as it does the drift)."""
    key_w, key_p, key_s = random.split(random.key(0), 3)
    w = tuple(random.normal(random.fold_in(key_w, j), (n,)) for j in range(sets))
    p, s = (random.normal(k, (sets, n)) for k in (key_p, key_s))

    def passes(w, p, s, step_size, k):
        def body(i, w):
            return tuple(drift(w[j], p[j], s[j], step_size) for j in range(sets))

        return lax.fori_loop(0, k, body, w)

    f = jax.jit(passes)
    return lambda k: jax.block_until_ready(f(w, p, s, jnp.float32(1.0), jnp.int32(k)))


def bench(name):
    model = mlp_model(SIZES[name])
    X, y = kspin_data(random.key(42))
    kernel = PseudoLangevin(model, batch_size=B, temperature=TEMPERATURE)
    state = past_first_check(kernel, kernel.init(random.key(0), 0, None, (X, y), {}), X, y)
    n = sum(x.size for x in jax.tree.leaves(state.z))
    sets = max(1, POOL_BYTES // (3 * 4 * n))
    runs = {
        "grad": loop(
            bare_gradient_body(potential_gen(model, X, y, B)(X, y)), (state.z, jnp.float32(0))
        ),
        "move": loop(lambda i, s: kernel.sample(s, (X, y), {}), state),
        "memory": streaming(n, sets),
        "cache": streaming(n, 1),
    }
    [run(1) for run in runs.values()]  # compile
    n1, n2 = WINDOW[name]
    est = [{k: per_iteration(run, n1, n2)[0] for k, run in runs.items()} for _ in range(REPEATS)]
    per_pass = {"memory": sets, "cache": 1}
    for e in est:
        e.update({k: e[k] / per_pass[k] for k in per_pass})
    t = {k: statistics.median(e[k] for e in est) for k in runs}
    bandwidth = {k: 4 * 4 * n / t[k] for k in per_pass}  # 3 reads + 1 write

    def floor(source):  # the extra touches at one pass's time per 4 touches, per repeat
        return statistics.median(1 + EXTRA_TOUCHES / 4 * e[source] / e["grad"] for e in est)

    print(f"done {name}", flush=True)
    return dict(
        size=name,
        params=n,
        sets=sets,
        grad=t["grad"],
        ratio=statistics.median(e["move"] / e["grad"] for e in est),
        memory=bandwidth["memory"],
        cache=bandwidth["cache"],
        floor=floor("memory"),
        floor_cache=floor("cache"),
    )


def table(rows):
    head = (
        "| size | N params | bare grad ms | move/grad, same run | bandwidth from memory GB/s "
        "| bandwidth in cache GB/s | floor from memory | floor in cache |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['params']:,} | {1e3 * r['grad']:.3f} | {r['ratio']:.3f} "
            f"| {r['memory'] / 1e9:.1f} | {r['cache'] / 1e9:.1f} | {r['floor']:.3f} "
            f"| {r['floor_cache']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["1e5", "1e6"])
    parser.add_argument("--out", default="pass_floor", help="results file name")
    args = parser.parse_args()
    text = table([bench(name) for name in args.sizes])
    print(text)
    out = Path(__file__).parent / "results" / f"{args.out}.md"
    out.write_text(
        f"# The memory floor of a move\n\n- {machine()}\n"
        f"- command: `{' '.join(['python', *sys.argv])}`\n"
        f"- medians over {REPEATS} repeats; floor = 1 + {EXTRA_TOUCHES} x 4 bytes x N / "
        "(bandwidth x bare gradient time), per repeat\n\n" + text
    )


if __name__ == "__main__":
    main()
