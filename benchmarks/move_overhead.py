"""Cost of one PseudoLangevin move against one bare minibatch gradient.

Model: the paper's MLP, 100 inputs -> hidden widths -> 10 outputs, ReLU after every layer
(logits too), Normal(0, 1) priors on each weight and bias (sites W1, b1, ...), categorical
likelihood on P = 100,000 KSpin-like examples (10 random +-1 references in d = 100, entries
flipped with probability 0.355), minibatch B = 128 of a full-data plate.

Every time is per iteration, by differencing: a jitted loop of n iterations (n traced, one
compilation) is timed at n1 and n2, and (t2 - t1) / (n2 - n1) cancels the fixed costs. Each
repeat times every row in turn; a ratio to the bare gradient is taken within each repeat and
reported as its median and quartiles over the repeats, the times as medians.

- bare grad: ``jax.value_and_grad(potential_fn)(z, key_i)``, the kernel's own minibatch
  potential, fresh key per step, ``z += 0 * grad`` carried so nothing is hoisted or dropped;
- pL move: ``kernel.sample(state, (X, y), {})`` from ``kernel.init`` and 200 moves, with the
  default white noise (signs from a counter hash) and with ``white_noise="normal"``. No sigma^2
  re-estimate falls in the window (the chain is hot from its start, and the hot check's
  estimate at move 101 is behind it; a warning says if one does); its cost is measured apart:
- sigma^2 schedule: the chain run for ``SCHEDULE_MOVES`` moves from ``kernel.init`` (no warmup),
  in jitted chunks, under each ``grad_var_criterion``, with ``on_nonfinite="rollback"`` so that
  a runaway does not end the run (``benchmarks/schedule_share.py`` reports its trace); the
  gradients spent on estimates are counted from ``num_grad_evals`` (each estimate: its draws x
  one bare gradient), with the interval the schedule reached. The amortised ratio adds that
  measured share to the move. The projection to ``--run-length`` moves assumes every later
  estimate lets the interval grow (5 000, 10 000, ... up to 50 000 moves) at the measured
  draws per estimate;
- noise draws: ``rademacher_like`` and ``standard_normal_like`` over all parameters;
- micro-batch gradients: the cost that the running-variance estimator of method.md would put
  on every move: ``jax.vmap`` of ``value_and_grad`` over ``MICRO`` = 4 micro-batches of
  B/4, their mean and a running sum of squared deviations, carried like the bare grad;
- MCMC: ``MCMC(kernel, num_warmup=0, num_samples=n, progress_bar=...).run`` timed whole,
  from the same state (``post_warmup_state``: the eager ``kernel.init`` is not repeated).
  Without a progress bar every call recompiles the loop; that cost is in both timings and
  cancels (the fixed s/call column shows it). With a bar, warm-up calls compile each n.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/move_overhead.py [--sizes 1e4 1e5 1e6] [--quick] [--out NAME]
        [--schedule-moves N] [--criteria rms max]
(default all three sizes, ~25 min on 2 cores); writes benchmarks/results/<NAME>.md
(default ``move_overhead``). ``--schedule-moves`` replaces ``SCHEDULE_MOVES`` for every size,
to measure the σ² share over a longer run; ``--criteria`` picks the schedule runs, and the
main table's column "incl. measured σ² estimates" uses the first. On a GPU the same
command times the GPU (``jax.default_backend``).
"""

import argparse
import contextlib
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from environment import machine
from jax import lax, random
from numpyro.infer import MCMC
from numpyro.infer.initialization import init_to_uniform

from numpyro_pl import PseudoLangevin
from numpyro_pl.core import SNAPSHOT_INTERVAL
from numpyro_pl.noise import change_beyond_sampling, mean_square_change
from numpyro_pl.potential import minibatch_potential
from numpyro_pl.white_noise import rademacher_like, standard_normal_like

SIZES = {"1e4": [50, 100], "1e5": [500, 100], "1e6": [5000, 100]}
WINDOWS = [(100, 500), (300, 2300)]  # (n1, n2) of the jitted loops and of MCMC.run
D, K, P, B, FLIP, TEMPERATURE = 100, 10, 100_000, 128, 0.355, 1.0
MICRO = 4  # micro-batches per minibatch, for the running-variance estimator's cost
SCHEDULE_MOVES = {"1e4": 200_000, "1e5": 100_000, "1e6": 40_000}
SCHEDULE_CHUNK = 1_000  # at most one estimate per chunk: the shortest interval is 5 000
CRITERIA = ("rms", "max")
REPEATS = 15  # timing repeats of every row, interleaved


def kspin_data(key):
    k_ref, k_lab, k_flip = random.split(key, 3)
    refs = random.rademacher(k_ref, (K, D), jnp.float32)
    y = random.randint(k_lab, (P,), 0, K)
    return refs[y] * jnp.where(random.bernoulli(k_flip, FLIP, (P, D)), -1.0, 1.0), y


def mlp_model(widths):
    dims = [D, *widths, K]

    def model(X, y):
        layers = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True), 1):
            W = numpyro.sample(f"W{i}", dist.Normal(0, 1).expand([a, b]).to_event(2))
            layers.append((W, numpyro.sample(f"b{i}", dist.Normal(0, 1).expand([b]).to_event(1))))
        with numpyro.plate("data", X.shape[0]) as idx:
            h = X[idx]
            for W, b in layers:
                h = jax.nn.relu(h @ W + b)
            numpyro.sample("y", dist.Categorical(logits=h), obs=y[idx])

    return model


def per_iteration(run, n1, n2):
    """(seconds per iteration, fixed seconds per call) from timing ``run(n1)``, ``run(n2)``."""
    t = [time.perf_counter(), run(n1), time.perf_counter(), run(n2), time.perf_counter()]
    slope = ((t[4] - t[2]) - (t[2] - t[0])) / (n2 - n1)
    return slope, t[2] - t[0] - n1 * slope


def jitted_loop(body):
    """``f(carry, n)``: a jitted fori_loop of ``body(i, carry)`` over a traced n."""
    return jax.jit(lambda c, n: lax.fori_loop(0, n, body, c))


def loop(body, carry0):
    """``run(n)``: ``jitted_loop(body)`` from ``carry0``, blocking."""
    f = jitted_loop(body)
    return lambda n: jax.block_until_ready(f(carry0, jnp.int32(n)))


def potential_gen(model, X, y, batch_size):
    """The kernel's minibatch potential of ``model``, as ``gen(X, y)(z, key)``."""
    return minibatch_potential(
        random.key(1),
        model,
        model_args=(X, y),
        batch_size=batch_size,
        init_strategy=init_to_uniform,
    ).potential_fn_gen


def bare_gradient_body(potential):
    """The loop body of the bare gradient: ``value_and_grad`` of the minibatch ``potential``
    with a fresh key per step, ``z += 0 * grad`` carried so nothing is hoisted or dropped."""

    def body(i, carry):
        z, acc = carry
        value, grad = jax.value_and_grad(potential)(z, random.fold_in(random.key(2), i))
        return jax.tree.map(lambda w, g: w + 0.0 * g, z, grad), acc + value

    return body


def mcmc_runner(mcmc, state, X, y):
    """``run(n)``: ``mcmc.run`` for n samples from ``state``, skipping ``kernel.init``."""
    mcmc.post_warmup_state = state

    def run(n):
        mcmc.num_samples = n
        with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):  # tqdm
            mcmc.run(random.key(3), X, y)
        jax.block_until_ready((mcmc.last_state, mcmc.get_samples(True)))

    return run


def bench(name, quick, schedule_moves=None, criteria=CRITERIA):
    model = mlp_model(SIZES[name])
    X, y = kspin_data(random.key(42))
    kernel = PseudoLangevin(model, batch_size=B, temperature=TEMPERATURE)
    state = past_first_check(kernel, kernel.init(random.key(0), 0, None, (X, y), {}), X, y)
    n_params = sum(v.size for v in jax.tree.leaves(state.z))
    large = n_params > 5e5
    # MCMC keeps every z: its windows are cut 10x at 10^6, the loops' only 2x
    (n1, n2), (mc1, mc2) = [
        (max(10, a // div), max(60, b // div))
        for (a, b), div in zip(WINDOWS, (2 if large else 1, 10 if large else 1), strict=True)
    ]
    if quick:
        n1, n2, mc1, mc2 = (
            max(10, n1 // 10),
            max(60, n2 // 10),
            max(10, mc1 // 10),
            max(60, mc2 // 10),
        )
    reps, mc_reps = (2, 1) if quick else (REPEATS, 2)

    micro_gen = potential_gen(model, X, y, B // MICRO)
    bare_body = bare_gradient_body(potential_gen(model, X, y, B)(X, y))

    normal_kernel = PseudoLangevin(
        model, batch_size=B, temperature=TEMPERATURE, white_noise="normal"
    )
    normal_state = past_first_check(
        normal_kernel, normal_kernel.init(random.key(0), 0, None, (X, y), {}), X, y
    )

    def micro_body(i, c):  # K micro-batch gradients, their mean, and a running variance
        z, var_sum, acc = c
        keys = random.split(random.fold_in(random.key(2), i), MICRO)
        values, grads = jax.vmap(jax.value_and_grad(micro_gen(X, y)), (None, 0))(z, keys)
        mean = jax.tree.map(lambda g: jnp.mean(g, 0), grads)
        var_sum = jax.tree.map(lambda v, g, m: v + jnp.sum((g - m) ** 2, 0), var_sum, grads, mean)
        return jax.tree.map(lambda w, g: w + 0.0 * g, z, mean), var_sum, acc + jnp.mean(values)

    def noise_body(draw, i, acc):
        noise = draw(random.fold_in(random.key(2), i), state.z)
        return acc + sum(jnp.sum(x) for x in jax.tree.leaves(noise))

    runs = {
        "grad": loop(bare_body, (state.z, jnp.float32(0))),
        "micro": loop(micro_body, (state.z, jax.tree.map(jnp.zeros_like, state.z), jnp.float32(0))),
        "move": loop(lambda i, s: kernel.sample(s, (X, y), {}), state),
        "move_normal": loop(lambda i, s: normal_kernel.sample(s, (X, y), {}), normal_state),
        "signs": loop(partial(noise_body, rademacher_like), jnp.float32(0)),
        "normal": loop(partial(noise_body, standard_normal_like), jnp.float32(0)),
    }
    [run(1) for run in runs.values()]  # compile
    est = [{k: per_iteration(run, n1, n2)[0] for k, run in runs.items()} for _ in range(reps)]
    t = {k: 1e3 * statistics.median(e[k] for e in est) for k in runs}
    # each repeat times every row in turn: its ratio to the bare gradient of the same repeat
    # cancels slow changes in the machine's speed; (lower quartile, median, upper quartile)
    t["ratio"] = {
        k: statistics.quantiles([e[k] / e["grad"] for e in est], n=4, method="inclusive")
        for k in ("move", "move_normal", "micro")
    }
    for row, start in (("move", state), ("move_normal", normal_state)):
        end = runs[row](n2)
        if bool(jnp.any(end.diverging)):
            print(f"WARNING [{name}]: the chain diverged; {row} times are not representative")
        if int(end.num_grad_evals) - int(start.num_grad_evals) != n2:
            print(f"WARNING [{name}]: a sigma^2 estimate fell in the {row} window")

    for pb in (False, True):
        run = mcmc_runner(MCMC(kernel, num_warmup=0, num_samples=mc1, progress_bar=pb), state, X, y)
        if pb:  # compiles once per MCMC object and n; without a bar, every run() recompiles
            run(mc1), run(mc2)
        est = [per_iteration(run, mc1, mc2) for _ in range(mc_reps)]
        t[f"mcmc{int(pb)}"], t[f"fixed{int(pb)}"] = map(statistics.median, zip(*est, strict=True))
    moves = schedule_moves or SCHEDULE_MOVES[name]
    schedule = {c: measure_schedule(model, X, y, moves, c) for c in criteria}
    print(f"done {name}", flush=True)
    return dict(size=name, params=n_params, schedule=schedule, **t)


def past_first_check(kernel, state, X, y, moves=2 * SNAPSHOT_INTERVAL):
    """``state`` after ``moves`` moves. From ``init_to_uniform`` the chain is hot, so the hot
    check at move 100 makes a sigma^2 estimate due at move 101; timing windows that start
    after it hold no estimate (checked after timing, from ``num_grad_evals``)."""
    return loop(lambda i, s: kernel.sample(s, (X, y), {}), state)(moves)


def measure_schedule(
    model,
    X,
    y,
    moves,
    criterion,
    init_params=None,
    num_warmup=0,
    temperature=TEMPERATURE,
    kernel_options=None,
):
    """Run ``moves`` moves at ``temperature`` from ``kernel.init`` (at ``init_params``,
    default ``init_to_uniform``) and ``num_warmup`` warmup moves; count the gradients spent on
    sigma^2 after the warmup. The estimate that ends the warmup, made at the first move after
    it, is counted with the warmup. The kernel runs with ``on_nonfinite="rollback"``, so that
    a chain that runs away goes on from its last snapshot (with a fresh estimate, counted)
    and the run ends with numbers; ``nonfinite`` counts such moves. ``kernel_options`` are
    further arguments of ``PseudoLangevin``.

    Returns the moves run after the warmup, the draws of the estimate in use when they
    start, the share of their gradients spent on later estimates, ``z``, the final position,
    and ``trace``: for each later estimate, the chunk's last move (counted from the end of
    the warmup), its draws, the interval it set, the statistics of
    :func:`schedule_statistics` (the schedule's is stable at most ``rtol^2`` = 0.01), and the
    kinetic temperature / T, |w|^2 and the non-finite moves so far there."""
    kernel = PseudoLangevin(
        model,
        batch_size=B,
        temperature=temperature,
        grad_var_criterion=criterion,
        on_nonfinite="rollback",
        **(kernel_options or {}),
    )
    state = kernel.init(random.key(0), num_warmup, init_params, (X, y), {})
    chunk = jitted_loop(lambda i, s: kernel.sample(s, (X, y), {}))
    if num_warmup:
        state = chunk(state, jnp.int32(num_warmup + 1))
    first_move, first_evals = int(state.i), int(state.num_grad_evals)
    initial_draws, trace = int(state.schedule.num_draws), []
    for _ in range(moves // SCHEDULE_CHUNK):
        before = state
        state = chunk(state, jnp.int32(SCHEDULE_CHUNK))
        extra = int(state.num_grad_evals) - int(before.num_grad_evals) - SCHEDULE_CHUNK
        if extra:
            trace.append(
                dict(
                    move=int(state.i) - first_move,
                    draws=extra,
                    interval=int(state.schedule.interval),
                    **schedule_statistics(
                        state.grad_var, before.grad_var, state.schedule, before.schedule
                    ),
                    t_kin=float(state.kinetic_temperature) / temperature,
                    w2=float(sum(jnp.sum(w**2) for w in jax.tree.leaves(state.z))),
                    nonfinite=int(state.num_nonfinite),
                )
            )
            print("σ² estimate:", trace[-1], flush=True)
    done = int(state.i) - first_move
    return dict(
        moves=done,
        initial_draws=initial_draws,
        trace=trace,
        z=state.z,
        nonfinite=int(state.num_nonfinite),
        share=(int(state.num_grad_evals) - first_evals - done) / done,
    )


def schedule_statistics(new_var, old_var, new, old):
    """Statistics of two independent sigma^2 estimates, ``new_var`` and ``old_var``, whose
    draws and halves ``new`` and ``old`` hold (``GradVarEstimate``s or the kernel's
    ``ScheduleState``s): the schedule's test statistic,
    ``numpyro_pl.noise.change_beyond_sampling`` (``change``, stable at most ``rtol^2`` =
    0.01); the mean square change of sigma with each relative change capped at 1,
    ``numpyro_pl.noise.mean_square_change`` (``capped_change``); the statistic of earlier
    versions, uncapped, less the Gaussian floor (1/n_new + 1/n_old)/2 (``uncapped_change``);
    and the number of components whose sigma^2 rose more than 100-fold (``jumps``)."""
    pairs = list(zip(jax.tree.leaves(new_var), jax.tree.leaves(old_var), strict=True))
    uncapped = sum(jnp.sum((jnp.sqrt(a / b) - 1.0) ** 2) for a, b in pairs)
    floor = sum(0.5 / int(e.num_draws) for e in (new, old))
    return dict(
        change=float(change_beyond_sampling(new.halves, old.halves)),
        capped_change=float(mean_square_change(new_var, old_var)),
        uncapped_change=float(uncapped) / sum(a.size for a, _ in pairs) - floor,
        jumps=int(sum(jnp.sum(a > 100 * b) for a, b in pairs)),
    )


def num_estimates(run_length, first=5_000, step=5_000, largest=50_000):
    """Re-estimates in ``run_length`` moves under the reference schedule, every estimate
    stable: intervals first, first + step, ..., up to largest."""
    count, moves, interval = 0, 0, first
    while moves + interval <= run_length:
        count, moves, interval = count + 1, moves + interval, min(interval + step, largest)
    return count


def markdown(head, body):
    return "\n".join([f"| {head} |", "|---" + "|---:" * head.count("|") + "|", *body]) + "\n"


def spread(quartiles):
    """``median (lower-upper quartile)``."""
    q1, median, q3 = quartiles
    return f"{median:.3f} ({q1:.3f}-{q3:.3f})"


def tables(rows, run_length):
    estimates = num_estimates(run_length)

    def projected(sched):  # share of gradients over run_length moves, all estimates stable
        draws = [sched["initial_draws"], *(t["draws"] for t in sched["trace"])]
        return estimates * statistics.mean(draws) / run_length

    main = markdown(
        "size | N params | B | bare grad ms | pL move ms | move/grad (quartiles) "
        "| incl. measured σ² estimates | pL move, normal noise ms "
        "| move/grad, normal noise | sign draw ms | normal draw ms",
        [
            f"| {r['size']} | {r['params']:,} | {B} | {r['grad']:.3f} | {r['move']:.3f} "
            f"| {spread(r['ratio']['move'])} "
            f"| {r['ratio']['move'][1] + next(iter(r['schedule'].values()))['share']:.3f} "
            f"| {r['move_normal']:.3f} "
            f"| {r['ratio']['move_normal'][1]:.2f} | {r['signs']:.3f} | {r['normal']:.3f} |"
            for r in rows
        ],
    )
    driver = markdown(
        "size | MCMC(progress_bar=False) ms/move | MCMC(progress_bar=True) ms/move "
        "| MCMC.run fixed s/call (False / True)",
        [
            f"| {r['size']} | {1e3 * r['mcmc0']:.3f} | {1e3 * r['mcmc1']:.3f} "
            f"| {r['fixed0']:.1f} / {r['fixed1']:.1f} |"
            for r in rows
        ],
    )
    reest = markdown(
        "size | grad_var_criterion | moves run | draws per estimate (init, then each) "
        "| intervals reached | share of gradients on σ² | move/grad incl. σ² "
        f"| projected over {run_length:,} moves",
        [
            f"| {r['size']} | {c} | {s['moves']:,} | {s['initial_draws']}; "
            f"{', '.join(str(t['draws']) for t in s['trace']) or '-'} "
            f"| {', '.join(str(t['interval']) for t in s['trace']) or '-'} "
            f"| {100 * s['share']:.2f}% "
            f"| {r['ratio']['move'][1] + s['share']:.3f} "
            f"| {100 * projected(s):.2f}% of a grad |"
            for r in rows
            for c, s in r["schedule"].items()
        ],
    )
    micro = markdown(
        f"size | bare grad ms | {MICRO} micro-batch grads + running variance ms | / bare grad",
        [
            f"| {r['size']} | {r['grad']:.3f} | {r['micro']:.3f} | {r['ratio']['micro'][1]:.2f} |"
            for r in rows
        ],
    )
    return (
        f"{main}\nInside `MCMC.run` (every sample collected, no thinning):\n\n{driver}\n"
        f"σ² estimates, measured: the chain run from `kernel.init` without warmup; the "
        f"share counts the estimates after the initial one (the projection assumes "
        f"{estimates} stable estimates in {run_length:,} moves):\n\n{reest}\n"
        f"The micro-batch estimator's gradient (method.md: the minibatch split in {MICRO}, "
        f"their gradients in one vmapped call, their mean for the move and a running "
        f"variance), without the rest of the move:\n\n{micro}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=sorted(SIZES))
    parser.add_argument("--run-length", type=float, default=1e6, help="moves, for amortising")
    parser.add_argument("--out", default="move_overhead", help="results file name")
    parser.add_argument("--quick", action="store_true", help="small n, fewer repeats")
    parser.add_argument(
        "--schedule-moves", type=int, default=None, help="moves of the σ² schedule run"
    )
    parser.add_argument(
        "--criteria", nargs="+", choices=CRITERIA, default=CRITERIA, help="of the schedule run"
    )
    args = parser.parse_args()
    header = f"- {machine()}; load average at start: {os.getloadavg()[0]:.2f}\n"
    command = " ".join(["python", *sys.argv])
    rows = [bench(name, args.quick, args.schedule_moves, args.criteria) for name in args.sizes]
    text = tables(rows, int(args.run_length))
    print(text)
    out = Path(__file__).parent / "results" / f"{args.out}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        f"# PseudoLangevin move overhead\n\n{header}- command: `{command}`\n"
        f"- load average at end: {os.getloadavg()[0]:.2f}; T = {TEMPERATURE}, P = {P:,}; "
        f"ratios within each repeat: median (quartiles) over {REPEATS} repeats\n\n{text}"
    )


if __name__ == "__main__":
    main()
