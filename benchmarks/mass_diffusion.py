"""The masses predict pL's computational diffusion: the 10⁶ chain of Fig. 4, mass by mass.

pL's d^2 per move is set by its masses. A component of mass M_i under friction
gamma = -ln(c_1^2) per move (c_1^2 = 1 - m_1^2) diffuses with D_i = T / (M_i gamma) while
nothing confines it, and in the prior's well alone (curvature k = 1 / prior_scale^2) its
squared displacement after t moves is the overdamped Ornstein-Uhlenbeck

    d_i^2(t) = (2 T / k) (1 - exp(-t k / (M_i gamma))).

The sum over i is the diffusion that the masses allow if the data term confined nothing: an
upper bound for a chain at equilibrium. A chain whose every mass sits at the reference's
floor (sigma^2 = 1e-8 on the paper's mean-loss gradient, 1e-8 P^2 on U) has
M_floor = 1e-8 P^2 dt^2 / (4 r T m_1^2) for every component, and then d^2(t) is one
Ornstein-Uhlenbeck curve with the plateau 2 N T / k (the paper's Fig. 4 at 10⁶ sits on such
a curve, docs/benchmarks.md) and the time constant M_floor gamma / k.

The script builds the chain of ``diffusion_scaling.py --sizes 1e6 --num-train 100000
--equilibrate 10000`` with the same keys (the same Adam start, warmup and untimed moves;
``--reference-mass-floor`` as there), then

- reports sigma^2 site by site: its mean in the paper's units (on the mean-loss gradient,
  sigma^2 / P^2), the share of components at or below the reference's floor, and the share
  whose mass is heavier than their latest sigma^2 asks for;
- runs ``--moves`` more moves and measures d^2 against the lag in moves
  (``numpyro_pl.diagnostics.diffusion``), next to the two predictions above and that of
  the masses a reset would set, from the masses in force at the start of those moves; and
  counts the sigma^2 estimates in those moves and their draws.

``--burn-in N`` first relaxes the chain faster: N moves at ``--burn-in-noise-ratio``
(default 0.1, masses 10x lighter) from the Adam start, after a warmup at that r; the chain
then starts again at r = 0.01 from where they took it, with its warmup and untimed moves.

Run from the repository root after ``pip install -e .``:
    python benchmarks/mass_diffusion.py [--moves 5000] [--thinning 100]
        [--reference-mass-floor] [--burn-in N] [--burn-in-noise-ratio R] [--out NAME]
(about 4 minutes on 2 cores, 23 with ``--burn-in 100000 --moves 50000``); writes
benchmarks/results/<NAME>.md (default ``mass_diffusion_1e6``, with ``_reference_floor`` for
that floor and ``_burn_in<N>_r<R>`` for a burn-in).
"""

import argparse
import inspect
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from diffusion_scaling import (
    ADAM_LR,
    PL_WARMUP,
    REFERENCE_GRAD_VAR_FLOOR,
    RESULTS,
    SIZES,
    chain_keys,
    equilibrate,
    paper_loss,
    pl_kernel,
    pretrain,
    reference_mass_floor,
)
from environment import run_lines
from jax import random
from numpyro.infer import MCMC

from numpyro_pl import PseudoLangevin, bayesian_mlp, paper_to_numpyro
from numpyro_pl.datasets import kspin_split
from numpyro_pl.diagnostics import diffusion
from numpyro_pl.noise import mass_adaptation

SIZE = "1e6"
# the kernel's defaults, passed explicitly because the predictions use them
NOISE_RATIO, FRICTION, STEP_SIZE = 0.01, 0.1, 1.0
DYNAMICS = dict(noise_ratio=NOISE_RATIO, friction=FRICTION, step_size=STEP_SIZE)


def chain_state(args):
    """The state of the Fig. 4 chain after its warmup and untimed moves, with the keys of
    ``diffusion_scaling.py`` (seed 0: the same chain)."""
    split = kspin_split(args.num_train, 1, seed=args.seed)
    X, y = jnp.asarray(split.train.X, jnp.float32), jnp.asarray(split.train.y)
    hidden, weight_decay, _, _ = SIZES[SIZE]
    widths = [X.shape[1], *hidden, 10]
    prior_scale, temperature = paper_to_numpyro(
        args.num_train, weight_decay, args.paper_temperature
    )
    model = bayesian_mlp(widths, activate_output=True, prior_scale=prior_scale)
    keys = chain_keys(args.seed, SIZE)
    start = pretrain(widths, weight_decay, X, y, args.adam_steps, keys["adam"], ADAM_LR[SIZE])
    options = reference_mass_floor(args.num_train) if args.reference_mass_floor else {}

    def kernel_with(noise_ratio):
        return pl_kernel(
            model,
            temperature,
            args.num_train,
            args.reference_mass_floor,
            **{**DYNAMICS, "noise_ratio": noise_ratio},
        )

    def warmed(kernel, init_params, key):
        warm = MCMC(kernel, num_warmup=PL_WARMUP[SIZE], num_samples=1, progress_bar=False)
        warm.warmup(key, X, y, init_params=init_params)
        return warm.post_warmup_state

    burn_in = None
    if args.burn_in > 0:
        # keys of their own, so that the chain after them draws what it draws without them
        key_burn_warm, key_burn = random.split(random.fold_in(keys["pl"], 1))
        fast = kernel_with(args.burn_in_noise_ratio)
        burn_in = equilibrate(
            fast, warmed(fast, start, key_burn_warm), args.burn_in, X, y, key_burn
        )
        burn_in["sq_norm"] = sq_norm(burn_in["state"].z)
    kernel = kernel_with(NOISE_RATIO)
    state = warmed(kernel, burn_in.pop("state").z if burn_in else start, keys["warm"])
    record = equilibrate(kernel, state, args.equilibrate, X, y, keys["eq"])
    if record:
        state = record.pop("state")
    setting = dict(
        X=X,
        y=y,
        kernel=kernel,
        kernel_options=options,
        temperature=temperature,
        prior_scale=prior_scale,
        start_loss=float(paper_loss(start, X, y, weight_decay)),
        start_sq_norm=sq_norm(start),
        burn_in=burn_in,
        equilibration=record,
        key_run=keys["run"],
    )
    return state, setting


def sq_norm(z):
    """|w|^2 of the latent values ``z``."""
    return float(sum(np.sum(np.asarray(v, np.float64) ** 2) for v in z.values()))


def site_table(state, num_train):
    """sigma^2 and the masses, site by site."""
    floor = REFERENCE_GRAD_VAR_FLOOR * num_train**2
    rows = []
    for name in sorted(state.z):
        s2 = np.asarray(state.grad_var[name], np.float64).ravel()
        ratio = np.asarray(state.noise_ratio[name], np.float64).ravel()
        mass = np.asarray(state.mass[name], np.float64).ravel()
        rows.append(
            dict(
                site=name,
                n=int(s2.size),
                mean_paper=float(s2.mean() / num_train**2),
                median_paper=float(np.median(s2) / num_train**2),
                at_floor=float(np.mean(s2 <= floor * (1 + 1e-6))),
                heavier=float(np.mean(ratio < 0.99 * NOISE_RATIO)),
                inverse_mass=float(np.sum(1.0 / mass)),
            )
        )
    return rows


def langevin_d2(t, mass, temperature, gamma, k):
    """Squared displacement after ``t`` moves of components of mass ``mass`` at equilibrium
    in a well of curvature ``k`` under friction ``gamma``: the overdamped Ornstein-Uhlenbeck
    curve less the ballistic start of free Langevin motion (exact for k = 0, and for
    t >> 1/gamma while the well is overdamped, k/M << gamma^2/4), summed over components."""
    overdamped = -np.expm1(-t * k / (mass * gamma)) * 2 * temperature / k
    ballistic = -np.expm1(-gamma * t) * 2 * temperature / (mass * gamma**2)
    return float(np.sum(overdamped - ballistic))


def predictions(state, setting, num_train, lags):
    """d^2 after ``lags`` moves in the prior's well, and the free-diffusion slope per move,
    for three sets of masses: those of ``state``; those a reset would set now from its
    latest sigma^2 (the kernel's own rule, ``numpyro_pl.noise.mass_adaptation``); and every
    mass at the reference's floor."""
    temperature = setting["temperature"]
    gamma = -math.log(1.0 - FRICTION**2)
    k = 1.0 / setting["prior_scale"] ** 2
    default_floor = inspect.signature(PseudoLangevin).parameters["relative_mass_floor"].default
    mass_init, _ = mass_adaptation(
        temperature=temperature,
        max_noise_ratio=NOISE_RATIO,
        reset_prob=0.0,
        relative_mass_floor=setting["kernel_options"].get("relative_mass_floor", default_floor),
        **DYNAMICS,
    )

    def flat(tree):
        return np.concatenate([np.asarray(m, np.float64).ravel() for m in tree.values()])

    current = flat(state.mass)
    floor = np.full(
        current.shape,
        REFERENCE_GRAD_VAR_FLOOR
        * num_train**2
        * STEP_SIZE**2
        / (4 * NOISE_RATIO * temperature * FRICTION**2),
    )
    masses = dict(current=current, matched=flat(mass_init(state.grad_var).mass), floor=floor)
    return dict(
        d2={
            name: [langevin_d2(t, m, temperature, gamma, k) for t in lags]
            for name, m in masses.items()
        },
        slope={name: float(np.sum(2 * temperature / (m * gamma))) for name, m in masses.items()},
        floor_tau=float(floor[0] * gamma / k),
        plateau=2 * temperature * current.size / k,
        gamma=gamma,
    )


def continue_chain(state, setting, moves, thinning):
    """``moves`` more moves from ``state``, keeping every ``thinning``-th draw: the kept
    positions, the extra fields, and a summary (kinetic temperature, the share of the
    gradients that went to sigma^2 estimates, the schedule's intervals, non-finite moves)."""
    run = MCMC(
        setting["kernel"],
        num_warmup=0,
        num_samples=moves,
        thinning=thinning,
        progress_bar=False,
    )
    run.post_warmup_state = state
    fields = ("kinetic_temperature", "num_grad_evals", "schedule.interval")
    run.run(setting["key_run"], setting["X"], setting["y"], extra_fields=fields)
    samples = jax.block_until_ready(run.get_samples())
    extra = run.get_extra_fields()
    kinetic = np.asarray(extra["kinetic_temperature"]) / setting["temperature"]
    grads = float(run.last_state.num_grad_evals - state.num_grad_evals)
    return (
        samples,
        extra,
        dict(
            kinetic_mean=float(kinetic.mean()),
            kinetic_max=float(kinetic.max()),
            grad_var_share=(grads - moves) / grads,
            intervals=sorted({int(v) for v in np.asarray(extra["schedule.interval"])}),
            num_nonfinite=int(np.sum(run.last_state.num_nonfinite)),
        ),
    )


def measure(state, setting, args):
    """d^2 against the lag in moves over ``--moves`` moves from ``state``."""
    start = time.process_time()
    samples, extra, summary = continue_chain(state, setting, args.moves, args.thinning)
    cpu = time.process_time() - start
    num = jax.tree.leaves(samples)[0].shape[0]
    lags = np.unique(np.geomspace(1, num - 1, 12).astype(int))
    res = diffusion(jax.tree.map(lambda v: np.asarray(v)[None], samples), lags=lags)
    # sigma^2 estimates between kept draws: the gradients beyond one per move
    per_draw = np.diff(np.asarray(extra["num_grad_evals"], np.int64), prepend=state.num_grad_evals)
    draws = per_draw - args.thinning
    first, last = (jax.tree.map(lambda v, i=i: v[i], samples) for i in (0, -1))
    return dict(
        summary,
        sq_norm_first=sq_norm(first),
        sq_norm_last=sq_norm(last),
        estimate_draws=draws[draws > 0].tolist(),
        lags=(lags * args.thinning).tolist(),
        d2=np.asarray(res.d2).tolist(),
        cpu_s=cpu,
    )


def report(args, setting, sites, measured, predicted):
    lines = [
        "# The masses predict pL's computational diffusion (10⁶ parameters, Fig. 4's chain)",
        "",
        *run_lines(),
        f"The chain: 1 006 110 parameters, P = {args.num_train}, T_paper = "
        f"{args.paper_temperature:g} (T = {setting['temperature']:g}, prior scale "
        f"{setting['prior_scale']:g}), Adam start (paper loss {setting['start_loss']:.4g}), "
        f"{PL_WARMUP[SIZE]} warmup moves, {args.equilibrate} untimed moves, then "
        f"{args.moves} measured moves. Floor: "
        + (
            "the reference's (sigma^2 >= 1e-8 P^2, no relative floor)."
            if args.reference_mass_floor
            else "the kernel's default relative floor (1e-2 of the site's mean sigma^2)."
        ),
        "",
    ]
    burn_in = setting["burn_in"]
    if burn_in:
        lines += [
            f"Burn-in: {burn_in['moves']} moves at r = {args.burn_in_noise_ratio:g} (after "
            f"{PL_WARMUP[SIZE]} warmup moves at that r), from the Adam start's |w|^2 of "
            f"{setting['start_sq_norm']:.4g} to {burn_in['sq_norm']:.4g}; kinetic T / T "
            f"{burn_in['kinetic_T_over_T_last_half']:.3f} over their second half (max "
            f"{burn_in['kinetic_T_over_T_max']:.3f}), {burn_in['num_nonfinite']} non-finite. "
            f"The chain then starts again at r = {NOISE_RATIO:g} from where they took it: "
            f"{PL_WARMUP[SIZE]} warmup moves and the untimed moves below.",
            "",
        ]
    eq = setting["equilibration"]
    if eq:
        lines += [
            f"Untimed moves: kinetic T / T {eq['kinetic_T_over_T_last_half']:.3f} over their "
            f"second half (max {eq['kinetic_T_over_T_max']:.3f}), "
            f"{eq['num_nonfinite']} non-finite.",
            "",
        ]
    lines += [
        "## sigma^2 and the masses at the start of the measured moves",
        "",
        "sigma^2 in the paper's units is on the gradient of the mean loss (sigma^2 / P^2); the "
        "reference's floor there is 1e-8. A mass is heavier than its latest sigma^2 asks for "
        "(r_i < 0.99 r) where a floor set it, or where sigma^2 fell after the mass was set "
        "(between resets the kernel only raises masses, the reference rule).",
        "",
        "| site | components | mean sigma^2, paper units | median | at or below the reference "
        "floor | mass heavier than its sigma^2 asks (r_i < 0.99 r) | sum of 1/M_i |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sites:
        lines.append(
            f"| {row['site']} | {row['n']:,} | {row['mean_paper']:.3g} | "
            f"{row['median_paper']:.3g} | {100 * row['at_floor']:.1f} % | "
            f"{100 * row['heavier']:.1f} % | {row['inverse_mass']:.4g} |"
        )
    slope = predicted["slope"]
    lines += [
        "",
        f"Free-diffusion slope, the sum of 2T/(M_i gamma) with gamma = {predicted['gamma']:.5f}, "
        f"in d^2 per move: **{slope['current']:.3g}** for these masses, "
        f"{slope['matched']:.3g} for the masses a reset would set now, "
        f"**{slope['floor']:.3g}** with every mass at the reference floor (time constant "
        f"M_floor gamma / k = {predicted['floor_tau']:.4g} moves, plateau 2NT/k = "
        f"{predicted['plateau']:.4g}).",
        "",
        "## d^2 against the lag",
        "",
        f"Measured over {args.moves} moves ({measured['cpu_s']:.0f} CPU s with compilation), "
        f"kinetic T / T {measured['kinetic_mean']:.3f} (max {measured['kinetic_max']:.3f}), "
        f"{measured['num_nonfinite']} non-finite moves; |w|^2 {measured['sq_norm_first']:.4g} "
        f"at the first kept draw and {measured['sq_norm_last']:.4g} at the last (the Adam "
        f"start: {setting['start_sq_norm']:.4g}); {100 * measured['grad_var_share']:.2f} % of "
        "the gradients went to sigma^2 estimates. Predicted: the prior's well with the masses "
        "named (``langevin_d2``).",
        "",
        f"sigma^2 estimates in those moves, by the gradients beyond one per move between kept "
        f"draws ({args.thinning} moves apart; two in one stretch count as one): "
        f"{len(measured['estimate_draws'])}, of {measured['estimate_draws']} draws; the "
        f"schedule's interval at the kept draws took the values {measured['intervals']}.",
        "",
        "| lag, moves | measured d^2 | these masses | measured / predicted "
        "| masses of a reset now | every mass at the reference floor |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    d2 = predicted["d2"]
    for i, (lag, value) in enumerate(zip(measured["lags"], measured["d2"], strict=True)):
        lines.append(
            f"| {lag} | {value:.4g} | {d2['current'][i]:.4g} | {value / d2['current'][i]:.3f} | "
            f"{d2['matched'][i]:.4g} | {d2['floor'][i]:.4g} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    (RESULTS / f"{args.out}.md").write_text(text)


def add_chain_arguments(parser):
    """The arguments of :func:`chain_state`."""
    parser.add_argument("--num-train", type=int, default=100_000, help="P (the paper's)")
    parser.add_argument("--paper-temperature", type=float, default=1e-6)
    parser.add_argument("--adam-steps", type=int, default=1000)
    parser.add_argument("--equilibrate", type=int, default=10_000)
    parser.add_argument("--reference-mass-floor", action="store_true")
    parser.add_argument(
        "--burn-in",
        type=int,
        default=0,
        help="moves at --burn-in-noise-ratio from the Adam start, before the chain's own warmup",
    )
    parser.add_argument("--burn-in-noise-ratio", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)


def results_name(args, stem):
    """``stem`` with ``_reference_floor`` and ``_burn_in<N>_r<R>`` as the chain has them."""
    name = stem + ("_reference_floor" if args.reference_mass_floor else "")
    if args.burn_in:
        name += f"_burn_in{args.burn_in}_r{args.burn_in_noise_ratio:g}"
    return name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_chain_arguments(parser)
    parser.add_argument("--moves", type=int, default=5_000)
    parser.add_argument("--thinning", type=int, default=100)
    parser.add_argument("--out")
    args = parser.parse_args()
    args.out = args.out or results_name(args, "mass_diffusion_1e6")
    state, setting = chain_state(args)
    measured = measure(state, setting, args)
    predicted = predictions(state, setting, args.num_train, measured["lags"])
    report(args, setting, site_table(state, args.num_train), measured, predicted)


if __name__ == "__main__":
    main()
