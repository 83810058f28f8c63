"""Reproduce Fig. 4 of the paper: the computational diffusion of pL against exact hMC.

d^2(Delta) = |w(t + Delta) - w(t)|^2, summed over all weights and averaged over the time
origins t of one chain (``numpyro_pl.diagnostics.diffusion``), is measured against the lag
Delta expressed in CPU seconds and in gradient evaluations, for

- PseudoLangevin on minibatches of B = 128, kernel defaults except
  ``warmup_reestimate_interval=10`` (the chains start at a trained network,
  docs/parameters.md) and ``on_nonfinite="rollback"`` (a non-finite move is counted and
  reported, not fatal), at T = P * T_paper with prior scale 1 / sqrt(lambda * P)
  (``numpyro_pl.paper_to_numpyro``), and
- NumPyro's HMC on the full data, on the potential of ``tempered(model, T)`` less its
  constant terms (``hmc_potential``: with them, float32 cannot resolve the energy error at
  these T; measured step sizes collapsed to 1e-6 at 1e4 and 3e-10 at 1e5): unit mass, a
  fixed number of leapfrog steps (``trajectory_length=None``), Metropolis-corrected, step
  size adapted by
  dual averaging in a short warmup of 2-step trajectories with target acceptance 0.95, then
  fixed (the acceptance of the measured run is reported). Full-length warmup trajectories cost
  too many full-batch gradients at 1e6 parameters, and 10-40 of them from the trained start
  gave far smaller step sizes (6e-7 at 1e4 and 1e5, acceptance 0.4-0.5 in the measured run,
  against 3e-4 and 5e-5 with acceptance 0.7 and 0.6 this way),

on KSpin (d = 100, K = 10) with the paper's three networks, 100 -> [50 | 500 | 5000, 100] ->
10, ReLU on every layer (11 160, 101 610 and 1 006 110 parameters) and lambda * N ~ 10
(lambda = 9e-4, 1e-4, 1e-5), at the paper's T_paper = 1e-6.

Protocol, per size. Both samplers start from the same point: a network trained by minibatch
Adam (B = 128) on the paper's loss, mean CE + lambda/2 |w|^2 (full-batch Adam at 1e6
parameters would cost more than the sampling). Each sampler then gets its warmup (not timed:
pL's sigma^2 estimates and re-estimates, hMC's step-size adaptation) and one measured run of
about the same CPU-time budget. With ``--equilibrate N``, pL first makes N untimed moves after
its warmup; hMC then adapts its step size and runs from where they took the chain, and pL
goes on from there (through its untimed sizing run). The d^2 of chains that are still relaxing
from the trained start grows with the relaxation, not the diffusion.

Times are process CPU seconds (``time.process_time``, all threads; less sensitive to other
jobs on the machine than wall time, which is recorded too) of the sampling only: the clock
starts when XLA has finished compiling ``MCMC.run``'s sampling loop (a ``jax.monitoring``
listener; without a progress bar numpyro recompiles that loop on every call, and on these 2
cores that takes 5-30 s) and stops after ``jax.block_until_ready(mcmc.get_samples())``. pL's
run is sized from a short calibration run (its samples are not used). Gradient evaluations
are counted as calls (pL: minibatch gradients from the ``num_grad_evals`` field, the sigma^2
re-estimates included; hMC: leapfrog steps) and as data-point gradients (B per minibatch
gradient, P per full-batch one).

The training set is P = 2 000 examples by default instead of the paper's 100 000: a full-batch
gradient of the 1e6-parameter network costs ~0.4 s at P = 2 000 on this machine, so hMC at the
paper's P would get one or two samples in the budget. A smaller P favours hMC: its cost per
gradient is proportional to P while, at fixed T_paper and B, what pL and hMC achieve per
gradient does not depend on P (U / T = U_paper / T_paper).

Run from the repository root after ``pip install -e .``:
    python benchmarks/diffusion_scaling.py [--sizes 1e4 1e5 1e6] [--num-train 2000]
        [--equilibrate N1 N2 N3] [--reference-mass-floor] [--quick]
(about 10 minutes alone on 2 cores). Results go to benchmarks/results/diffusion_scaling.{md,
png,json} (``--out`` renames them); ``--replot`` redraws the plot from the json. The paper's
curves are read from ``../shared/paper_data/Fig.4``.
"""

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from environment import machine
from jax import random
from numpyro.infer import HMC, MCMC
from numpyro.optim import Adam

from numpyro_pl import PseudoLangevin, bayesian_mlp, mlp_forward, paper_to_numpyro
from numpyro_pl.datasets import kspin_split
from numpyro_pl.diagnostics import diffusion

# size label: (hidden widths, lambda, CPU-second budget per sampler, hMC warmup iterations)
SIZES = {
    "1e4": ([50, 100], 9.0e-4, 40.0, 200),
    "1e5": ([500, 100], 1.0e-4, 60.0, 200),
    "1e6": ([5000, 100], 1.0e-5, 120.0, 200),
}
# Adam learning rate of the start: at 1e6, 1e-3 left the paper loss at 1.87 (P = 2 000) and
# pL went non-finite from there within its warmup; 2e-4 gave 0.96 and a stable chain
ADAM_LR = {"1e4": 1e-3, "1e5": 1e-3, "1e6": 2e-4}
# pL warmup moves. At 1e5, 100 moves from the Adam minimum left the masses far too light: the
# chain ran up to 100x too hot, |w|^2 jumping between 2e3 and 3e5, for ~8 000 moves (in one
# run 2e9 x too hot, without going non-finite); 1e4 and 1e6 were stable after 100
PL_WARMUP = {"1e4": 100, "1e5": 5000, "1e6": 100}
PAPER_N = {"1e4": 11160, "1e5": 101610, "1e6": 1006110}
B = 128
PAPER_DIR = Path(__file__).resolve().parents[2] / "shared" / "paper_data" / "Fig.4"
RESULTS = Path(__file__).resolve().parent / "results"
FIXED_SECONDS = 30.0  # the fixed CPU time of the comparison table
REFERENCE_GRAD_VAR_FLOOR = 1e-8  # the reference's sigma^2 floor, on the paper's mean loss


class LoopClock:
    """Process CPU and wall clocks read when XLA finishes compiling numpyro's sampling loop
    (``_fori_collect_loop``), so that a timed ``MCMC.run`` excludes its compilation."""

    def __init__(self):
        self.mark = None
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **kwargs):
        if event.endswith("backend_compile_duration") and "fori_collect" in str(
            kwargs.get("fun_name", "")
        ):
            self.mark = (time.process_time(), time.perf_counter(), duration)

    def run(self, mcmc, *args, **kwargs):
        """``mcmc.run``; return (CPU s, wall s, compile s) of its sampling loop."""
        self.mark = None
        mcmc.run(*args, **kwargs)
        jax.block_until_ready(mcmc.get_samples())  # run() returns before the loop has finished
        wall = time.perf_counter()
        if self.mark is None:
            raise RuntimeError("the sampling loop was not compiled: cannot split off compilation")
        return time.process_time() - self.mark[0], wall - self.mark[1], self.mark[2]


def he_init(widths, key):
    params = {}
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        key, sub = random.split(key)
        params[f"W{i}"] = random.normal(sub, (a, b)) * jnp.sqrt(2.0 / a)
        params[f"b{i}"] = jnp.zeros(b)
    return params


def paper_loss(params, X, y, weight_decay):
    logits = mlp_forward(params, X, activate_output=True)
    cost = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(y.shape[0]), y])
    return cost + 0.5 * weight_decay * sum(jnp.sum(v**2) for v in params.values())


def pretrain(widths, weight_decay, X, y, steps, key, lr=1e-3):
    """Minibatch (B = 128) Adam on the paper's loss from He-initialised weights."""
    key_init, key_batches = random.split(key)
    optimizer = Adam(lr)

    @jax.jit
    def train(state):
        def step(i, state):
            idx = random.randint(random.fold_in(key_batches, i), (B,), 0, X.shape[0])
            grads = jax.grad(paper_loss)(optimizer.get_params(state), X[idx], y[idx], weight_decay)
            return optimizer.update(grads, state)

        return jax.lax.fori_loop(0, steps, step, state)

    params = optimizer.get_params(train(optimizer.init(he_init(widths, key_init))))
    return jax.block_until_ready(params)


def gradient_cost(params, X, y, weight_decay, batch):
    """CPU seconds of one jitted gradient of the paper's loss on ``batch`` examples."""
    grad = jax.jit(jax.grad(paper_loss))
    Xb, yb = X[:batch], y[:batch]
    jax.block_until_ready(grad(params, Xb, yb, weight_decay))
    reps, start = 0, time.process_time()
    while reps < 3 or time.process_time() - start < 0.5:
        jax.block_until_ready(grad(params, Xb, yb, weight_decay))
        reps += 1
    return (time.process_time() - start) / reps


def grouped(samples):
    return jax.tree.map(lambda v: np.asarray(v)[None], samples)


def curve(samples, cpu, wall, grads_per_sample, data_grads_per_sample):
    """d^2 against lag, in CPU s, wall s, gradient calls and data-point gradients."""
    num = jax.tree.leaves(samples)[0].shape[0]
    lags = np.unique(np.geomspace(1, num - 1, 25).astype(int))
    res = diffusion(grouped(samples), lags=lags, seconds_per_sample=cpu / num)
    return {
        "lags": lags.tolist(),
        "d2": res.d2.tolist(),
        "cpu_s": res.seconds.tolist(),
        "wall_s": (lags * wall / num).tolist(),
        "grads": (lags * grads_per_sample).tolist(),
        "data_grads": (lags * data_grads_per_sample).tolist(),
        "num_samples": num,
        "cpu_total": cpu,
        "wall_total": wall,
        "grads_per_sample": grads_per_sample,
        "data_grads_per_sample": data_grads_per_sample,
    }


def max_draws(args, _, start):
    """Stored draws: at most --max-samples, and at most 1e8 values (d^2 costs draws x lags x
    parameters)."""
    n_params = sum(v.size for v in jax.tree.leaves(start))
    return max(args.min_samples, min(args.max_samples, int(1e8 / n_params)))


def equilibrate(kernel, state, moves, X, y, key):
    """``moves`` untimed pL moves from ``state`` (none if 0), with the kinetic temperature
    of about 100 of them; returns the last state and that record, or None."""
    if moves <= 0:
        return None
    thinning = max(1, moves // 100)
    run = MCMC(
        kernel,
        num_warmup=0,
        num_samples=moves // thinning * thinning,
        thinning=thinning,
        progress_bar=False,
    )
    run.post_warmup_state = state
    run.run(key, X, y, extra_fields=("kinetic_temperature",))
    kinetic = np.asarray(run.get_extra_fields()["kinetic_temperature"]) / kernel.temperature
    last = run.last_state
    return dict(
        state=last,
        moves=moves // thinning * thinning,
        kinetic_T_over_T_max=float(np.max(kinetic)),
        kinetic_T_over_T_last_half=float(np.mean(kinetic[len(kinetic) // 2 :])),
        num_nonfinite=int(np.sum(last.num_nonfinite)),
    )


def reference_mass_floor(num_train):
    """PseudoLangevin's arguments for the reference's floor rule: sigma^2 floored at 1e-8 on
    the gradient of the paper's mean loss (U is P times that loss, so 1e-8 P^2 on U), and no
    relative mass floor."""
    return dict(relative_mass_floor=0.0, grad_var_floor=REFERENCE_GRAD_VAR_FLOOR * num_train**2)


def chain_keys(seed, name):
    """The keys of one size, the same whichever sizes are run: ``adam`` (the start), ``pl``
    (split into pL's ``warm``, ``eq``, ``cal`` and ``run``: warmup, untimed moves, sizing run
    and measured run) and ``hmc``."""
    keys = dict(zip(SIZES, random.split(random.key(seed), len(SIZES)), strict=True))
    key_adam, key_pl, key_hmc = random.split(keys[name], 3)
    key_warm, key_eq, key_cal, key_run = random.split(key_pl, 4)
    return dict(
        adam=key_adam, pl=key_pl, warm=key_warm, eq=key_eq, cal=key_cal, run=key_run, hmc=key_hmc
    )


def pl_kernel(model, temperature, num_train, reference_floor, **options):
    """pL as these chains run it: B = 128, ``warmup_reestimate_interval=10`` (the chains start
    at a trained network), ``on_nonfinite="rollback"``, the reference's mass floor if
    ``reference_floor``, and ``options``."""
    return PseudoLangevin(
        model,
        batch_size=B,
        temperature=temperature,
        warmup_reestimate_interval=10,
        on_nonfinite="rollback",
        **(reference_mass_floor(num_train) if reference_floor else {}),
        **options,
    )


def run_pl(model, temperature, X, y, start, budget, warmup, equilibrate_moves, args, keys):
    """pL's measured run; returns its curve and the position it started from (``start``,
    or where ``equilibrate_moves`` moves after the warmup took the chain)."""
    kernel = pl_kernel(
        model,
        temperature,
        args.num_train,
        args.reference_mass_floor,
        noise_ratio=args.noise_ratio,
    )
    clock = args.clock
    fields = ("num_grad_evals", "kinetic_temperature")
    # the untimed sizing run: about a tenth of the budget at a guessed 3 gradients per move
    cal_moves = max(20, int(args.pl_calibration * budget / (3 * args.cost["minibatch"])))
    cal_moves = cal_moves // 2 * 2
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=cal_moves,
        thinning=cal_moves // 2,
        progress_bar=False,
    )
    mcmc.warmup(keys["warm"], X, y, init_params=start, extra_fields=fields)
    jax.block_until_ready(mcmc.post_warmup_state)
    equilibration = equilibrate(kernel, mcmc.post_warmup_state, equilibrate_moves, X, y, keys["eq"])
    shared_start = start
    if equilibration is not None:
        mcmc.post_warmup_state = equilibration.pop("state")
        shared_start = mcmc.post_warmup_state.z
    cal_cpu, cal_wall, compile_s = clock.run(mcmc, keys["cal"], X, y, extra_fields=fields)
    # the calibration can hold the sigma^2 estimate that ends the warmup: take its gradients
    # out at the cost of a bare gradient
    cal_grads = np.asarray(mcmc.get_extra_fields()["num_grad_evals"])
    extra_grads = max(0.0, float(cal_grads[-1] - mcmc.post_warmup_state.num_grad_evals) - cal_moves)
    per_move = max(cal_cpu - extra_grads * args.cost["minibatch"], 0.2 * cal_cpu) / cal_moves
    moves = max(args.min_samples, int(budget / per_move))
    thinning = max(1, moves // max_draws(args, X.shape[1], start))
    moves = max(thinning * args.min_samples, moves // thinning * thinning)
    print(
        f"  pL: {per_move * 1e3:.2f} CPU ms/move in {cal_moves} calibration moves "
        f"(bare minibatch gradient {args.cost['minibatch'] * 1e3:.2f} ms; compile "
        f"{compile_s:.0f} s wall); {moves} moves, thinning {thinning}",
        flush=True,
    )
    run = MCMC(kernel, num_warmup=0, num_samples=moves, thinning=thinning, progress_bar=False)
    run.post_warmup_state = mcmc.last_state
    cpu, wall, _ = clock.run(run, keys["run"], X, y, extra_fields=fields)
    extra = run.get_extra_fields()
    grads = np.asarray(extra["num_grad_evals"], np.float64)
    samples = run.get_samples()
    num = grads.shape[0]
    # the grads between the first and last stored draw, plus those before the first one
    grads_per_sample = (grads[-1] - grads[0]) / max(num - 1, 1)
    out = curve(samples, cpu, wall, grads_per_sample, B * grads_per_sample)
    kinetic = np.asarray(extra["kinetic_temperature"], np.float64) / temperature
    out.update(
        moves=moves,
        thinning=thinning,
        warmup=warmup,
        kinetic_T_over_T=float(np.mean(kinetic)),
        kinetic_T_over_T_max=float(np.max(kinetic)),
        kinetic_T_over_T_halves=[float(np.mean(h)) for h in np.array_split(kinetic, 2)],
        num_nonfinite=int(np.sum(run.last_state.num_nonfinite)),
        calibration_cpu_ms_per_move=1e3 * per_move,
        equilibration=equilibration,
    )
    return out, shared_start


def hmc_potential(X, y, prior_scale, temperature):
    """The potential of ``tempered(model, T)`` without its constant terms.

    NumPyro's potential of the tempered model carries the prior's normalising constant,
    N log(sigma_p sqrt(2 pi)) / T: about 1.4e9 at 1e6 parameters (T = 0.002), where float32
    resolves only steps of ~100 in the energy error, so the Metropolis test is rounding noise
    and dual averaging drives the step size to 1e-6 .. 1e-10. Without the constant the
    energy is U_paper / T_paper + const ~ 1e6 at most, resolved to ~0.1."""
    rows = jnp.arange(y.shape[0])

    def potential(params):
        logits = mlp_forward(params, X, activate_output=True)
        nll = -jnp.sum(jax.nn.log_softmax(logits)[rows, y])
        sq = sum(jnp.sum(v**2) for v in params.values())
        return (nll + 0.5 * sq / prior_scale**2) / temperature

    return potential


def run_hmc(potential, temperature, X, y, start, budget, warmup, args, key):
    clock, P = args.clock, X.shape[0]
    key_warm, key_run = random.split(key)
    warm = MCMC(
        HMC(
            potential_fn=potential,
            step_size=1e-3,
            num_steps=args.hmc_warmup_steps,
            trajectory_length=None,
            adapt_mass_matrix=False,
            target_accept_prob=args.hmc_warmup_target,
        ),
        num_warmup=warmup,
        num_samples=1,
        progress_bar=False,
    )
    warm.warmup(key_warm, init_params=start)
    state = jax.block_until_ready(warm.post_warmup_state)
    step_size = float(state.adapt_state.step_size)
    per_grad = args.cost["full"]
    num = max(args.min_samples, int(budget / (per_grad * args.hmc_steps)))
    thinning = max(1, num // max_draws(args, X.shape[1], start))
    num = num // thinning * thinning
    print(
        f"  hMC: step size {step_size:.3g}; bare full-batch gradient {per_grad * 1e3:.1f} ms; "
        f"{num} samples of {args.hmc_steps} leapfrog steps, thinning {thinning}",
        flush=True,
    )
    run = MCMC(
        HMC(
            potential_fn=potential,
            step_size=step_size,
            num_steps=args.hmc_steps,
            trajectory_length=None,
            adapt_step_size=False,
            adapt_mass_matrix=False,
        ),
        num_warmup=0,
        num_samples=num,
        thinning=thinning,
        progress_bar=False,
    )
    cpu, wall, _ = clock.run(run, key_run, init_params=state.z, extra_fields=("accept_prob",))
    samples = run.get_samples()
    grads_per_sample = float(args.hmc_steps * thinning)
    out = curve(samples, cpu, wall, grads_per_sample, P * grads_per_sample)
    out.update(
        num_samples_run=num,
        thinning=thinning,
        step_size=step_size,
        accept_prob=float(np.mean(run.get_extra_fields()["accept_prob"])),
        bare_cpu_ms_per_grad=1e3 * per_grad,
    )
    return out, samples


def interp(res, x_key, x):
    """d^2 at x by log-log interpolation of the curve; NaN outside its range."""
    xs, d2 = np.asarray(res[x_key]), np.asarray(res["d2"])
    ok = (xs > 0) & (d2 > 0)
    xs, d2 = xs[ok], d2[ok]
    if len(xs) == 0 or not xs[0] <= x <= xs[-1]:
        return float("nan")
    return float(np.exp(np.interp(np.log(x), np.log(xs), np.log(d2))))


def comparisons(res):
    """(label, x key, x) of the comparison points of one size."""
    pl, hmc = res["pL"], res["hMC"]
    common_cpu = min(pl["cpu_s"][-1], hmc["cpu_s"][-1])
    common_grads = min(pl["data_grads"][-1], hmc["data_grads"][-1])
    return [
        (f"CPU time {FIXED_SECONDS:g} s", "cpu_s", FIXED_SECONDS),
        (f"CPU time {common_cpu:.3g} s (longest lag of both)", "cpu_s", common_cpu),
        (f"data-point gradients {common_grads:.3g}", "data_grads", common_grads),
        ("one hMC sample (CPU s)", "cpu_s", hmc["cpu_s"][0]),
    ]


nan = float("nan")


def size_table(name, res):
    pl, hmc = res["pL"], res["hMC"]
    lines = [
        f"### {name}: {res['params']:,} parameters, lambda = {res['lambda']:g}, "
        f"P = {res['P']}, T = {res['T']:.3g} (T_paper = {res['T_paper']:g}), "
        f"prior scale {res['prior_scale']:.3g}; start: paper loss {res['start_loss']:.4g} "
        f"after Adam (lr {res['adam_lr']:g})",
        "",
        *equilibration_line(pl.get("equilibration")),
        f"- pL: {pl.get('warmup', '?')} warmup moves, then {pl['moves']} moves, "
        f"thinning {pl['thinning']} ({pl['num_samples']} draws), "
        f"{pl['cpu_total']:.1f} CPU s / {pl['wall_total']:.1f} wall s, "
        f"{pl['cpu_total'] / pl['moves'] * 1e3:.2f} CPU ms/move, "
        f"{pl['grads_per_sample'] / pl['thinning']:.3f} minibatch gradients/move, "
        f"kinetic T/T = {pl['kinetic_T_over_T']:.4g} "
        f"(max {pl.get('kinetic_T_over_T_max', nan):.3g})"
        + nonfinite_flag(pl)
        + (
            ", **unstable: kinetic T above 3 T, d^2 not a diffusion**"
            if pl.get("kinetic_T_over_T_max", pl["kinetic_T_over_T"]) > 3
            else ""
        ),
        f"- hMC: {hmc['num_samples']} draws of {res['hmc_steps']} leapfrog steps "
        f"(thinning {hmc['thinning']}), step size {hmc['step_size']:.3g} adapted in "
        f"{res['hmc_warmup']} iterations, "
        f"accept {hmc['accept_prob']:.2f}, {hmc['cpu_total']:.1f} CPU s / "
        f"{hmc['wall_total']:.1f} wall s, "
        f"{hmc['cpu_total'] / hmc['num_samples'] / hmc['grads_per_sample'] * 1e3:.1f} "
        "CPU ms/full-batch gradient",
        f"- per draw: pL {pl['grads_per_sample']:.0f} gradient calls = "
        f"{pl['data_grads_per_sample']:.3g} data-point gradients; hMC "
        f"{hmc['grads_per_sample']:.0f} = {hmc['data_grads_per_sample']:.3g}",
        f"- d^2 at the first lag: pL {pl['d2'][0]:.3g} after {pl['cpu_s'][0]:.3g} CPU s, "
        f"hMC {hmc['d2'][0]:.3g} after {hmc['cpu_s'][0]:.3g} CPU s",
        "",
        "| at equal | d^2 pL | d^2 hMC | pL / hMC |",
        "|---|---:|---:|---:|",
    ]
    for label, key, x in comparisons(res):
        a, b = interp(pl, key, x), interp(hmc, key, x)
        lines.append(f"| {label} | {a:.3g} | {b:.3g} | {a / b:.3g} |")
    return lines


def nonfinite_flag(res):
    """The chain's count of non-finite moves, which the kernel rolled back (0 in runs made
    before the count was recorded, which stopped at the first one)."""
    count = res.get("num_nonfinite", 0)
    return f", **{count} non-finite moves, rolled back**" if count else ""


def equilibration_line(eq):
    if not eq:
        return []
    return [
        f"- both samplers go on from where {eq['moves']} untimed pL moves after its warmup took "
        f"the chain: kinetic T/T over their last half {eq['kinetic_T_over_T_last_half']:.4g} "
        f"(max {eq['kinetic_T_over_T_max']:.3g})" + nonfinite_flag(eq)
    ]


def summary_table(results):
    lines = [
        "| size | N params | CPU s (longest common lag) | d^2 pL | d^2 hMC | pL / hMC "
        f"| d^2 pL @ {FIXED_SECONDS:g} s | d^2 hMC @ {FIXED_SECONDS:g} s | pL / hMC "
        "| pL / hMC at equal data-point gradients |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, res in results.items():
        (_, _, x30), (_, _, xc), (_, _, xg), _ = comparisons(res)
        pc, hc = interp(res["pL"], "cpu_s", xc), interp(res["hMC"], "cpu_s", xc)
        p30, h30 = interp(res["pL"], "cpu_s", x30), interp(res["hMC"], "cpu_s", x30)
        pg, hg = interp(res["pL"], "data_grads", xg), interp(res["hMC"], "data_grads", xg)
        lines.append(
            f"| {name} | {res['params']:,} | {xc:.3g} | {pc:.3g} | {hc:.3g} | {pc / hc:.3g} "
            f"| {p30:.3g} | {h30:.3g} | {p30 / h30:.3g} | {pg / hg:.3g} |"
        )
    return lines


def write_report(results, meta, out):
    lines = [
        "# Fig. 4 reproduction: computational diffusion of pL against exact hMC",
        "",
        f"- command: `{meta['command']}`",
        f"- machine: {meta['machine']}",
        f"- date (UTC): {meta['date']}; load average (1 min) at start {meta['load_start']:.2f}, "
        f"at end {meta.get('load_end', float('nan')):.2f}; total wall time "
        f"{meta.get('wall_total', float('nan')):.0f} s",
        f"- KSpin d = 100, K = 10, P = {meta['P']} training examples (paper: 100 000), "
        f"B = {B}, T_paper = {meta['T_paper']:g}; start: minibatch Adam, "
        f"{meta['adam_steps']} steps of B = {B}, lr 1e-3 (2e-4 at 1e6), on the paper's loss",
        f"- pL: {'/'.join(map(str, meta['pl_warmup']))} warmup moves, "
        f"`noise_ratio={meta.get('noise_ratio', 0.01):g}`, `warmup_reestimate_interval=10`, "
        '`on_nonfinite="rollback"`, '
        + (
            f"the reference's mass floor (`relative_mass_floor=0`, `grad_var_floor="
            f"{REFERENCE_GRAD_VAR_FLOOR:g} * P^2`), "
            if meta.get("reference_mass_floor")
            else ""
        )
        + "other kernel defaults; hMC: step size adapted (dual "
        "averaging, target acceptance "
        f"{meta['hmc_warmup_target']:g}) in "
        f"{'/'.join(map(str, meta['hmc_warmup']))} warmup iterations "
        f"of {meta['hmc_warmup_steps']} leapfrog steps, then {meta['hmc_steps']} steps per "
        "sample, unit mass",
        "- times: process CPU seconds (all threads) of the sampling loop only, compilation "
        "excluded; d^2 = |w(t + lag) - w(t)|^2 summed over all weights, averaged over time "
        "origins of one chain, interpolated log-log at the comparison points",
        "",
        *summary_table(results),
        "",
    ]
    for name, res in results.items():
        lines += size_table(name, res) + [""]
    text = "\n".join(lines)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{out}.md").write_text(text)
    with open(RESULTS / f"{out}.json", "w") as f:
        json.dump({"meta": meta, "results": results}, f)
    print(text, flush=True)


def read_paper(name, sampler):
    runs = []
    for path in sorted((PAPER_DIR / f"N_{PAPER_N[name]}").glob(f"{sampler}_simulation_*.csv")):
        with open(path) as f:
            rows = [[float(x) for x in r] for r in list(csv.reader(f))[1:]]
        runs.append(np.asarray(rows))
    return runs


def plot(results, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(2, len(names), figsize=(5 * len(names), 8), squeeze=False)
    colors = {"pL": "C0", "hMC": "C3"}
    for col, name in enumerate(names):
        res = results[name]
        top, bottom = axes[:, col]
        for sampler, color in colors.items():
            for i, run in enumerate(read_paper(name, sampler)):
                ok = (run[:, 0] > 0) & (run[:, 1] > 0)
                top.plot(
                    run[ok, 0],
                    run[ok, 1],
                    ls="--",
                    color=color,
                    alpha=0.35,
                    label=f"paper {sampler} (P = 100 000)" if i == 0 else None,
                )
            r = res[sampler]
            top.plot(r["cpu_s"], r["d2"], "-o", ms=3, color=color, label=f"numpyro-pl {sampler}")
            bottom.plot(r["data_grads"], r["d2"], "-o", ms=3, color=color, label=sampler)
        top.set_title(f"N = {res['params']:,} (P = {res['P']})")
        top.set_xlabel("lag (CPU seconds; paper: its Dt_W)")
        bottom.set_xlabel("lag (data-point gradients: B per minibatch, P per full batch)")
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylabel("d^2 = |w(t + lag) - w(t)|^2")
            ax.grid(alpha=0.3, which="both")
        top.legend(fontsize=7)
        bottom.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{out}.png", dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--num-train", type=int, default=2000, help="P (paper: 100 000)")
    parser.add_argument("--paper-temperature", type=float, default=1e-6)
    parser.add_argument(
        "--budgets",
        type=float,
        nargs="+",
        help="CPU seconds per sampler for each size of --sizes (default 40 / 60 / 120)",
    )
    parser.add_argument("--adam-steps", type=int, default=1000)
    parser.add_argument(
        "--pl-warmup",
        type=int,
        nargs="+",
        help="pL warmup moves for each size of --sizes (default 100 / 5000 / 100)",
    )
    parser.add_argument(
        "--equilibrate",
        type=int,
        nargs="+",
        help="pL moves after its warmup, untimed, for each size of --sizes; both samplers then "
        "go on from where they took the chain (default 0: both start at the Adam network)",
    )
    parser.add_argument(
        "--pl-calibration",
        type=float,
        default=0.1,
        help="share of the budget for pL's untimed sizing run (guessed from a bare gradient)",
    )
    parser.add_argument(
        "--hmc-warmup",
        type=int,
        nargs="+",
        help="step-size adaptation iterations for each size of --sizes (default 200 each; "
        "with 40 the adapted step size varied 10x between runs at 1e4)",
    )
    parser.add_argument(
        "--hmc-warmup-steps",
        type=int,
        default=2,
        help="leapfrog steps per warmup trajectory (full-batch gradients are costly at 1e6)",
    )
    parser.add_argument(
        "--hmc-warmup-target",
        type=float,
        default=0.95,
        help="target acceptance of the warmup's short trajectories (0.8 with 2 steps gave "
        "acceptance 0.3 on the measured 20-step trajectories at 1e4)",
    )
    parser.add_argument(
        "--noise-ratio",
        type=float,
        default=0.01,
        help="pL's noise_ratio r (the kernel default 0.01; at 1e5 pL ran hot from the trained "
        "start with 0.01 and 0.003 alike, docs/benchmarks.md)",
    )
    parser.add_argument(
        "--reference-mass-floor",
        action="store_true",
        help="pL with the reference's floor on sigma^2 (1e-8 on the paper's mean-loss gradient, "
        "1e-8 P^2 on U) instead of the kernel's relative mass floor",
    )
    parser.add_argument("--hmc-steps", type=int, default=20)
    parser.add_argument("--min-samples", type=int, default=8)
    parser.add_argument("--max-samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny run to check the script")
    parser.add_argument("--out", default="diffusion_scaling")
    parser.add_argument("--replot", action="store_true")
    args = parser.parse_args()
    if args.replot:
        with open(RESULTS / f"{args.out}.json") as f:
            return plot(json.load(f)["results"], args.out)
    if args.quick:
        args.num_train, args.adam_steps = 500, 200
        args.pl_warmup = args.pl_warmup or [30] * len(args.sizes)
        args.max_samples = 50
        args.hmc_warmup = args.hmc_warmup or [10] * len(args.sizes)
        if args.budgets is None:
            args.budgets = [3.0] * len(args.sizes)
        if args.out == "diffusion_scaling":
            args.out = "diffusion_scaling_quick"
    budgets = args.budgets or [SIZES[s][2] for s in args.sizes]
    hmc_warmups = args.hmc_warmup or [SIZES[s][3] for s in args.sizes]
    pl_warmups = args.pl_warmup or [PL_WARMUP[s] for s in args.sizes]
    equilibrates = args.equilibrate or [0] * len(args.sizes)
    counts = {len(v) for v in (budgets, hmc_warmups, pl_warmups, equilibrates)}
    if counts != {len(args.sizes)}:
        parser.error(
            "--budgets, --hmc-warmup, --pl-warmup and --equilibrate need one value per size"
        )
    args.clock = LoopClock()

    t0 = time.perf_counter()
    meta = dict(
        command=" ".join(["python", "benchmarks/diffusion_scaling.py", *sys.argv[1:]]),
        machine=machine(),
        date=time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        load_start=os.getloadavg()[0],
        P=args.num_train,
        T_paper=args.paper_temperature,
        adam_steps=args.adam_steps,
        pl_warmup=pl_warmups,
        equilibrate=equilibrates,
        noise_ratio=args.noise_ratio,
        reference_mass_floor=args.reference_mass_floor,
        hmc_warmup=hmc_warmups,
        hmc_warmup_steps=args.hmc_warmup_steps,
        hmc_warmup_target=args.hmc_warmup_target,
        hmc_steps=args.hmc_steps,
    )
    split = kspin_split(args.num_train, 1, seed=args.seed)
    X, y = jnp.asarray(split.train.X, jnp.float32), jnp.asarray(split.train.y)
    results = {}
    for name, budget, hmc_warmup, pl_warmup, equilibrate_moves in zip(
        args.sizes, budgets, hmc_warmups, pl_warmups, equilibrates, strict=True
    ):
        keys = chain_keys(args.seed, name)
        hidden, weight_decay, _, _ = SIZES[name]
        widths = [X.shape[1], *hidden, 10]
        prior_scale, temperature = paper_to_numpyro(
            args.num_train, weight_decay, args.paper_temperature
        )
        model = bayesian_mlp(widths, activate_output=True, prior_scale=prior_scale)
        ts = time.perf_counter()
        start = pretrain(widths, weight_decay, X, y, args.adam_steps, keys["adam"], ADAM_LR[name])
        loss = float(paper_loss(start, X, y, weight_decay))
        n_params = sum(v.size for v in start.values())
        args.cost = {
            "minibatch": gradient_cost(start, X, y, weight_decay, B),
            "full": gradient_cost(start, X, y, weight_decay, X.shape[0]),
        }
        print(
            f"{name}: {n_params:,} parameters; Adam start: paper loss {loss:.4g} "
            f"({time.perf_counter() - ts:.0f} s); budget {budget:g} CPU s per sampler",
            flush=True,
        )
        pl_res, shared_start = run_pl(
            model, temperature, X, y, start, budget, pl_warmup, equilibrate_moves, args, keys
        )
        potential = hmc_potential(X, y, prior_scale, temperature)
        hmc_res, _ = run_hmc(
            potential, temperature, X, y, shared_start, budget, hmc_warmup, args, keys["hmc"]
        )
        results[name] = dict(
            params=int(n_params),
            P=args.num_train,
            **{"lambda": weight_decay},
            T=temperature,
            T_paper=args.paper_temperature,
            prior_scale=prior_scale,
            start_loss=loss,
            adam_lr=ADAM_LR[name],
            budget=budget,
            hmc_steps=args.hmc_steps,
            hmc_warmup=hmc_warmup,
            pL=pl_res,
            hMC=hmc_res,
        )
        print(f"{name} done in {time.perf_counter() - ts:.0f} s wall", flush=True)
        meta.update(load_end=os.getloadavg()[0], wall_total=time.perf_counter() - t0)
        write_report(results, meta, args.out)
        plot(results, args.out)


if __name__ == "__main__":
    main()
