"""Settings shared by the tests that make short PseudoLangevin runs."""

# Cheap sigma^2 estimates (20 to 60 draws), re-estimated every 50 moves after warmup.
FAST = dict(reestimate_interval=50, min_grad_var_draws=20, max_grad_var_draws=60)

# Every extra field of the kernel's state that a run can collect besides `diverging`.
EXTRA = (
    "potential_energy",
    "kinetic_energy",
    "kinetic_temperature",
    "mean_noise_ratio",
    "num_grad_evals",
    "num_nonfinite",
)
