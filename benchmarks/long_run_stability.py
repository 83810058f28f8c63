"""Long-run stability: 10^5 moves of PseudoLangevin on a 10^4-parameter Bayesian MLP.

The reliability check of a long run: after warmup, the kinetic temperature must stay within
2 % of T in every window of 10^4 moves, and nothing may drift or blow up (|w|^2 and the
minibatch potential energy level, no non-finite move).

Setting: the paper's 11 160-parameter MLP 100 -> 50 -> 100 -> 10 with ReLU after every layer
(``bayesian_mlp(..., activate_output=True)``), KSpin with P = 10 000 training examples,
prior sd 1 (lambda = 1e-4 in the paper's units, ``paper_to_numpyro``) and T = 1, the
posterior (T_paper = 1e-4); B = 128 and the kernel's defaults, with
``on_nonfinite="rollback"`` so that a fault is counted rather than ending the run. The
chain starts from He's initialisation (a draw from the prior leaves these ReLU networks
dead) and warms up for 300 000 moves. The relaxation time 1/(4 r B T_paper) = 1 950 moves
holds for the data-constrained directions; |w|^2, dominated by directions that only the
prior constrains (sd 1, against He's 0.14 or less), grows for far longer: after a 20 000-move
warmup it still rose from 3 450 to 6 110 over the next 10^5 moves. Every 100th move is
kept (the kinetic temperature decorrelates in about 1/m1^2 = 100 moves), 100 per window.

Run, from the repository root after ``pip install -e ".[examples]"`` (matplotlib):
    python benchmarks/long_run_stability.py [--moves 100000] [--window 10000]
(about 5-7 minutes on 2 cores); writes benchmarks/results/long_run_stability.{md,json,png}.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import arviz as az
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from environment import machine, package_version
from numpyro.infer import MCMC

from numpyro_pl import PseudoLangevin, bayesian_mlp, paper_to_numpyro
from numpyro_pl.datasets import kspin_split

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WIDTHS = [100, 50, 100, 10]
P, B, WEIGHT_DECAY, T_PAPER, THINNING, TOLERANCE = 10_000, 128, 1e-4, 1e-4, 100, 0.02
RESULTS = Path(__file__).parent / "results"


def he_init(key):
    """He's initialisation: W ~ Normal(0, sqrt(2 / fan_in)), b = 0."""
    params = {}
    for i, key_w in enumerate(jax.random.split(key, len(WIDTHS) - 1)):
        n_in, n_out = WIDTHS[i], WIDTHS[i + 1]
        params[f"W{i}"] = jnp.sqrt(2.0 / n_in) * jax.random.normal(key_w, (n_in, n_out))
        params[f"b{i}"] = jnp.zeros(n_out)
    return params


def windows(values, moves, window):
    """Mean and Monte Carlo standard error (ArviZ's ESS) of ``values`` per window of moves."""
    rows = []
    for start in range(0, int(moves[-1]), window):
        inside = values[(moves > start) & (moves <= start + window)]
        ess = float(az.ess(inside[None, :]))
        rows.append((start, start + window, float(inside.mean()), float(inside.std() / ess**0.5)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=300_000)
    args = parser.parse_args()
    prior_scale, temperature = paper_to_numpyro(P, WEIGHT_DECAY, T_PAPER)
    train, _ = kspin_split(P, 1, seed=0)
    model = bayesian_mlp(WIDTHS, activate_output=True, prior_scale=prior_scale)
    kernel = PseudoLangevin(model, batch_size=B, temperature=temperature, on_nonfinite="rollback")
    mcmc = MCMC(
        kernel,
        num_warmup=args.warmup,
        num_samples=args.moves,
        thinning=THINNING,
        progress_bar=False,
    )
    key_init, key_run = jax.random.split(jax.random.key(0))
    start = time.perf_counter()
    mcmc.run(
        key_run,
        train.X,
        train.y,
        init_params=he_init(key_init),
        extra_fields=("i", "kinetic_temperature", "potential_energy", "num_nonfinite"),
    )
    extra = jax.tree.map(np.asarray, mcmc.get_extra_fields())
    samples = jax.tree.map(np.asarray, mcmc.get_samples())
    seconds = time.perf_counter() - start
    moves = extra["i"] - args.warmup
    w_sq = sum(np.sum(x.reshape(len(moves), -1) ** 2, axis=1) for x in samples.values())
    t_kin = extra["kinetic_temperature"] / temperature
    rows = {
        "kinetic_temperature": windows(t_kin, moves, args.window),
        "w_squared": windows(w_sq, moves, args.window),
        "potential_energy": windows(extra["potential_energy"], moves, args.window),
    }
    worst = max(abs(mean - 1.0) for _, _, mean, _ in rows["kinetic_temperature"])
    faults = int(extra["num_nonfinite"][-1])
    held = worst <= TOLERANCE and faults == 0
    head = (
        f"- {machine()}\n- {package_version()}\n- command: `python {' '.join(sys.argv)}`\n"
        f"- {args.warmup:,} warmup moves, then {args.moves:,} moves, every {THINNING}th kept; "
        f"{seconds:.0f} s; non-finite moves: {faults}\n"
    )
    table = ["| moves | T_kin / T | \\|w\\|² | minibatch U |", "|---|---:|---:|---:|"]
    for (a, b, t, t_se), (_, _, w, w_se), (_, _, u, u_se) in zip(*rows.values(), strict=True):
        table.append(
            f"| {a:,}–{b:,} | {t:.4f} ± {t_se:.4f} | {w:.1f} ± {w_se:.1f} | {u:.0f} ± {u_se:.0f} |"
        )
    verdict = (
        f"**Largest window deviation of T_kin from T: {100 * worst:.2f} % "
        f"(target ≤ {100 * TOLERANCE:.0f} %): {'held' if held else 'NOT held'}.**"
    )
    text = "\n".join(
        ["# Long-run stability", "", head, *table, "", verdict, "", "![](long_run_stability.png)"]
    )
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "long_run_stability.md").write_text(text + "\n")
    (RESULTS / "long_run_stability.json").write_text(
        json.dumps(dict(rows=rows, worst=worst, faults=faults, seconds=seconds), indent=1)
    )
    fig, (ax_t, ax_w) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    ax_t.plot(moves, t_kin, lw=0.5, color="0.6", label="kept moves")
    for a, b, mean, _ in rows["kinetic_temperature"]:
        ax_t.hlines(mean, a, b, color="C0", lw=2)
    ax_t.axhspan(1 - TOLERANCE, 1 + TOLERANCE, color="C2", alpha=0.15, label="±2 %")
    ax_t.set_ylabel("kinetic temperature / T")
    ax_t.legend(loc="upper right")
    ax_w.plot(moves, w_sq, lw=0.8)
    ax_w.set_ylabel("|w|²")
    ax_w.set_xlabel("move after warmup")
    fig.suptitle(f"PseudoLangevin, {sum(x[0].size for x in samples.values()):,} parameters")
    fig.tight_layout()
    fig.savefig(RESULTS / "long_run_stability.png", dpi=90)
    if not held:
        sys.exit(1)


if __name__ == "__main__":
    main()
