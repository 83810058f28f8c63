"""The white-noise sources of the kick (white_noise.py): the signs from the bits of hashed
words must be independent, zero-mean and unit-variance, like the normal draws they replace."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from numpyro_pl.white_noise import WHITE_NOISE, rademacher_like

TREE = {"W": jnp.zeros((300, 70), jnp.float32), "b": jnp.zeros(7), "s": jnp.zeros(())}
N = 300 * 70 + 7 + 1


@pytest.mark.parametrize("name", sorted(WHITE_NOISE))
def test_structure_and_dtype(name):
    noise = WHITE_NOISE[name](jax.random.key(0), TREE)
    assert jax.tree.structure(noise) == jax.tree.structure(TREE)
    for x, ref in zip(jax.tree.leaves(noise), jax.tree.leaves(TREE), strict=True):
        assert x.shape == ref.shape and x.dtype == ref.dtype


def test_signs_are_fair_and_uncorrelated():
    """Mean, lag correlations within a word (lags 1, 31), across words (32) and between
    leaves, and between two keys, are each within 4 standard errors (1/sqrt(n)) of zero."""
    noise = rademacher_like(jax.random.key(1), TREE)
    flat = np.concatenate([np.ravel(x) for x in jax.tree.leaves(noise)]).astype(np.float64)
    assert np.all(np.abs(flat) == 1)
    bound = 4 / np.sqrt(N)
    assert abs(flat.mean()) < bound
    for lag in (1, 31, 32, 33, 7 * 32):
        assert abs(np.mean(flat[lag:] * flat[:-lag])) < bound, lag
    other = rademacher_like(jax.random.key(2), TREE)
    flat2 = np.concatenate([np.ravel(x) for x in jax.tree.leaves(other)])
    assert abs(np.mean(flat * flat2)) < bound


def test_each_bit_position_is_fair():
    """The 32 bits of a word each give a fair sign (a biased bit would bias 1/32 of the
    components): over 2 000 draws of 64 signs, each position's mean is within 4 SE."""
    keys = jax.random.split(jax.random.key(3), 2000)
    signs = jax.vmap(lambda k: rademacher_like(k, jnp.zeros(64)))(keys)
    assert np.max(np.abs(np.mean(np.asarray(signs), axis=0))) < 4 / np.sqrt(2000)


def test_same_key_same_signs_under_vmap():
    keys = jax.random.split(jax.random.key(4), 3)
    batched = jax.vmap(lambda k: rademacher_like(k, TREE))(keys)
    for i, key in enumerate(keys):
        single = rademacher_like(key, TREE)
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched), strict=True):
            np.testing.assert_array_equal(a, b[i])


def test_signs_of_successive_moves_are_uncorrelated():
    """The kernel draws each move's signs from the next key of a split chain: between
    successive moves, the correlation of the signs at the same position, and at the
    neighbouring position, is within 4 SE of zero (2 000 moves of 256 signs)."""

    def step(key, _):
        key, key_noise = jax.random.split(key)
        return key, rademacher_like(key_noise, jnp.zeros(256))

    _, signs = jax.lax.scan(step, jax.random.key(5), None, length=2000)
    signs = np.asarray(signs, np.float64)
    bound = 4 / np.sqrt(signs[1:].size)
    assert abs(np.mean(signs[1:] * signs[:-1])) < bound
    assert abs(np.mean(signs[1:, 1:] * signs[:-1, :-1])) < bound


def test_sign_covariance_over_keys_is_the_identity():
    """Over 200 000 keys, the covariance matrix of all 115 signs of a small network's tree
    (words shared across leaves and rows) has no off-diagonal entry beyond 5 SE (1/sqrt(n))
    of zero: a hash whose words for neighbouring counters were dependent would show here."""
    tree = {
        "W1": jnp.zeros((10, 8)),
        "b1": jnp.zeros(8),
        "W2": jnp.zeros((8, 3)),
        "b2": jnp.zeros(3),
    }
    draw = jax.jit(jax.vmap(lambda k: ravel_pytree(rademacher_like(k, tree))[0]))
    signs = np.asarray(draw(jax.random.split(jax.random.key(6), 200_000)), np.float64)
    cov = signs.T @ signs / len(signs)
    off_diagonal = cov[~np.eye(len(cov), dtype=bool)]
    assert np.max(np.abs(off_diagonal)) < 5 / np.sqrt(len(signs))
