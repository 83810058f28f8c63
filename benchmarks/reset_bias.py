"""Site by site against long exact HMC: what the mass adaptation after warmup does to the
equilibrium of a small ReLU network.

The network, data and run lengths are those of ``tests/test_agreement_with_hmc.py`` (KSpin,
N = 400, 10 -> 8 -> 3 with ReLU on every layer, the output too, B = 40, T = 1), which tests
one of the settings below, ``reset_prob=0,max_noise_ratio=0.03``; the default's bias is
measured here only. The reference is NumPyro's exact HMC on the tempered
full-data model (4 chains x 10 000 draws, another key than the test's). PseudoLangevin runs
4 vectorized chains of 20 000 warmup + ``--moves`` moves (4 000 kept draws per chain) for each
setting of ``--settings``:

- ``default``: the kernel's defaults, the reference implementation's (``reset_prob=0.1``:
  at each re-estimate, with probability 0.1, every mass is re-matched to the σ² measured at
  the current position and every momentum redrawn);
- ``reset_prob=0``: a mass changes after warmup only where the noise has outgrown it,
  i.e. where a re-estimate finds r_i above ``max_noise_ratio`` (by default
  ``noise_ratio``, 0.01);
- ``reset_prob=0,max_noise_ratio=0.03`` and ``...=0.1``: the same, with the masses raised
  only where r_i passes 0.03 or 0.1, so that they stay nearer their end-of-warmup
  values (the white noise still follows every new σ²);
- ``reset_prob=1``: every re-estimate re-matches every mass;
- ``frozen``: ``adapt_after_warmup=False``, masses and σ² fixed at the end of warmup.

``--linear-output`` drops the ReLU on the output logits.

For each: the mean of |W|² per site, of |w|² and of the full-data potential energy U, with
MCSE = sd / sqrt(ESS) (ESS over all chains, NumPyro's), the z against HMC, and the mean
kinetic temperature 2K/n.

Run, from the repository root after ``pip install -e .``:
    python benchmarks/reset_bias.py [--moves 1000000] [--seeds 0 1] [--settings ...]
        [--linear-output] [--out NAME]
(about 14 minutes on 2 cores with the defaults: 45 s for HMC, 80 s per pL run); writes
benchmarks/results/<NAME>.md (default ``reset_bias``).
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from environment import write_results
from numpyro.diagnostics import effective_sample_size
from numpyro.infer import HMC, MCMC

from numpyro_pl import PseudoLangevin, bayesian_mlp, tempered
from numpyro_pl.datasets import kspin_split
from numpyro_pl.diagnostics import full_batch_observables, kinetic_temperature

WIDTHS = [10, 8, 3]  # the network of tests/test_agreement_with_hmc.py
TEMPERATURE, CHAINS = 1.0, 4
SETTINGS = {
    "default": {},
    "reset_prob=0": {"reset_prob": 0.0},
    "reset_prob=0,max_noise_ratio=0.03": {"reset_prob": 0.0, "max_noise_ratio": 0.03},
    "reset_prob=0,max_noise_ratio=0.1": {"reset_prob": 0.0, "max_noise_ratio": 0.1},
    "reset_prob=1": {"reset_prob": 1.0},
    "frozen": {"adapt_after_warmup": False},
}
WARMUP, KEPT = 20_000, 4_000
EVERY_SEED = (  # the settings run at every seed, the others at one
    "default",
    "reset_prob=0",
    "reset_prob=0,max_noise_ratio=0.03",
    "reset_prob=0,max_noise_ratio=0.1",
)
HMC_WARMUP, HMC_SAMPLES = 1_000, 10_000


def observables(model, mcmc, data):
    """``{name: values grouped by chain}``: |W|² of each site, then |w|² and the full-data U
    (:func:`~numpyro_pl.diagnostics.full_batch_observables`)."""
    values = {
        site: np.sum(np.asarray(v, np.float64).reshape(*v.shape[:2], -1) ** 2, axis=2)
        for site, v in mcmc.get_samples(group_by_chain=True).items()
    }
    full = full_batch_observables(mcmc, model, data)
    values["|w|²"] = np.asarray(full.sq_norm, np.float64)
    values["U"] = np.asarray(full.potential_energy, np.float64)
    return values


def mean_and_mcse(values):
    return {
        name: (x.mean(), x.std() / np.sqrt(float(effective_sample_size(x))))
        for name, x in values.items()
    }


def run_hmc(model, data):
    mcmc = MCMC(
        HMC(
            tempered(model, TEMPERATURE),
            num_steps=20,
            trajectory_length=None,
            adapt_mass_matrix=False,
        ),
        num_warmup=HMC_WARMUP,
        num_samples=HMC_SAMPLES,
        num_chains=CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(2), *data)
    return mean_and_mcse(observables(model, mcmc, data))


def run_pl(model, data, kwargs, moves, seed):
    mcmc = MCMC(
        PseudoLangevin(model, batch_size=40, temperature=TEMPERATURE, **kwargs),
        num_warmup=WARMUP,
        num_samples=moves,
        thinning=moves // KEPT,
        num_chains=CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(seed), *data, extra_fields=("kinetic_temperature",))
    return mean_and_mcse(observables(model, mcmc, data)), kinetic_temperature(mcmc).mean


def table(reference, rows):
    names = list(reference)
    lines = [
        "| run | " + " | ".join(n.replace("|", "\\|") for n in names) + " | 2K/n |",
        "|---|" + "---:|" * (len(names) + 1),
        "| exact HMC | " + " | ".join(f"{m:.2f} ± {e:.2f}" for m, e in reference.values()) + " | |",
    ]
    for label, stats, kinetic in rows:
        cells = []
        for name in names:
            (m, e), (m0, e0) = stats[name], reference[name]
            cells.append(f"{m:.2f} ± {e:.2f} ({(m - m0) / np.hypot(e, e0):+.1f})")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {kinetic:.4f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=1_000_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    parser.add_argument(
        "--linear-output",
        action="store_true",
        help="no ReLU on the output logits (the test's network has one)",
    )
    parser.add_argument("--out", default="reset_bias", help="results file name")
    args = parser.parse_args()
    if args.moves < KEPT:
        parser.error(f"--moves must be at least {KEPT}, got {args.moves}")
    train = kspin_split(400, 1, num_classes=3, dim=10, seed=0).train
    data = jnp.asarray(train.X), jnp.asarray(train.y)
    start = time.perf_counter()
    model = bayesian_mlp(WIDTHS, activate_output=not args.linear_output, prior_scale=1.0)
    reference = run_hmc(model, data)
    rows = []
    for name in args.settings:
        for seed in args.seeds if name in EVERY_SEED else args.seeds[:1]:
            stats, kinetic = run_pl(model, data, SETTINGS[name], args.moves, seed)
            rows.append((f"pL {name}, seed {seed}", stats, kinetic))
            print(rows[-1][0], f"done, {time.perf_counter() - start:.0f} s", flush=True)
    text = table(reference, rows)
    print(text)
    write_results(
        args.out,
        "Mass adaptation after warmup against exact HMC",
        f"Network {WIDTHS}, ReLU on every hidden layer"
        + (", linear output logits" if args.linear_output else " and on the output")
        + f". Mean ± MCSE (z against HMC); HMC: {CHAINS} chains × {HMC_SAMPLES:,} draws; "
        f"pL: {CHAINS} chains × ({WARMUP:,} warmup + {args.moves:,} moves), "
        f"{KEPT:,} kept per chain.",
        "",
        text,
    )


if __name__ == "__main__":
    main()
