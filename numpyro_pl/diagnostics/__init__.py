r"""
Diagnostics for a finished pseudo-Langevin run: full-batch observables of the samples, the
kinetic temperature against its target, the computational diffusion of the weights, the
Bayesian model average of a classifier with its calibration, and conversion to ArviZ.

These are the observables with which Zambon, Caruso, Zecchina and Tiana, *Controlled
Langevin Dynamics for Sampling of Feedforward Neural Networks Trained with Minibatches*,
arXiv:2603.15367 (2026), assess the sampler: the full-batch energy, data term and weight
norm along the chain, the train and test errors, the kinetic temperature :math:`2K/n`, which
averages to :math:`T` when the minibatch noise is compensated, and the mean squared
displacement of the weights against the compute spent.
"""

from numpyro_pl.diagnostics.computational_diffusion import Diffusion, diffusion
from numpyro_pl.diagnostics.conversion import to_arviz
from numpyro_pl.diagnostics.model_average import (
    expected_calibration_error,
    model_average,
    negative_log_likelihood,
)
from numpyro_pl.diagnostics.observables import (
    FullBatchObservables,
    error_rate,
    full_batch_observables,
)
from numpyro_pl.diagnostics.temperature import (
    TemperatureEstimate,
    kinetic_temperature,
    plot_temperature,
)

__all__ = [
    "Diffusion",
    "FullBatchObservables",
    "TemperatureEstimate",
    "diffusion",
    "error_rate",
    "expected_calibration_error",
    "full_batch_observables",
    "kinetic_temperature",
    "model_average",
    "negative_log_likelihood",
    "plot_temperature",
    "to_arviz",
]
