"""Where the time of one PseudoLangevin move goes, operation by operation, next to the bare
minibatch gradient.

XLA on the CPU runs a compiled loop as a sequence of *thunks* (fused kernels, matrix
products, nested loops, copies). With ``--xla_cpu_enable_xprof_traceme=true`` each thunk is
an event in a ``jax.profiler`` trace. This script traces ``MOVES`` iterations of the same
jitted loops as ``benchmarks/move_overhead.py`` (the bare ``value_and_grad`` of the kernel's
own minibatch potential, and ``kernel.sample`` from the state 200 moves after
``kernel.init``), sums each thunk's time per iteration and names it by the source operation
that the compiled HLO records for it (``op_name``, shortened).

The trace itself slows every thunk (a few microseconds each), so the times here show what a
move is made of, not the move/grad ratio: that is ``benchmarks/move_overhead.py``'s job. A
nested loop's time includes the thunks inside it, which are also listed on their own, so the
rows do not add up to the total.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/move_profile.py [--size 1e5] [--top 30] [--out NAME]
(about 1 minute at 1e5 on 2 cores); writes benchmarks/results/<NAME>.md (default
``move_profile_<size>``).
"""

import argparse
import collections
import gzip
import json
import os
import re
import sys
import tempfile
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
    jitted_loop,
    kspin_data,
    mlp_model,
    past_first_check,
    potential_gen,
)

from numpyro_pl import PseudoLangevin

MOVES = 300  # traced iterations of each loop
_OP_NAME = re.compile(r'^\s*(?:ROOT )?%([\w.\-]+) = .*op_name="([^"]*)"')


def op_names(hlo_text):
    """``{instruction name: op_name}`` of a compiled HLO module, prefixes of the loop and
    of ``jit(...)`` wrappers dropped."""
    names = {}
    for line in hlo_text.splitlines():
        m = _OP_NAME.match(line)
        if m:
            short = re.sub(r"^jit\(<lambda>\)/(while/body/)?", "", m.group(2))
            names[m.group(1)] = short.replace("while/body/", "loop/")
    return names


def thunk_times(fn, carry, moves):
    """``{thunk name: (microseconds per iteration, calls per iteration)}`` from a trace of
    ``fn(carry, moves)``, compiled and run once before."""
    jax.block_until_ready(fn(carry, moves))
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp, create_perfetto_trace=True):
            jax.block_until_ready(fn(carry, moves))
        (path,) = Path(tmp).rglob("*.trace.json.gz")
        events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    total, calls = collections.Counter(), collections.Counter()
    for e in events:
        name = e.get("name", "")
        if e.get("ph") == "X" and not name.startswith(("$", "end: ")):
            total[name] += e["dur"]
            calls[name] += 1
    return {k: (total[k] / moves, calls[k] / moves) for k in total}


def profile(fn, carry, moves):
    """Thunks of the loop ``fn`` with their op names; the per-iteration time of the loop's
    executor as ``"total"``."""
    times = thunk_times(fn, carry, moves)
    names = op_names(fn.lower(carry, moves).compile().as_text())
    rows = {k: (*v, names[k]) for k, v in times.items() if k in names}
    total = times.get("ThunkExecutor::Execute (wait for completion)", (0.0, 0.0))[0]
    return rows, total


def markdown(title, rows, total, top):
    lines = [
        f"**{title}**: {total:.0f} µs per iteration in the trace (the loop's executor, "
        "thunks and waits)\n",
        "| thunk | µs per iteration | calls per iteration | operation (HLO `op_name`) |",
        "|---|---:|---:|---|",
    ]
    for name, (us, calls, op) in sorted(rows.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"| `{name}` | {us:.1f} | {calls:g} | `{op[:90]}` |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="1e5")
    parser.add_argument("--top", type=int, default=30, help="rows of each table")
    parser.add_argument("--out", default=None, help="results file name")
    args = parser.parse_args()
    # read when JAX starts its CPU backend, at the first computation below: a trace event
    # per thunk
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true"
    ).strip()
    model = mlp_model(SIZES[args.size])
    X, y = kspin_data(random.key(42))
    kernel = PseudoLangevin(model, batch_size=B, temperature=TEMPERATURE)
    state = past_first_check(kernel, kernel.init(random.key(0), 0, None, (X, y), {}), X, y)
    bare_body = bare_gradient_body(potential_gen(model, X, y, B)(X, y))
    moves = jnp.int32(MOVES)
    bare = profile(jitted_loop(bare_body), (state.z, jnp.float32(0)), moves)
    move = profile(jitted_loop(lambda i, s: kernel.sample(s, (X, y), {})), state, moves)
    text = markdown("bare grad", *bare, args.top) + "\n" + markdown("pL move", *move, args.top)
    print(text)
    out = Path(__file__).parent / "results" / f"{args.out or 'move_profile_' + args.size}.md"
    out.write_text(
        f"# Thunk profile of a PseudoLangevin move\n\n- {machine()}\n"
        f"- command: `{' '.join(['python', *sys.argv])}`\n- {MOVES} traced iterations of "
        f"each loop; trace overhead included (see the script's docstring)\n\n{text}"
    )


if __name__ == "__main__":
    main()
