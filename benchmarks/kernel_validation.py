"""The kernel's two exact checks, as numbers: a harmonic well with injected gradient noise and
a conjugate Bayesian linear regression (the set-ups of tests/test_dynamics.py and
tests/test_statistics.py, whose assertions these numbers back).

- Harmonic well: U = k/2 sum w_i^2 with Gaussian gradient noise of variance 0.16, k = T = 1,
  4 000 independent wells, 55 000 moves after 5 000 of burn-in; <k w^2>/T with its MCSE from
  50 batch means, for pL and for the naive variant (expected 1 + (1 + c1^2) r).
- Regression: N = 2000, D = 3 + intercept, B = 100, r = 0.01, 4 vectorized chains of
  5e4 warmup + 3e5 moves thinned by 20, at T = 1 and 0.3: ESS, |mean - exact| / MCSE,
  sd / exact sd and the mean kinetic temperature.

Run from the repository root after ``pip install -e .``:
    python benchmarks/kernel_validation.py        (about 3 minutes on 2 cores)
Writes benchmarks/results/kernel_validation.md.
"""

import sys
from pathlib import Path

import numpy as np
from numpyro.diagnostics import effective_sample_size

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_dynamics import run_well  # noqa: E402
from test_statistics import (  # noqa: E402
    exact_posterior,
    regression_data,
    run_pseudo_langevin,
    stacked,
)

RESULTS = Path(__file__).resolve().parent / "results" / "kernel_validation.md"


def conjugate_regression(temperature):
    X, y = regression_data()
    mcmc = run_pseudo_langevin(X, y, temperature)
    samples = stacked(mcmc.get_samples(group_by_chain=True))
    mean, sd = exact_posterior(X, y, temperature)
    ess = np.asarray(effective_sample_size(samples))
    z = np.abs(samples.mean((0, 1)) - mean) / (sd / np.sqrt(ess))
    sd_ratio = samples.reshape(-1, samples.shape[-1]).std(0) / sd
    kinetic = float(np.mean(mcmc.get_extra_fields()["kinetic_temperature"])) / temperature
    return ess, z, sd_ratio, kinetic


def main():
    lines = ["# Kernel validation", "", "Command: `python benchmarks/kernel_validation.py`", ""]
    lines += ["| harmonic well | <k w^2>/T | MCSE | expected |", "|---|---:|---:|---:|"]
    for name, compensate in (("pL", True), ("naive", False)):
        ratio, mcse, mean_r = run_well(compensate, seed=0)
        expected = 1.0 if compensate else 1 + (2 - 0.1**2) * mean_r
        lines.append(f"| {name} | {ratio:.4f} | {mcse:.4f} | {expected:.4f} |")
    lines += [
        "",
        "| regression T | ESS | max abs(mean - exact)/MCSE | sd / exact sd | <T_kin>/T |",
        "|---:|---|---:|---|---:|",
    ]
    for temperature in (1.0, 0.3):
        ess, z, sd_ratio, kinetic = conjugate_regression(temperature)
        lines.append(
            f"| {temperature:g} | {ess.min():.0f}-{ess.max():.0f} | {z.max():.2f} "
            f"| {sd_ratio.min():.3f}-{sd_ratio.max():.3f} | {kinetic:.4f} |"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
