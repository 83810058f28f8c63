"""PseudoLangevin against NUTS (full batch) at T = 1 on a Bayesian MLP: ESS per second and per
data-point gradient.

Two problems, each a Bayesian MLP classifier of about 1e4 parameters (``bayesian_mlp``: ReLU
hidden layers [50, 100], linear logits, Normal(0, sigma_p) prior on every weight and bias,
categorical likelihood):

- **digits**: scikit-learn's bundled 8x8 digits (``load_digits_dataset``): 1 297 training and
  500 test images, 64 -> 50 -> 100 -> 10, 9 360 parameters;
- **kspin**: KSpin (``kspin_split``, d = 100, K = 10, flip probability 0.355) with 50 000
  training and 5 000 test examples, 100 -> 50 -> 100 -> 10, 11 160 parameters (the paper's
  network, but with linear logits).

The prior scale is the paper's L2 strength converted (``paper_to_numpyro``): lambda * n_params
= 10, sigma_p = 1 / sqrt(lambda P); so T = 1 is the posterior and T_paper = 1 / P.

Both samplers target the same posterior (T = 1) of the same model and start from the same
points: chain c of each starts where a short minibatch Adam run (B = 128, lr 3e-3) on U / P
from its own prior draw ended: 500 steps (49 epochs) on digits, 2 000 (5 epochs) on KSpin. The
samplers then heat up to T = 1; the start is shared, so neither gets a better one. (On digits,
2 000 Adam steps, about 200 epochs, brought the starts so close to a minimum that pL went
non-finite within 40 moves in all 4 chains, with ``warmup_reestimate_interval`` 10 or 100:
the known instability of a start at a minimum, docs/parameters.md.) Settings:

- **pL**: ``PseudoLangevin(model, batch_size=128, temperature=1)`` with the kernel's defaults
  (r = 0.01, m1 = 0.1) and ``warmup_reestimate_interval=10`` (advised for a start near a
  minimum, docs/parameters.md); 4 chains, vectorized. Run lengths are counted in relaxation
  times tau = 1 / (4 r T) epochs = P / (4 r T B) moves (253 moves on digits, 9 766 on KSpin):
  digits 4 tau warmup + 80 tau of samples, KSpin 3 tau + 10 tau (what the time budget allows
  at 50 000 points), thinned to ``--pl-draws`` = 400 stored draws per chain.
- **NUTS**: NumPyro's NUTS on the full data (diagonal mass and step size adapted in warmup,
  target acceptance 0.8), 2 chains run sequentially, ``max_tree_depth`` capped: digits depth
  8 (<= 255 leapfrog steps), 150 warmup + 150 samples; KSpin depth 4 (<= 15 steps), 30
  warmup + 40 samples, because one full gradient on 50 000 points costs about 0.1-0.2 s here.
  Two chains, not four, for the same budget reason; ESS and costs are summed over chains, so
  the rates compare either way.

The whole default run is meant to take about 15 minutes alone on 2 cores, a third of it
JAX compilation (numpyro recompiles its sampling loop on every ``MCMC.run`` call).

Measured quantities, for every stored draw: the test-set log-likelihood (log predictive
density of the test set under that draw, sum over test points) and |w|^2 (all weights and
biases), both from ``numpyro_pl.diagnostics.full_batch_observables``. ESS (bulk), R-hat and
MCSE from ArviZ (``az.ess``, ``az.rhat``, ``az.mcse``) on the (chain, draw) arrays, the draws
kept in the InferenceData of ``numpyro_pl.to_arviz`` / ``az.from_numpyro``.

Costs: a full-batch gradient is P data-point gradients, a minibatch one B. pL's
``num_grad_evals`` counts minibatch gradients, the sigma^2 estimates included; NUTS's
``num_steps`` counts leapfrog steps, one full gradient each. Times: warmup and sampling are
separate ``MCMC.warmup`` / ``MCMC.run`` calls, each timed to ``block_until_ready``; numpyro
recompiles its loop on every call, so the seconds that JAX spent tracing and compiling inside
a call (from ``jax.monitoring`` compile events) are subtracted and reported apart.
Process CPU seconds are recorded too, as a check on outside load.

Run from the repository root after ``pip install -e ".[examples]"``:
    python benchmarks/nuts_comparison.py [--problems digits kspin] [--quick]
Results go to benchmarks/results/nuts_comparison.{md,json} (``--out`` renames them).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import arviz as az
import jax
import jax.monitoring
import jax.numpy as jnp
import numpy as np
from environment import machine, package_version
from numpyro.infer import MCMC, NUTS

from numpyro_pl import PseudoLangevin, bayesian_mlp, mlp_forward, num_params, paper_to_numpyro
from numpyro_pl.datasets import kspin_split, load_digits_dataset
from numpyro_pl.diagnostics import full_batch_observables
from numpyro_pl.diagnostics import to_arviz as pl_to_arviz

RESULTS = Path(__file__).resolve().parent / "results"
HIDDEN = [50, 100]
BATCH, TEMPERATURE, NOISE_RATIO = 128, 1.0, 0.01  # pL's B, T and r (the kernel default)
QUANTITIES = ("test_loglik", "sq_norm")
COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
# per problem: data sizes, pL run lengths in relaxation times, NUTS settings (default, quick)
PROBLEMS = {
    "digits": dict(
        default=dict(
            num_train=None,
            adam_steps=500,
            pl_warmup_tau=4,
            pl_samples_tau=80,
            nuts_depth=8,
            nuts_warmup=150,
            nuts_samples=150,
        ),
        quick=dict(
            num_train=None,
            adam_steps=500,
            pl_warmup_tau=2,
            pl_samples_tau=8,
            nuts_depth=5,
            nuts_warmup=30,
            nuts_samples=30,
        ),
    ),
    "kspin": dict(
        default=dict(
            num_train=50_000,
            num_test=5_000,
            adam_steps=2000,
            pl_warmup_tau=3,
            pl_samples_tau=10,
            nuts_depth=4,
            nuts_warmup=30,
            nuts_samples=40,
        ),
        quick=dict(
            num_train=5_000,
            num_test=1_000,
            adam_steps=500,
            pl_warmup_tau=1,
            pl_samples_tau=2,
            nuts_depth=3,
            nuts_warmup=10,
            nuts_samples=10,
        ),
    ),
}


class CompileClock:
    """Seconds of JAX tracing/lowering/compilation inside a wall-clock window: the union of
    the intervals reported by ``jax.monitoring`` (so nested events are not counted twice)."""

    def __init__(self):
        self.spans = []
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **_):
        if event in COMPILE_EVENTS:
            end = time.perf_counter()
            self.spans.append((end - duration, end))

    def seconds(self, t0, t1):
        total, current = 0.0, None
        for a, b in sorted((max(a, t0), min(b, t1)) for a, b in self.spans if b > t0 and a < t1):
            if current is None or a > current[1]:
                total += 0.0 if current is None else current[1] - current[0]
                current = [a, b]
            else:
                current[1] = max(current[1], b)
        return total + (0.0 if current is None else current[1] - current[0])


CLOCK = CompileClock()


def timed(fn):
    """Run ``fn`` (which must block), return (wall s, compile s, process CPU s)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    t1, c1 = time.perf_counter(), time.process_time()
    return dict(wall=t1 - t0, compile=CLOCK.seconds(t0, t1), cpu=c1 - c0)


def load_problem(name, sizes):
    if name == "digits":
        split = load_digits_dataset(num_test=500, seed=0)
    else:
        split = kspin_split(sizes["num_train"], sizes["num_test"], seed=0)
    X, y = jnp.asarray(split.train.X), jnp.asarray(split.train.y)
    widths = [X.shape[1], *HIDDEN, 10]
    n = num_params(widths)
    prior_scale, _ = paper_to_numpyro(X.shape[0], 10.0 / n, 1.0 / X.shape[0])
    return dict(
        name=name,
        X=X,
        y=y,
        X_test=jnp.asarray(split.test.X),
        y_test=jnp.asarray(split.test.y),
        widths=widths,
        num_params=n,
        prior_scale=prior_scale,
        model=bayesian_mlp(widths, prior_scale=prior_scale),
    )


def adam_starts(problem, num_chains, steps, key, lr=3e-3):
    """One start per chain: minibatch (B = 128) Adam on U / P from a prior draw."""
    X, y, P, sp = problem["X"], problem["y"], problem["X"].shape[0], problem["prior_scale"]
    shapes = {}
    for i, (a, b) in enumerate(zip(problem["widths"][:-1], problem["widths"][1:], strict=True)):
        shapes[f"W{i}"], shapes[f"b{i}"] = (a, b), (b,)

    def loss(params, idx):
        logits = mlp_forward(params, X[idx])
        ce = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(idx.shape[0]), y[idx]])
        return ce + sum(jnp.sum(v**2) for v in params.values()) / (2 * sp**2 * P)

    def one_chain(key):
        k_init, k_batch = jax.random.split(key)
        keys = jax.random.split(k_init, len(shapes))
        draws = zip(shapes.items(), keys, strict=True)
        params = {n: sp * jax.random.normal(k, s) for (n, s), k in draws}
        zeros = jax.tree.map(jnp.zeros_like, params)

        def step(carry, t):
            params, m, v = carry
            idx = jax.random.randint(jax.random.fold_in(k_batch, t), (BATCH,), 0, P)
            g = jax.grad(loss)(params, idx)
            m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
            v = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g**2, v, g)
            c1, c2 = 1 - 0.9 ** (t + 1.0), 1 - 0.999 ** (t + 1.0)
            params = jax.tree.map(
                lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), params, m, v
            )
            return (params, m, v), None

        return jax.lax.scan(step, (params, zeros, zeros), jnp.arange(steps))[0][0]

    return jax.jit(jax.vmap(one_chain))(jax.random.split(key, num_chains))


def run_pl(problem, cfg, args, inits, key):
    P = problem["X"].shape[0]
    tau = P / (4 * NOISE_RATIO * TEMPERATURE * BATCH)  # moves per relaxation time
    warmup = int(round(cfg["pl_warmup_tau"] * tau))
    thinning = max(1, int(round(cfg["pl_samples_tau"] * tau / args.pl_draws)))
    samples = thinning * args.pl_draws
    kernel = PseudoLangevin(
        problem["model"],
        batch_size=BATCH,
        temperature=TEMPERATURE,
        noise_ratio=NOISE_RATIO,
        warmup_reestimate_interval=10,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=samples,
        thinning=thinning,
        num_chains=args.pl_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    X, y = problem["X"], problem["y"]
    k_warm, k_run = jax.random.split(key)
    t_warm = timed(
        lambda: (
            mcmc.warmup(k_warm, X, y, init_params=inits),
            jax.block_until_ready(mcmc.post_warmup_state),
        )
    )
    fields = ("num_grad_evals", "kinetic_temperature")
    t_run = timed(
        lambda: (
            mcmc.run(k_run, X, y, extra_fields=fields),
            jax.block_until_ready((mcmc.get_samples(), mcmc.last_state)),
        )
    )
    grads_warm = np.asarray(mcmc.post_warmup_state.num_grad_evals, np.float64)
    grads_run = np.asarray(mcmc.last_state.num_grad_evals, np.float64) - grads_warm
    extra = mcmc.get_extra_fields()
    settings = (
        f"B = {BATCH}, r = {NOISE_RATIO}, tau = {tau:.0f} moves; {args.pl_chains} chains x "
        f"({warmup} warmup + {samples} moves = {cfg['pl_warmup_tau']} + "
        f"{cfg['pl_samples_tau']} tau), thinning {thinning}"
    )
    diagnostics = (
        f"kinetic T/T = {float(np.mean(extra['kinetic_temperature'])) / TEMPERATURE:.4f}, "
        f"non-finite moves {int(np.sum(extra['diverging']))}"
    )
    idata = pl_to_arviz(mcmc, log_likelihood=False)
    return finish(
        mcmc, idata, problem, "pL", settings, diagnostics, t_warm, t_run,
        grads_warm.sum() * BATCH, grads_run.sum() * BATCH,
    )  # fmt: skip


def run_nuts(problem, cfg, args, inits, key):
    P = problem["X"].shape[0]
    depth = cfg["nuts_depth"]
    mcmc = MCMC(
        NUTS(problem["model"], max_tree_depth=depth),
        num_warmup=cfg["nuts_warmup"],
        num_samples=cfg["nuts_samples"],
        num_chains=args.nuts_chains,
        chain_method="sequential",
        progress_bar=False,
    )
    X, y = problem["X"], problem["y"]
    k_warm, k_run = jax.random.split(key)
    t_warm = timed(
        lambda: (
            mcmc.warmup(
                k_warm, X, y, init_params=inits, collect_warmup=True, extra_fields=("num_steps",)
            ),
            jax.block_until_ready(mcmc.post_warmup_state),
        )
    )
    steps_warm = float(np.sum(np.asarray(mcmc.get_extra_fields()["num_steps"], np.float64)))
    fields = ("num_steps", "accept_prob", "adapt_state.step_size")
    t_run = timed(
        lambda: (
            mcmc.run(k_run, X, y, extra_fields=fields),
            jax.block_until_ready((mcmc.get_samples(), mcmc.last_state)),
        )
    )
    extra = mcmc.get_extra_fields()
    steps = np.asarray(extra["num_steps"], np.float64)
    settings = (
        f"{args.nuts_chains} chains x ({cfg['nuts_warmup']} warmup + "
        f"{cfg['nuts_samples']} samples), "
        f"max_tree_depth {depth} (<= {2**depth - 1} steps), diagonal mass"
    )
    diagnostics = (
        f"steps/iteration {steps.mean():.1f} (at the cap {np.mean(steps >= 2**depth - 1):.0%}), "
        f"step size {float(np.mean(extra['adapt_state.step_size'])):.3g}, "
        f"accept {float(np.mean(extra['accept_prob'])):.2f}, "
        f"divergences {int(np.sum(extra['diverging']))}"
    )
    idata = az.from_numpyro(mcmc, log_likelihood=False)
    return finish(
        mcmc, idata, problem, "NUTS", settings, diagnostics, t_warm, t_run,
        steps_warm * P, steps.sum() * P,
    )  # fmt: skip


def finish(mcmc, idata, problem, sampler, settings, diagnostics, t_warm, t_run, dg_warm, dg_run):
    """Observables of every stored draw, their ESS, R-hat and MCSE, and the costs."""
    obs = full_batch_observables(
        mcmc.get_samples(group_by_chain=True),
        problem["model"],
        (problem["X_test"], problem["y_test"]),
    )
    values = {
        "test_loglik": -np.asarray(obs.neg_log_likelihood, np.float64),
        "sq_norm": np.asarray(obs.sq_norm, np.float64),
    }
    for name, v in values.items():
        idata.posterior[name] = (("chain", "draw"), v)
    ess = az.ess(idata, var_names=list(QUANTITIES), method="bulk")
    rhat = az.rhat(idata, var_names=list(QUANTITIES))
    mcse = az.mcse(idata, var_names=list(QUANTITIES), method="mean")
    seconds = t_run["wall"] - t_run["compile"]
    stats = {
        name: dict(
            mean=float(values[name].mean()),
            sd=float(values[name].std()),
            mcse=float(mcse[name]),
            ess=float(ess[name]),
            rhat=float(rhat[name]),
            ess_per_s=float(ess[name]) / seconds,
            ess_per_kgrad=1e3 * float(ess[name]) / dg_run,
        )
        for name in QUANTITIES
    }
    out = dict(
        sampler=sampler,
        settings=settings,
        diagnostics=diagnostics,
        draws=int(values["sq_norm"].size),
        warmup=t_warm,
        run=t_run,
        sampling_seconds=seconds,
        data_grads_warmup=float(dg_warm),
        data_grads_sampling=float(dg_run),
        stats=stats,
    )
    print(
        f"[{problem['name']}] {sampler}: sampling {seconds:.1f} s (+ compile "
        f"{t_run['compile']:.1f} s), warmup {t_warm['wall']:.1f} s; {diagnostics}; "
        + "; ".join(
            f"{k}: mean {s['mean']:.5g}, ESS {s['ess']:.1f}, R-hat {s['rhat']:.3f}"
            for k, s in stats.items()
        ),
        flush=True,
    )
    return out


def first(inits, num_chains):
    """The starts of the first ``num_chains`` chains (chain c of each sampler from start c)."""
    return jax.tree.map(lambda v: v[:num_chains], inits)


def run_problem(name, args):
    cfg = PROBLEMS[name]["quick" if args.quick else "default"]
    if args.kspin_train is not None and name == "kspin":
        cfg = dict(cfg, num_train=args.kspin_train)
    problem = load_problem(name, cfg)
    key_start, key_pl, key_nuts = jax.random.split(
        jax.random.fold_in(jax.random.key(0), len(name)), 3
    )
    t0 = time.perf_counter()
    chains, steps = max(args.pl_chains, args.nuts_chains), args.adam_steps or cfg["adam_steps"]
    inits = jax.block_until_ready(adam_starts(problem, chains, steps, key_start))
    print(f"[{name}] Adam starts ({steps} steps): {time.perf_counter() - t0:.1f} s")
    results = {
        "pL": run_pl(problem, cfg, args, first(inits, args.pl_chains), key_pl),
        "NUTS": run_nuts(problem, cfg, args, first(inits, args.nuts_chains), key_nuts),
    }
    return dict(
        problem=name,
        num_train=int(problem["X"].shape[0]),
        num_test=int(problem["X_test"].shape[0]),
        widths=problem["widths"],
        num_params=problem["num_params"],
        prior_scale=problem["prior_scale"],
        results=results,
    )


def fmt(x):
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"


def tables(runs):
    head = (
        "| problem | quantity | sampler | ESS (bulk) | R-hat | sampling s | ESS/s "
        "| data-point grads | ESS per 1000 data-point grads |"
    )
    lines = [head, "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    ratio_lines = [
        "| problem | quantity | ESS/s pL/NUTS | ESS per 1000 data-point grads pL/NUTS |",
        "|---|---|---:|---:|",
    ]
    check = [
        "| problem | quantity | pL mean ± MCSE (sd) | NUTS mean ± MCSE (sd) "
        "| (pL − NUTS) / combined MCSE | rel. diff |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        res = run["results"]
        for q in QUANTITIES:
            for s in ("pL", "NUTS"):
                r, st = res[s], res[s]["stats"][q]
                lines.append(
                    f"| {run['problem']} | {q} | {s} | {st['ess']:.1f} | {st['rhat']:.3f} "
                    f"| {r['sampling_seconds']:.1f} | {fmt(st['ess_per_s'])} "
                    f"| {r['data_grads_sampling']:.3e} | {fmt(st['ess_per_kgrad'])} |"
                )
            a, b = res["pL"]["stats"][q], res["NUTS"]["stats"][q]
            ratio_lines.append(
                f"| {run['problem']} | {q} | {fmt(a['ess_per_s'] / b['ess_per_s'])} "
                f"| {fmt(a['ess_per_kgrad'] / b['ess_per_kgrad'])} |"
            )
            err = float(np.hypot(a["mcse"], b["mcse"]))
            check.append(
                f"| {run['problem']} | {q} | {a['mean']:.6g} ± {a['mcse']:.2g} ({a['sd']:.3g}) "
                f"| {b['mean']:.6g} ± {b['mcse']:.2g} ({b['sd']:.3g}) "
                f"| {(a['mean'] - b['mean']) / err:+.2f} "
                f"| {(a['mean'] - b['mean']) / abs(b['mean']):+.2%} |"
            )
    setup = [
        "| problem | sampler | settings | warmup s (compile) | sampling s (+ compile) "
        "| CPU s warmup / run | data-point grads warmup | diagnostics |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        for s in ("pL", "NUTS"):
            r = run["results"][s]
            setup.append(
                f"| {run['problem']} | {s} | {r['settings']} "
                f"| {r['warmup']['wall']:.1f} ({r['warmup']['compile']:.1f}) "
                f"| {r['sampling_seconds']:.1f} (+ {r['run']['compile']:.1f}) "
                f"| {r['warmup']['cpu']:.0f} / {r['run']['cpu']:.0f} "
                f"| {r['data_grads_warmup']:.3e} | {r['diagnostics']} |"
            )
    return "\n".join(
        [
            "ESS and cost (sampling phase only; ESS over all chains):",
            "",
            *lines,
            "",
            "Ratios (> 1: pL better):",
            "",
            *ratio_lines,
            "",
            "Sanity check, posterior means (MCSE from ArviZ, sd over all draws):",
            "",
            *check,
            "",
            "Settings and timings (seconds of wall time; compile = JAX tracing and compiling "
            "inside the call, excluded from the sampling seconds above):",
            "",
            *setup,
            "",
        ]
    )


def write(runs, args, command, code, load_start, load_end, wall):
    """Print the tables and write them, after every problem (a late failure keeps the rest)."""
    text = tables(runs)
    print(text, flush=True)
    sizes = "; ".join(
        f"{r['problem']}: P = {r['num_train']:,} train / {r['num_test']:,} test, "
        f"{r['widths']} ({r['num_params']:,} parameters), sigma_p = {r['prior_scale']:.3g}"
        for r in runs
    )
    header = [
        "# PseudoLangevin against NUTS (full batch) at T = 1",
        "",
        f"- {machine(az)}",
        f"- command: `{command}` (repository root)",
        f"- code: {code}",
        f"- load average (1, 5, 15 min) at start: {', '.join(f'{x:.2f}' for x in load_start)}; "
        f"at end: {', '.join(f'{x:.2f}' for x in load_end)}; total wall time {wall:.0f} s",
        f"- {sizes}",
        "- both samplers start chain c from the same minibatch-Adam point; T = 1; quantities: "
        "test-set log-likelihood (sum over the test set) and |w|^2 of every stored draw",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.md").write_text("\n".join(header) + "\n" + text)
    with open(RESULTS / f"{args.out}.json", "w") as f:
        json.dump(dict(command=command, load=[load_start, load_end], wall=wall, runs=runs), f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--problems", nargs="+", choices=sorted(PROBLEMS), default=["digits", "kspin"]
    )
    parser.add_argument("--quick", action="store_true", help="tiny runs (KSpin at 5 000 points)")
    parser.add_argument("--pl-chains", type=int, default=4, help="vectorized pL chains")
    parser.add_argument("--nuts-chains", type=int, default=2, help="sequential NUTS chains")
    parser.add_argument("--pl-draws", type=int, default=400, help="stored pL draws per chain")
    parser.add_argument(
        "--adam-steps", type=int, help="Adam steps of the starts (default: digits 500, KSpin 2000)"
    )
    parser.add_argument("--kspin-train", type=int, help="KSpin training set size (default 50 000)")
    parser.add_argument("--out", default="nuts_comparison")
    args = parser.parse_args()
    if args.quick:
        args.pl_draws = min(args.pl_draws, 50)
    command = " ".join(["python", *sys.argv])
    load_start, start = os.getloadavg(), time.perf_counter()
    code = package_version()
    runs = []
    for name in args.problems:
        runs.append(run_problem(name, args))
        wall, load_end = time.perf_counter() - start, os.getloadavg()
        write(runs, args, command, code, load_start, load_end, wall)
    print(f"total wall time {wall:.0f} s; load average {load_start} -> {load_end}")


if __name__ == "__main__":
    main()
