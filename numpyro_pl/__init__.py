"""numpyro-pl: the pseudo-Langevin sampler of Zambon, Caruso, Zecchina and Tiana
(arXiv:2603.15367) as a NumPyro MCMC kernel."""

from numpyro_pl.core import PLState, pl
from numpyro_pl.kernel import PseudoLangevin
from numpyro_pl.tempering import tempered

__version__ = "0.1.0"

__all__ = ["PseudoLangevin", "PLState", "pl", "tempered", "__version__"]
