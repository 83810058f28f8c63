"""PseudoLangevin against BlackJAX's SGLD and SGHMC on the conjugate Bayesian linear regression.

Same model, data, minibatch and temperature for all: the regression of tests/test_statistics.py
(imported, not copied: N = 2000, D = 3 + intercept, Normal(0, 1) priors, noise sd 1, B = 100)
at T = 1, whose exact posterior mean and sd are known (``exact_posterior``).

Samplers (every move costs one minibatch gradient):

- pL: ``PseudoLangevin(regression, batch_size=B, temperature=1)`` with its defaults
  (r = 0.01, m1 = 0.1), run by ``MCMC(..., chain_method="vectorized")``; its warmup re-matches
  the masses, and sigma^2 re-estimates during sampling are counted in its cost.
- SGLD: ``blackjax.sgld(grad).step``, one fresh minibatch per step.
- SGHMC: BlackJAX's SGHMC with its defaults alpha = 0.01, beta = 0 (no noise correction):
  L = ``num_integration_steps`` explicit Euler steps (x += h p, then p += -alpha h p + h grad
  log p(x_old) + noise), the momentum redrawn from N(0, 1) at the start of every L moves, as
  ``blackjax.sghmc.step`` does. That step hides the momentum and reuses one minibatch for its
  L gradients, so the loop here replays its kernel (same integrator
  ``blackjax.sgmcmc.diffusions.sghmc``, same random keys) with one fresh minibatch per
  gradient and records the momentum; with one minibatch repeated L times it reproduces
  ``blackjax.sghmc.step`` exactly (checked at start-up).

The BlackJAX gradient is the kernel's own minibatch potential,
``numpyro_pl.potential.minibatch_potential(regression, batch_size=B)``: U(z, key) with B
indices drawn with replacement from ``key`` and NumPyro's N/B plate scale. It is wrapped as a
BlackJAX ``grad_estimator(position, minibatch) = -grad U(position, minibatch)`` whose
"minibatch" is that key, so all three samplers see the same stochastic gradient.

Peers' tuning: a grid of step sizes (``--sgld-steps``) and of SGHMC (step size, L) pairs
(``--sghmc-grid h:L ...``; L = 10 is BlackJAX's default), every point reported. Marked per
peer: "speed" = best min-ESS/s; "accuracy" = smallest |T_conf - 1| + 2 MCSE. All chains of
the peers start from the same uniform(-2, 2) draws (init_to_uniform's distribution) and run
the same burn-in as pL's warmup.

Reported per sampler:

- ms/move: one chain, a jitted ``fori_loop`` of n moves (n traced), timed at n1 and n2 and
  differenced, median of interleaved repeats (as move_overhead.py); ratios from the same run.
  pL's sigma^2 re-estimates add (grads/move - 1) bare gradients per move.
- T_kin/T: pL's ``kinetic_temperature`` field; SGHMC: mean p^2 per coordinate over every move
  (unit mass); SGLD has no momentum.
- var ratio: mean over coordinates of sd_sampled^2 / sd_exact^2.
- T_conf/T: <(w - mu) . grad U(w)> / (n T), with the full-data grad U(w) = A (w - mu) (A the
  posterior precision at T = 1, mu the exact mean), exact for the Gaussian posterior.
- each temperature with its MCSE (``az.mcse`` on the per-draw statistic, chains x draws).
- mean err: max over coordinates of |mean - exact| / exact sd (expected ~1/sqrt(ESS)).
- ESS: ``az.ess`` per coordinate, min and median; ESS/s = ESS / (chains x moves x s/move),
  i.e. the chains as if run one after another at the single-chain cost.

Run from the repository root after ``pip install -e ".[benchmarks]"``:
    python benchmarks/sgmcmc_peers.py [--quick] [--chains C --burn B --moves M]
(default ~7-8 min of CPU on 2 cores; --quick ~1 min, writes *_quick files); writes
benchmarks/results/sgmcmc_peers.md and .json.
"""

import argparse
import functools
import json
import os
import statistics
import sys
import time
from pathlib import Path

import arviz as az
import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.sgmcmc.diffusions import sghmc as sghmc_integrator
from blackjax.util import generate_gaussian_noise
from environment import machine
from jax import lax, random
from numpyro.infer import MCMC
from numpyro.infer.initialization import init_to_uniform

from numpyro_pl import PseudoLangevin
from numpyro_pl.potential import minibatch_potential

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_statistics import (  # noqa: E402
    BATCH,
    NOISE_SD,
    PRIOR_SD,
    N,
    exact_posterior,
    regression,
    regression_data,
    stacked,
)

TEMPERATURE = 1.0
SGHMC_ALPHA = 0.01  # blackjax.sghmc default (beta = 0)
SETTINGS = {  # moves are minibatch gradients per chain
    "default": dict(chains=16, burn=20_000, moves=160_000, thin=20, reps=5),
    "quick": dict(chains=4, burn=2_000, moves=8_000, thin=20, reps=1),
}
SGLD_STEPS = [3e-7, 1e-6, 3e-6, 1e-5]
SGHMC_GRID = ["3e-4:10", "1e-3:10", "1e-4:100", "3e-4:100"]  # step_size:L
WINDOW = (2_000, 22_000)  # (n1, n2) moves of the differenced timing loops
RESULTS = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------- samplers


def make_grad(X, y):
    """BlackJAX grad_estimator from the kernel's own minibatch potential: the "minibatch" is
    the PRNG key that draws the B indices."""
    potential_fn = minibatch_potential(
        random.key(1),
        regression,
        model_args=(X, y),
        batch_size=BATCH,
        init_strategy=init_to_uniform,
    ).potential_fn_gen(X, y)

    def grad_estimator(position, minibatch_key):
        return jax.tree.map(jnp.negative, jax.grad(potential_fn)(position, minibatch_key))

    return grad_estimator


def sgld_call(grad_estimator):
    """One SGLD move: ``(key, z, h) -> (z, nan)``."""
    step = blackjax.sgld(grad_estimator).step

    def call(key, z, h):
        k_noise, k_batch = random.split(key)
        return step(k_noise, z, k_batch, h, TEMPERATURE), jnp.float32(jnp.nan)

    return call


def sghmc_replay(grad_estimator, L):
    """``blackjax.sgmcmc.sghmc.build_kernel``'s kernel, with one minibatch key per gradient
    and the sum of p^2 over its L moves returned."""
    integrator = sghmc_integrator(SGHMC_ALPHA, 0.0)

    def kernel(key, z, batch_keys, h):
        momentum = generate_gaussian_noise(key, z)

        def body(carry, keys):
            z, p = carry
            z, p = integrator(keys[0], z, p, grad_estimator(z, keys[1]), h, TEMPERATURE)
            return (z, p), sum(jnp.sum(x**2) for x in jax.tree.leaves(p))

        (z, _), p2 = lax.scan(body, (z, momentum), (random.split(key, L), batch_keys))
        return z, jnp.sum(p2)

    return kernel


def sghmc_call(grad_estimator, L):
    """One SGHMC call = L moves: ``(key, z, h) -> (z, sum of p^2)``."""
    kernel = sghmc_replay(grad_estimator, L)

    def call(key, z, h):
        k_kernel, k_batch = random.split(key)
        return kernel(k_kernel, z, random.split(k_batch, L), h)

    return call


def check_sghmc_replay(grad_estimator, z, L):
    """The replay, given one minibatch L times, must be ``blackjax.sghmc.step``."""
    key, batch, h = random.key(11), random.key(12), 1e-3
    ours = sghmc_replay(grad_estimator, L)(key, z, jnp.broadcast_to(batch, (L,)), h)[0]
    theirs = blackjax.sghmc(grad_estimator, L, SGHMC_ALPHA).step(key, z, batch, h)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@functools.cache
def chains_fn(call, per_call, n_params, thin_calls, n_draws):
    """Jitted ``(z0, keys, h) -> (positions, mean p^2)`` over vmapped chains, each a scan of
    n_draws draws of thin_calls calls; p^2 is averaged per coordinate over each window."""

    def chain(z, key, h):
        def draw(z, key):
            def inner(i, c):
                z, p2 = c
                z, q2 = call(random.fold_in(key, i), z, h)
                return z, p2 + q2

            z, p2 = lax.fori_loop(0, thin_calls, inner, (z, jnp.float32(0)))
            return z, (z, p2 / (thin_calls * per_call * n_params))

        return lax.scan(draw, z, random.split(key, n_draws))[1]

    return jax.jit(jax.vmap(chain, in_axes=(0, 0, None)))


def run_peer(call, per_call, z0, key, h, cfg):
    """Chains x (burn + moves) moves, thinned by ``thin`` moves rounded up to whole calls;
    returns (positions, mean p^2 per window) after the burn-in, and the moves kept."""
    thin_calls = max(1, round(cfg["thin"] / per_call))
    thin = thin_calls * per_call
    n_keep, n_burn = cfg["moves"] // thin, cfg["burn"] // thin
    n_params = sum(x.size for x in jax.tree.leaves(z0)) // cfg["chains"]
    run = chains_fn(call, per_call, n_params, thin_calls, n_burn + n_keep)
    z, p2 = run(z0, random.split(key, cfg["chains"]), h)
    return np.asarray(stacked(z))[:, n_burn:], np.asarray(p2)[:, n_burn:], n_keep * thin


def run_pl(X, y, cfg):
    kernel = PseudoLangevin(regression, batch_size=BATCH, temperature=TEMPERATURE)
    mcmc = MCMC(
        kernel,
        num_warmup=cfg["burn"],
        num_samples=cfg["moves"],
        thinning=cfg["thin"],
        num_chains=cfg["chains"],
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(random.key(0), X, y, extra_fields=("kinetic_temperature", "num_grad_evals"))
    extra = mcmc.get_extra_fields(group_by_chain=True)
    grads = np.asarray(extra["num_grad_evals"], np.float64)
    grads_per_move = float(np.mean(grads[:, -1] - grads[:, 0])) / (cfg["moves"] - cfg["thin"])
    samples = stacked(mcmc.get_samples(group_by_chain=True))
    return np.asarray(samples), np.asarray(extra["kinetic_temperature"]), grads_per_move


# ---------------------------------------------------------------- timing


def per_move(run, n1, n2):
    t = [time.perf_counter(), run(n1), time.perf_counter(), run(n2), time.perf_counter()]
    return ((t[4] - t[2]) - (t[2] - t[0])) / (n2 - n1)


def timings(X, y, grad_estimator, peers, reps):
    """Seconds per move (one chain), medians of interleaved differenced timings.
    ``peers``: {label: (call, moves per call, a stable step size)}."""
    kernel = PseudoLangevin(regression, batch_size=BATCH, temperature=TEMPERATURE)
    state = kernel.init(random.key(0), 0, None, (X, y), {})

    def loop(body, carry0, per_call=1):
        f = jax.jit(lambda c, n: lax.fori_loop(0, n, body, c))
        return lambda n: jax.block_until_ready(f(carry0, jnp.int32(n // per_call)))

    def grad_body(i, z):
        g = grad_estimator(z, random.fold_in(random.key(2), i))
        return jax.tree.map(lambda w, g: w + 0.0 * g, z, g)

    def peer_body(call, h):
        return lambda i, z: call(random.fold_in(random.key(2), i), z, h)[0]

    runs = {
        "grad": loop(grad_body, state.z),
        "pL": loop(lambda i, s: kernel.sample(s, (X, y), {}), state),
    }
    for label, (call, per_call, h) in peers.items():
        runs[label] = loop(peer_body(call, h), state.z, per_call)
    [run(WINDOW[0]) for run in runs.values()]  # compile
    est = [{k: per_move(run, *WINDOW) for k, run in runs.items()} for _ in range(reps)]
    return {k: statistics.median(e[k] for e in est) for k in runs}


# ---------------------------------------------------------------- statistics


def summarise(samples, kinetic, mean, sd, precision, seconds_per_move, moves):
    """samples (chains, draws, n); kinetic (chains, draws) or None."""
    if not np.all(np.isfinite(samples)):
        return dict(stable=False)
    n = samples.shape[-1]
    d = samples - mean
    conf = np.einsum("cti,ij,ctj->ct", d, precision, d) / (n * TEMPERATURE)
    var = np.mean((samples - samples.mean((0, 1))) ** 2 / sd**2, axis=-1)
    ess = np.array([float(az.ess(samples[..., i])) for i in range(n)])
    err = np.abs(samples.mean((0, 1)) - mean) / sd
    out = dict(
        stable=True,
        var_ratio=float(var.mean()),
        var_ratio_mcse=float(az.mcse(var)),
        t_conf=float(conf.mean()),
        t_conf_mcse=float(az.mcse(conf)),
        mean_err=float(err.max()),
        mean_err_z=float((err * np.sqrt(ess)).max()),
        ess_min=float(ess.min()),
        ess_median=float(np.median(ess)),
    )
    if kinetic is not None:
        out.update(t_kin=float(kinetic.mean()) / TEMPERATURE, t_kin_mcse=float(az.mcse(kinetic)))
    chain_seconds = samples.shape[0] * moves * seconds_per_move
    out.update(
        ess_s_min=out["ess_min"] / chain_seconds, ess_s_median=out["ess_median"] / chain_seconds
    )
    return out


def mark_picks(rows):
    """Per peer: "speed" = best min-ESS/s; "accuracy" = smallest abs(T_conf - 1) + 2 MCSE."""
    for label in dict.fromkeys(r["sampler"] for r in rows if r["step_size"] is not None):
        grid = [r for r in rows if r["sampler"] == label and r["stable"]]
        if not grid:
            continue
        max(grid, key=lambda r: r["ess_s_min"])["pick"] += " speed"
        error = [abs(r["t_conf"] - 1) + 2 * r["t_conf_mcse"] for r in grid]
        grid[int(np.argmin(error))]["pick"] += " accuracy"


# ---------------------------------------------------------------- output


def fmt(r, key, spec):
    if key not in r:
        return "-"
    if f"{key}_mcse" in r:
        return f"{r[key]:{spec}} ± {r[f'{key}_mcse']:{spec}}"
    return f"{r[key]:{spec}}"


def table(rows, pl_time):
    head = (
        "sampler | step size | pick | ms/move | vs pL | T_kin/T | var ratio | T_conf/T "
        "| max abs(mean-exact)/sd (x sqrt ESS) | ESS min / median | ESS/s min / median"
    )
    lines = [f"| {head} |", "|---" + "|---:" * head.count("|") + "|"]
    for r in rows:
        step = "-" if r["step_size"] is None else f"{r['step_size']:.0e}"
        common = f"| {r['sampler']} | {step} | {r['pick'].strip()} | {1e3 * r['s_move']:.4f} "
        common += f"| {r['s_move'] / pl_time:.2f} "
        if not r["stable"]:
            lines.append(common + "| non-finite | | | | | |")
            continue
        lines.append(
            common + f"| {fmt(r, 't_kin', '.4f')} | {fmt(r, 'var_ratio', '.4f')} "
            f"| {fmt(r, 't_conf', '.4f')} | {r['mean_err']:.3f} ({r['mean_err_z']:.2f}) "
            f"| {r['ess_min']:.0f} / {r['ess_median']:.0f} "
            f"| {r['ess_s_min']:.0f} / {r['ess_s_median']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def parse_grid(entries):
    """``h:L`` strings -> [(h, L)]."""
    return [(float(h), int(L)) for h, L in (e.split(":") for e in entries)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short chains, one timing repeat")
    parser.add_argument("--sgld-steps", nargs="+", type=float, default=SGLD_STEPS)
    parser.add_argument(
        "--sghmc-grid", nargs="+", default=SGHMC_GRID, help="step_size:num_integration_steps"
    )
    for name in ("chains", "burn", "moves"):
        parser.add_argument(f"--{name}", type=int, help=f"override the setting's {name}")
    args = parser.parse_args()
    cfg = dict(SETTINGS["quick" if args.quick else "default"])
    cfg.update({k: getattr(args, k) for k in ("chains", "burn", "moves") if getattr(args, k)})
    header = f"- {machine(blackjax, az)}; load average at start: {os.getloadavg()[0]:.2f}\n"
    command, start = " ".join(["python", *sys.argv]), time.perf_counter()

    X, y = regression_data()
    mean, sd = exact_posterior(X, y, TEMPERATURE)
    Xb = np.column_stack([np.asarray(X, np.float64), np.ones(N)])
    precision = Xb.T @ Xb / NOISE_SD**2 + np.eye(Xb.shape[1]) / PRIOR_SD**2
    grad_estimator = make_grad(X, y)

    key_init, key_run = random.split(random.key(7))
    z0 = {  # init_to_uniform's distribution, one start per chain
        "w": random.uniform(key_init, (cfg["chains"], 3), minval=-2.0, maxval=2.0),
        "b": random.uniform(random.fold_in(key_init, 1), (cfg["chains"],), minval=-2.0, maxval=2.0),
    }
    grid = [("SGLD", h, 1) for h in args.sgld_steps]
    grid += [(f"SGHMC L={L}", h, L) for h, L in parse_grid(args.sghmc_grid)]
    calls = {"SGLD": (sgld_call(grad_estimator), 1)}
    for label, _, L in grid[len(args.sgld_steps) :]:
        check_sghmc_replay(grad_estimator, jax.tree.map(lambda x: x[0], z0), L)
        calls[label] = (sghmc_call(grad_estimator, L), L)

    # the cost does not depend on h: time each peer at its smallest step size
    smallest = {label: min(h for g, h, _ in grid if g == label) for label in calls}
    t = timings(X, y, grad_estimator, {k: (*c, smallest[k]) for k, c in calls.items()}, cfg["reps"])
    print("ms/move:", {k: round(1e3 * v, 4) for k, v in t.items()}, flush=True)

    samples, kinetic, grads_per_move = run_pl(X, y, cfg)
    pl_cost = t["pL"] + (grads_per_move - 1) * t["grad"]
    rows = [dict(sampler="pL", step_size=None, L=None, pick="", s_move=pl_cost)]
    rows[0].update(summarise(samples, kinetic, mean, sd, precision, pl_cost, cfg["moves"]))
    print("done pL", flush=True)
    for label, h, L in grid:
        call, per_call = calls[label]
        samples, p2, moves = run_peer(call, per_call, z0, key_run, h, cfg)
        row = dict(sampler=label, step_size=h, L=L, pick="", s_move=t[label])
        kinetic = None if label == "SGLD" else p2
        row.update(summarise(samples, kinetic, mean, sd, precision, t[label], moves))
        rows.append(row)
        print(f"done {label} h={h:g}", flush=True)
    mark_picks(rows)

    text = table(rows, pl_cost)
    wall = time.perf_counter() - start
    notes = (
        f"- bare minibatch gradient: {1e3 * t['grad']:.4f} ms; pL move without re-estimates: "
        f"{1e3 * t['pL']:.4f} ms, with them {grads_per_move:.4f} grads/move (counted in its "
        f"ms/move)\n- settings: N = {N}, B = {BATCH}, T = {TEMPERATURE}, {cfg['chains']} chains x "
        f"({cfg['burn']:,} burn-in/warmup + {cfg['moves']:,}) moves, thinned by {cfg['thin']}; "
        f"pL defaults (r = 0.01, m1 = 0.1); SGHMC alpha = {SGHMC_ALPHA}, beta = 0\n"
        f"- grids: SGLD step sizes {args.sgld_steps}; SGHMC step_size:L {args.sghmc_grid}; "
        "speed = best min-ESS/s, accuracy = smallest abs(T_conf - 1) + 2 MCSE\n"
        f"- wall time {wall:.0f} s (process CPU time {time.process_time():.0f} s); load average "
        f"at end: {os.getloadavg()[0]:.2f}\n"
    )
    print(text + notes)
    RESULTS.mkdir(exist_ok=True)
    name = "sgmcmc_peers_quick" if args.quick else "sgmcmc_peers"
    (RESULTS / f"{name}.md").write_text(
        f"# PseudoLangevin vs BlackJAX SGLD / SGHMC (conjugate regression)\n\n{header}"
        f"- command: `{command}`\n{notes}\n{text}"
    )
    (RESULTS / f"{name}.json").write_text(
        json.dumps(
            dict(command=command, settings=cfg, grid=grid, timings_s=t, wall_s=wall, rows=rows),
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
