"""The prior's curvature and the mass bound it gives (curvature.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from numpyro_pl.curvature import site_diagonal_curvature, stability_mass_bound


def hierarchical(z):
    """w ~ Normal(0, exp(u)), u ~ Normal(0, 1): the sites are coupled, the components of w
    are not."""
    scale = jnp.exp(z["u"])
    return jnp.sum(0.5 * (z["w"] / scale) ** 2 + z["u"]) + 0.5 * z["u"] ** 2


def test_curvature_is_the_hessian_diagonal_for_independent_components_within_a_site():
    z = {"w": jnp.array([0.3, -1.2, 2.0]), "u": jnp.array(0.4)}
    flat, unravel = ravel_pytree(z)
    exact = unravel(jnp.diag(jax.hessian(lambda f: hierarchical(unravel(f)))(flat)))
    kappa = site_diagonal_curvature(hierarchical, z)
    np.testing.assert_allclose(kappa["w"], exact["w"], rtol=1e-5)
    np.testing.assert_allclose(kappa["u"], exact["u"], rtol=1e-5)
    np.testing.assert_allclose(kappa["w"], np.exp(-0.8), rtol=1e-5)


@pytest.mark.parametrize("value", [-1.0, jnp.nan, jnp.inf])
def test_negative_or_nonfinite_curvature_gives_no_bound(value):
    kappa = site_diagonal_curvature(lambda z: 0.5 * value * jnp.sum(z**2), jnp.ones(2))
    np.testing.assert_array_equal(kappa, [0.0, 0.0])


def test_bound_keeps_the_stability_number_at_its_limit():
    bound = stability_mass_bound({"w": jnp.array([16.0, 0.0])}, step_size=0.5, max_stability=0.04)
    np.testing.assert_allclose(bound["w"], [100.0, 0.0])
    np.testing.assert_allclose(0.5**2 * 16.0 / bound["w"][0], 0.04)
