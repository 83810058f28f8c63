"""The noise ratio r of PseudoLangevin: mixing (ESS per move) against accuracy, at T = 1.

r is the share of the thermal noise that the minibatch supplies. The masses are
M_i = sigma_i^2 dt^2 / (4 r T m1^2), so the integrated autocorrelation time of a coordinate is
about sigma_i^2 / (2 r T k_i) moves (k_i its curvature), i.e. ~1/(2 r T) epochs for a
well-specified model, in the under- and the overdamped regime alike: ESS per move should grow
like r. The price is accuracy: only the diagonal of the minibatch noise is compensated, and
sigma^2 is an estimate, so the error of the compensation scales with r.

Every run uses the kernel's defaults (m1 = 0.1, dt = 1, the reference re-estimation schedule
of 5 000 -> 50 000 moves after a doubling-window warmup, p_reset = 0.1) with
``noise_ratio=r, max_noise_ratio=r`` (the reference r_max = r; the kernel accepts any
r <= r_max < 1/(1 + c1^2) = 0.5025), vectorized chains, ``progress_bar=False``.

(a) The conjugate regression of tests/diagnostics/regression_run.py (imported): N = 300,
    D = 3, B = 30 (10 moves per epoch), Normal(0, 1) prior, unit noise, data as the
    ``data`` fixture of tests/diagnostics/conftest.py; started at the least-squares fit.
    Exact posterior: precision X'X + I. Reported: <T_kin>/T +- MCSE, sd / exact sd (mean
    and range over the D coordinates), max |mean - exact| in exact sds and in MCSEs
    (MCSE = exact sd / sqrt(ESS)), bulk ESS (ArviZ, all chains) per move (min and median
    over coordinates) and per 1000 gradient evaluations (``num_grad_evals``, sampling
    phase, sigma^2 re-estimates included), and the mean r_i over the run
    (``mean_noise_ratio``: r_i only falls between resets, since a rise is clamped at r_max,
    and the mass floor keeps it below r for components with little minibatch noise).
(b) A Bayesian MLP, ``bayesian_mlp([100, 10, 10])`` (ReLU hidden layer, 1 120 parameters,
    Normal(0, 1) priors) on KSpin (``kspin_split(2000, ...)``: K = 10, d = 100, flip
    probability 0.355, P = 2 000), B = 128 (15.6 moves per epoch). (On the digits set,
    ``bayesian_mlp([64, 16, 10])``, r = 0.25 from ``init_to_uniform`` ran away in all four
    chains during warmup, |w|^2 ~ 1e25 while still finite, so ``diverging`` stayed False;
    r = 0.01 was stable.) The r = 0.1 run starts from ``init_to_uniform``; every other run
    starts from its final positions and has its own warmup. Reported on thinned draws:
    <T_kin>/T, the configurational (virial) temperature <w . grad U(w)> / (n T) with the full-batch
    gradient (exactly 1 for any target exp(-U/T): integrate by parts), ESS per move of
    |w|^2 and of the full-batch U (``numpyro_pl.diagnostics.full_batch_observables``), and
    <|w|^2>, <U> against the reference: the r = 0.01 run (longer than the others) and, unless
    ``--no-nuts``, NUTS on the full data from the same start.
(c) What keeps the error small at large r, at r = 0.25 (and 0.1 on the regression): sigma^2
    re-estimated every ``--track-interval`` moves ("tracking": reestimate_interval =
    max_reestimate_interval = that), the same with p_reset = 1 (every estimate re-matches
    all masses, no ratchet of r_i; regression only), and sigma^2 frozen after warmup
    (``adapt_after_warmup=False``; on the BNN an equivalent never-reached interval, see
    ``variants``).

Run from the repository root after ``pip install -e .``:
    python benchmarks/noise_ratio_tradeoff.py [--quick] [--no-nuts]
(default about 20 minutes on 2 idle cores, most of it XLA compilation of the 16 kernel
configurations; --quick about 10). Writes
benchmarks/results/noise_ratio_tradeoff.{md,json,png}.
"""

import argparse
import inspect
import json
import os
import sys
import time
from pathlib import Path

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpyro.infer import MCMC, NUTS, init_to_value
from numpyro.infer.util import potential_energy

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "diagnostics")]
from environment import machine, package_version  # noqa: E402
from regression_run import B as REG_B  # noqa: E402
from regression_run import D as REG_D  # noqa: E402
from regression_run import N as REG_N  # noqa: E402
from regression_run import regression  # noqa: E402

from numpyro_pl import PseudoLangevin, bayesian_mlp  # noqa: E402
from numpyro_pl.datasets import kspin_split  # noqa: E402
from numpyro_pl.diagnostics import full_batch_observables  # noqa: E402

R_VALUES = (0.01, 0.05, 0.1, 0.25)
START_R = 0.1  # the BNN run that starts from init_to_uniform
TEMPERATURE, CHAINS = 1.0, 4
WIDTHS, BNN_B, BNN_P = [100, 10, 10], 128, 2_000
EXTRA = ("kinetic_temperature", "num_grad_evals", "mean_noise_ratio", "diverging")
RESULTS = ROOT / "benchmarks" / "results"
SIZES = {  # (warmup, samples, thinning) per chain; the BNN reference r = 0.01 run is longer
    "full": dict(
        reg=(3_000, 50_000, 1),
        bnn=(4_000, 30_000, 10),
        bnn_ref=(4_000, 90_000, 10),
        nuts=(300, 300),
        track=200,
    ),
    "quick": dict(
        reg=(500, 5_000, 1),
        bnn=(500, 2_000, 10),
        bnn_ref=(500, 4_000, 10),
        nuts=(50, 50),
        track=100,
    ),
}


# ----------------------------------------------------------------------------- helpers
NEVER = 2**30  # a re-estimation interval longer than any run: sigma^2 frozen after warmup


def variants(track, bnn=False):
    """The kernel settings compared at large r. On the BNN, ``adapt_after_warmup=False``
    made XLA spend 4 minutes compiling the sampling loop (against about 1 for the others), so
    there sigma^2 is frozen by an interval no run reaches (same moves: after warmup the
    schedule restarts at ``reestimate_interval``), and the p_reset = 1 variant is left out."""
    tracking = dict(reestimate_interval=track, max_reestimate_interval=track)
    out = {"default": {}, f"tracking /{track}": tracking}
    if not bnn:
        out[f"tracking /{track}, p_reset=1"] = dict(tracking, reset_prob=1.0)
        out["frozen after warmup"] = dict(adapt_after_warmup=False)
    else:
        out["frozen after warmup"] = dict(reestimate_interval=NEVER, max_reestimate_interval=NEVER)
    return out


def ess_bulk(x):
    """Bulk ESS over all chains of ``x`` shaped (chains, draws, *shape)."""
    x = np.asarray(x, np.float64)
    return np.asarray(az.ess(az.convert_to_dataset({"x": x}), method="bulk")["x"].values)


def mean_mcse(x):
    """(mean, MCSE of the mean) of ``x`` shaped (chains, draws)."""
    x = np.asarray(x, np.float64)
    mcse = az.mcse(az.convert_to_dataset({"x": x}), method="mean")["x"].values
    return float(x.mean()), float(mcse)


def run_pl(model, args, r, sizes, key, *, batch_size, init_strategy=None, init_params=None, **kw):
    """Vectorized PseudoLangevin chains; returns the MCMC, its wall time and the chain stats
    common to both problems."""
    warmup, samples, thinning = sizes
    extra = dict(init_strategy=init_strategy) if init_strategy is not None else {}
    kernel = PseudoLangevin(
        model,
        batch_size=batch_size,
        temperature=TEMPERATURE,
        noise_ratio=r,
        max_noise_ratio=r,
        **extra,
        **kw,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=samples,
        thinning=thinning,
        num_chains=CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    t0 = time.perf_counter()
    mcmc.run(jax.random.key(key), *args, extra_fields=EXTRA, init_params=init_params)
    jax.block_until_ready((mcmc.get_samples(), mcmc.last_state))
    wall = time.perf_counter() - t0
    ex = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    nge = ex["num_grad_evals"].astype(np.float64)
    moves = samples * CHAINS
    grads_per_move = float(np.mean((nge[:, -1] - nge[:, 0]) / (thinning * (nge.shape[1] - 1))))
    t_kin, t_kin_se = mean_mcse(ex["kinetic_temperature"] / TEMPERATURE)
    stats = dict(
        r=r,
        wall_s=wall,
        moves=moves,
        t_kin=t_kin,
        t_kin_mcse=t_kin_se,
        grads_per_move=grads_per_move,
        mean_r=float(ex["mean_noise_ratio"].mean()),
        diverging=int(ex["diverging"].sum()),
    )
    return mcmc, stats


def with_ess(stats, ess):
    """Add ESS per move and per 1000 gradient evaluations for ``ess`` (any shape)."""
    per_move = np.asarray(ess) / stats["moves"]
    return per_move, 1e3 * per_move / stats["grads_per_move"]


# ------------------------------------------------------------------------ (a) regression
def regression_data():
    """The data of the ``data`` fixture in tests/diagnostics/conftest.py."""
    key_x, key_y = jax.random.split(jax.random.key(0))
    X = jax.random.normal(key_x, (REG_N, REG_D))
    y = X @ jnp.array([1.0, -1.0, 0.5]) + jax.random.normal(key_y, (REG_N,))
    return X, y


def exact_regression_posterior(X, y):
    X64, y64 = np.asarray(X, np.float64), np.asarray(y, np.float64)
    cov = np.linalg.inv(X64.T @ X64 + np.eye(REG_D))  # unit noise and prior sd
    return cov @ X64.T @ y64, np.sqrt(TEMPERATURE * np.diag(cov))


def regression_row(r, sizes, label, data, exact, **kw):
    X, y = data
    start = init_to_value(values={"w": jnp.linalg.lstsq(X, y)[0]})
    mcmc, st = run_pl(regression, data, r, sizes, 1, batch_size=REG_B, init_strategy=start, **kw)
    w = np.asarray(mcmc.get_samples(group_by_chain=True)["w"], np.float64)
    mean, sd = exact
    ess = ess_bulk(w)
    err = np.abs(w.mean((0, 1)) - mean)
    sd_ratio = w.reshape(-1, REG_D).std(0) / sd
    per_move, per_kgrad = with_ess(st, ess)
    st.update(
        variant=label,
        sd_ratio_mean=float(sd_ratio.mean()),
        sd_ratio_min=float(sd_ratio.min()),
        sd_ratio_max=float(sd_ratio.max()),
        err_sd=float((err / sd).max()),
        err_mcse=float((err / (sd / np.sqrt(ess))).max()),
        ess_move_min=float(per_move.min()),
        ess_move_med=float(np.median(per_move)),
        ess_kgrad_min=float(per_kgrad.min()),
        ess_kgrad_med=float(np.median(per_kgrad)),
    )
    print(f"  regression r={r} {label}: {st['wall_s']:.0f} s", flush=True)
    return st


# ------------------------------------------------------------------------------- (b) BNN
def bnn_observables(samples, model, data):
    """Full-batch U, |w|^2 and the virial w . grad U of each draw, shaped (chains, draws)."""
    obs = full_batch_observables(samples, model, data)
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in samples.items()}

    def virial(params):
        grad = jax.grad(lambda p: potential_energy(model, data, {}, p))(params)
        return sum(
            jnp.sum(p * g)
            for p, g in zip(jax.tree.leaves(params), jax.tree.leaves(grad), strict=True)
        )

    vir = lax.map(virial, flat, batch_size=100).reshape(obs.sq_norm.shape)
    return [np.asarray(x, np.float64) for x in (obs.potential_energy, obs.sq_norm, vir)]


def bnn_summary(st, samples, model, data, n_params):
    U, sq, vir = bnn_observables(samples, model, data)
    ess_sq, ess_u = ess_bulk(sq), ess_bulk(U)
    st.update(
        sq_norm=mean_mcse(sq),
        U=mean_mcse(U),
        t_conf=mean_mcse(vir / (n_params * TEMPERATURE)),
        ess_sq=float(ess_sq),
        ess_u=float(ess_u),
    )
    if "moves" in st:
        (st["ess_move_sq"], st["ess_move_u"]), (st["ess_kgrad_sq"], st["ess_kgrad_u"]) = [
            [float(v) for v in x] for x in with_ess(st, np.array([ess_sq, ess_u]))
        ]
    return st


def bnn_rows(sizes, nuts):
    train, _ = kspin_split(BNN_P, 10, seed=0)
    data = (train.X, train.y)
    model = bayesian_mlp(WIDTHS)
    rows, start = [], None
    # r = 0.1 first (stable from a random start, and 10x faster to relax than r = 0.01)
    for r in sorted(R_VALUES, key=lambda r: (r != START_R, -r)):
        size = sizes["bnn_ref"] if r == min(R_VALUES) else sizes["bnn"]
        mcmc, st = run_pl(model, data, r, size, 2, batch_size=BNN_B, init_params=start)
        if start is None:
            start = mcmc.last_state.z  # every other run starts at these chains' end
        n_params = sum(int(np.prod(v.shape[1:])) for v in jax.tree.leaves(start))
        samples = mcmc.get_samples(group_by_chain=True)
        rows.append(bnn_summary(dict(st, variant="default"), samples, model, data, n_params))
        print(f"  BNN r={r}: {st['wall_s']:.0f} s", flush=True)
    rmax = max(R_VALUES)
    for label, kw in list(variants(sizes["track"], bnn=True).items())[1:]:
        mcmc, st = run_pl(
            model, data, rmax, sizes["bnn"], 2, batch_size=BNN_B, init_params=start, **kw
        )
        samples = mcmc.get_samples(group_by_chain=True)
        rows.append(bnn_summary(dict(st, variant=label), samples, model, data, n_params))
        print(f"  BNN r={rmax} {label}: {st['wall_s']:.0f} s", flush=True)
    rows.sort(key=lambda s: (s["variant"] != "default", s["r"]))
    ref = None
    if nuts:
        warmup, samples_n = sizes["nuts"]
        mcmc = MCMC(
            NUTS(model, max_tree_depth=7),
            num_warmup=warmup,
            num_samples=samples_n,
            num_chains=2,
            chain_method="vectorized",
            progress_bar=False,
        )
        t0 = time.perf_counter()
        init = jax.tree.map(lambda x: x[:2], start)
        mcmc.run(jax.random.key(3), *data, init_params=init, extra_fields=("num_steps",))
        jax.block_until_ready(mcmc.get_samples())
        steps = float(np.mean(mcmc.get_extra_fields()["num_steps"]))
        nuts_st = dict(variant="NUTS", wall_s=time.perf_counter() - t0, steps=steps)
        ref = bnn_summary(nuts_st, mcmc.get_samples(group_by_chain=True), model, data, n_params)
        print(f"  BNN NUTS: {nuts_st['wall_s']:.0f} s", flush=True)
    return rows, ref, n_params, len(train.y)


# --------------------------------------------------------------------------- reporting
def markdown(head, body):
    return "\n".join([f"| {head} |", "|---" + "|---:" * head.count("|") + "|", *body]) + "\n"


def pm(x, digits=4):
    return f"{x[0]:.{digits}f} ± {x[1]:.{digits}f}"


def regression_table(rows):
    return markdown(
        "r | variant | mean r_i | ⟨T_kin⟩/T | sd/exact sd: mean (min–max) | max err/sd "
        "| max err/MCSE | ESS/move min (med) | ESS/1000 grads min (med) | grads/move "
        "| wall s",
        [
            f"| {s['r']} | {s['variant']} | {s['mean_r']:.4f} "
            f"| {s['t_kin']:.4f} ± {s['t_kin_mcse']:.4f} "
            f"| {s['sd_ratio_mean']:.3f} ({s['sd_ratio_min']:.3f}–{s['sd_ratio_max']:.3f}) "
            f"| {s['err_sd']:.3f} | {s['err_mcse']:.2f} "
            f"| {s['ess_move_min']:.4f} ({s['ess_move_med']:.4f}) "
            f"| {s['ess_kgrad_min']:.2f} ({s['ess_kgrad_med']:.2f}) "
            f"| {s['grads_per_move']:.3f} | {s['wall_s']:.0f} |"
            for s in rows
        ],
    )


def rel(x, ref):
    """Relative difference of two (mean, mcse) and its z-score."""
    d = x[0] / ref[0] - 1
    se = np.hypot(x[1] / ref[0], x[0] * ref[1] / ref[0] ** 2)
    return f"{100 * d:+.2f} % ({d / se:+.1f})"


def bnn_table(rows, ref_pl, nuts):
    body = []
    for s in rows + ([nuts] if nuts else []):
        is_pl = "moves" in s
        ref_cols = " | ".join(
            "—" if s is ref else rel(s[k], ref[k])
            for ref in ([ref_pl] + ([nuts] if nuts else []))
            for k in ("sq_norm", "U")
        )
        body.append(
            f"| {s.get('r', '—')} | {s['variant']} "
            + (
                f"| {s['mean_r']:.4f} | {s['t_kin']:.4f} ± {s['t_kin_mcse']:.4f} "
                if is_pl
                else "| — | — "
            )
            + f"| {pm(s['t_conf'])} | {pm(s['sq_norm'], 1)} | {pm(s['U'], 1)} | {ref_cols} "
            + (
                f"| {s['ess_move_sq']:.5f} | {s['ess_move_u']:.5f} | {s['ess_kgrad_sq']:.3f} "
                f"| {s['ess_kgrad_u']:.3f} | {s['grads_per_move']:.3f} | {s['diverging']} "
                if is_pl
                else f"| ESS {s['ess_sq']:.0f} | ESS {s['ess_u']:.0f} | — | — "
                f"| {s['steps']:.0f}/draw | — "
            )
            + f"| {s['wall_s']:.0f} |"
        )
    refs = "⟨\\|w\\|²⟩ vs r=0.01 | ⟨U⟩ vs r=0.01" + (
        " | ⟨\\|w\\|²⟩ vs NUTS | ⟨U⟩ vs NUTS" if nuts else ""
    )
    return markdown(
        "r | variant | mean r_i | ⟨T_kin⟩/T | T_conf/T (virial) | ⟨\\|w\\|²⟩ | ⟨U⟩ | "
        + refs
        + " | ESS/move \\|w\\|² | ESS/move U | ESS/1000 grads \\|w\\|² | ESS/1000 grads U "
        "| grads/move | divergent | wall s",
        body,
    )


def plot(reg, bnn, nuts, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reg_d = [s for s in reg if s["variant"] == "default"]
    bnn_d = [s for s in bnn if s["variant"] == "default"]
    rs = [s["r"] for s in reg_d]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.loglog(rs, [s["ess_move_min"] for s in reg_d], "o-", label="regression, min coord")
    a.loglog([s["r"] for s in bnn_d], [s["ess_move_sq"] for s in bnn_d], "s-", label="BNN |w|²")
    a.loglog([s["r"] for s in bnn_d], [s["ess_move_u"] for s in bnn_d], "^-", label="BNN U")
    ref = reg_d[0]["ess_move_min"] / rs[0]
    a.loglog(rs, [ref * r for r in rs], "k:", label="∝ r")
    a.set(xlabel="r", ylabel="bulk ESS per move", title="mixing")
    a.legend(fontsize=8)
    lo = [s["sd_ratio_mean"] - s["sd_ratio_min"] for s in reg_d]
    hi = [s["sd_ratio_max"] - s["sd_ratio_mean"] for s in reg_d]
    kw = dict(capsize=3)
    b.errorbar(
        rs,
        [s["sd_ratio_mean"] for s in reg_d],
        [lo, hi],
        fmt="o-",
        **kw,
        label="regression sd/exact sd (range)",
    )
    t_conf = np.array([s["t_conf"] for s in bnn_d])
    b.errorbar([s["r"] for s in bnn_d], *t_conf.T, fmt="s-", **kw, label="BNN T_conf/T")
    b.plot(rs, [s["t_kin"] for s in reg_d], "x--", label="regression ⟨T_kin⟩/T")
    if nuts:
        for key, mark, name in (("sq_norm", "v:", "⟨|w|²⟩"), ("U", "^:", "⟨U⟩")):
            ratio = [s[key][0] / nuts[key][0] for s in bnn_d]
            b.plot([s["r"] for s in bnn_d], ratio, mark, label=f"BNN {name} / NUTS")
    b.axhline(1, color="k", lw=0.5)
    b.set(xscale="log", xlabel="r", title="accuracy (1 = exact)")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def header():
    noise = inspect.signature(PseudoLangevin).parameters.get("white_noise")
    return (
        f"- {machine(az)}; load average at start: {os.getloadavg()[0]:.2f}\n"
        f"- package: {package_version()}; white noise: "
        f"{noise.default if noise else 'normal (no white_noise argument)'}\n"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for development")
    parser.add_argument("--no-nuts", action="store_true", help="skip the NUTS reference (BNN)")
    parser.add_argument(
        "--track-interval",
        type=int,
        help="moves between sigma^2 estimates in the tracking variants (default 200; 100 "
        "with --quick)",
    )
    args = parser.parse_args()
    sizes = dict(SIZES["quick" if args.quick else "full"])
    if args.track_interval:
        sizes["track"] = args.track_interval
    header_, command = header(), " ".join(["python", *sys.argv])
    t_start = time.perf_counter()

    data = regression_data()
    exact = exact_regression_posterior(*data)
    print("(a) regression", flush=True)
    reg = [regression_row(r, sizes["reg"], "default", data, exact) for r in R_VALUES]
    for r in (max(R_VALUES),) if args.quick else (0.1, max(R_VALUES)):
        for label, kw in list(variants(sizes["track"]).items())[1:]:
            reg.append(regression_row(r, sizes["reg"], label, data, exact, **kw))
    print("(b) BNN", flush=True)
    bnn, nuts, n_params, n_train = bnn_rows(sizes, not args.no_nuts)
    ref_pl = next(s for s in bnn if s["r"] == min(R_VALUES) and s["variant"] == "default")
    wall = time.perf_counter() - t_start

    (rw, rs, rt), (bw, bs, bt), (bw_ref, bs_ref, _) = sizes["reg"], sizes["bnn"], sizes["bnn_ref"]
    text = (
        f"## (a) Conjugate regression (tests/diagnostics/regression_run.py: N = {REG_N}, "
        f"D = {REG_D}, B = {REG_B}), T = {TEMPERATURE:g}\n\n"
        f"{CHAINS} vectorized chains x ({rw:,} warmup + {rs:,} moves), thinning {rt}, "
        "started at the least-squares fit. err = |posterior mean - exact mean|, max over "
        "coordinates; MCSE = exact sd / sqrt(bulk ESS). Tracking variants re-estimate "
        f"sigma^2 every {sizes['track']} moves.\n\n{regression_table(reg)}\n"
        f"## (b) BNN {WIDTHS} ReLU, {n_params:,} parameters, KSpin P = {n_train:,}, "
        f"B = {BNN_B}, T = {TEMPERATURE:g}\n\n"
        f"{CHAINS} vectorized chains x ({bw:,} warmup + {bs:,} moves), thinning {bt} "
        f"(r = 0.01: {bw_ref:,} + {bs_ref:,}); r = {START_R} from init_to_uniform, every other "
        "run from its final state. T_conf = <w . grad U>/(n T), full batch (exact value 1). "
        "Relative differences with (z-score)."
        + (
            f" NUTS: 2 chains x ({sizes['nuts'][0]} warmup + {sizes['nuts'][1]} draws), "
            "max_tree_depth 7, full data, same start."
            if nuts
            else ""
        )
        + f"\n\n{bnn_table(bnn, ref_pl, nuts)}"
    )
    print(text)
    RESULTS.mkdir(exist_ok=True)
    name = "noise_ratio_tradeoff" + ("_quick" if args.quick else "")
    (RESULTS / f"{name}.md").write_text(
        f"# Noise ratio r: ESS per move against accuracy\n\n{header_}- command: `{command}`\n"
        f"- wall time {wall / 60:.1f} min; load average at end: {os.getloadavg()[0]:.2f}\n\n"
        f"{text}"
    )
    (RESULTS / f"{name}.json").write_text(
        json.dumps(dict(command=command, sizes=sizes, regression=reg, bnn=bnn, nuts=nuts), indent=1)
    )
    plot(reg, bnn, nuts, RESULTS / f"{name}.png")
    print(f"wall time {wall / 60:.1f} min; wrote {RESULTS / name}.md/.json/.png")


if __name__ == "__main__":
    main()
