"""numpyro-pl: the pseudo-Langevin sampler of Zambon, Caruso, Zecchina and Tiana
(arXiv:2603.15367) as a NumPyro MCMC kernel."""

from numpyro_pl import checkpoint, datasets, diagnostics, models
from numpyro_pl.checkpoint import load_checkpoint, run_with_checkpoints, save_checkpoint
from numpyro_pl.core import PLState, pl
from numpyro_pl.diagnostics import to_arviz
from numpyro_pl.kernel import PseudoLangevin
from numpyro_pl.models import (
    bayesian_mlp,
    mlp_forward,
    num_params,
    numpyro_to_paper,
    paper_to_numpyro,
)
from numpyro_pl.tempering import tempered

__version__ = "0.1.0"

__all__ = [
    "PseudoLangevin",
    "PLState",
    "pl",
    "tempered",
    "checkpoint",
    "run_with_checkpoints",
    "save_checkpoint",
    "load_checkpoint",
    "datasets",
    "diagnostics",
    "to_arviz",
    "models",
    "bayesian_mlp",
    "mlp_forward",
    "num_params",
    "paper_to_numpyro",
    "numpyro_to_paper",
    "__version__",
]
