"""
From an ordinary NumPyro model to a stochastic minibatch potential ``potential_fn(z, rng_key)``.

The model keeps its full-data :class:`numpyro.plate` (or declares one with
``subsample_size``); the kernel draws fresh indices from ``rng_key`` for every gradient and
substitutes them into the plate with :class:`numpyro.handlers.substitute`, as
:class:`~numpyro.infer.hmc_gibbs.HMCECS` does. NumPyro's plate then scales the
log-likelihood by N/B, so the minibatch potential is an unbiased estimate of the
full-data one.

Indices are drawn with replacement with :func:`jax.random.randint`, as in the reference
implementation: this costs about as much as one small gradient, where NumPyro's own
subsample draw (a Fisher-Yates scan) costs 10-20 times more.

Several subsampled plates are supported: every plate that the model declares with a
``subsample_size`` smaller than its size is subsampled, with fresh, independent indices for
each plate at each gradient; ``batch_size`` (with ``plate_name``) additionally turns one
full-data plate into a subsampled one. The minibatch noise that pL measures is then the
joint noise of all of them.
"""

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import random
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.util import initialize_model

from numpyro_pl.types import PRNGKey
from numpyro_pl.validation import see_docs

__all__ = ["MinibatchPlate", "find_minibatch_plates", "draw_indices", "minibatch_potential"]

#: keyword argument through which the subsample indices reach the wrapped model.
INDICES_KWARG = "_pl_subsample_indices"


class MinibatchPlate(NamedTuple):
    """A plate that the kernel subsamples."""

    #: number of data points N in the plate.
    size: int
    #: minibatch size B.
    batch_size: int


def _trace(model, rng_key, model_args, model_kwargs):
    """A trace of ``model`` with abstract values (shapes and dtypes, no numbers): the model
    runs under :func:`jax.eval_shape`, so nothing is computed on the full data."""
    traced = {}

    def run():
        traced["trace"] = trace(seed(model, rng_key)).get_trace(*model_args, **model_kwargs)

    jax.eval_shape(run)
    return traced["trace"]


def _deterministic_in_plates(model_trace, plates) -> list:
    """Deterministic sites inside a subsampled plate: they have one value per data point."""
    return [
        name
        for name, site in model_trace.items()
        if site["type"] == "deterministic"
        and any(f.name in plates for f in site["cond_indep_stack"])
    ]


def find_minibatch_plates(model_trace, batch_size=None, plate_name=None) -> dict:
    """The plates to subsample, as ``{name: MinibatchPlate}``, with checks on the model.

    :param model_trace: a trace of the model (``numpyro.handlers.trace``).
    :param batch_size: minibatch size for a full-data plate, or ``None`` to use the plates
        that the model subsamples itself.
    :param plate_name: which plate ``batch_size`` applies to; needed when the model has
        several plates.
    :raises ValueError: if no plate can be subsampled, ``plate_name`` is unknown,
        ``batch_size`` does not fit the plate, or the model has discrete latent sites.
    """
    discrete = [
        name
        for name, site in model_trace.items()
        if site["type"] == "sample" and not site["is_observed"] and site["fn"].support.is_discrete
    ]
    if discrete:
        raise ValueError(
            f"PseudoLangevin samples continuous latent sites only; the model has discrete "
            f"latent site(s) {discrete}. Marginalise them out or observe them."
        )
    plates = {n: s["args"] for n, s in model_trace.items() if s["type"] == "plate"}
    declared = {
        name: MinibatchPlate(size, sub)
        for name, (size, sub) in plates.items()
        if sub is not None and sub < size
    }
    if plate_name is not None and plate_name not in plates:
        raise ValueError(
            f"`plate_name={plate_name!r}` is not a plate of the model; its plates are "
            f"{sorted(plates)}."
        )
    if batch_size is None:
        if plate_name is not None and plate_name not in declared:
            raise ValueError(
                f"Plate {plate_name!r} is not subsampled by the model; pass `batch_size=` "
                "to subsample it."
            )
        if not declared:
            raise ValueError(
                "PseudoLangevin needs a minibatch: pass `batch_size=` to subsample the "
                "model's data plate, or declare `numpyro.plate(..., subsample_size=B)` in "
                f"the model. Plates found: {sorted(plates) or 'none'}."
            )
        return declared
    if plate_name is None:
        if len(plates) == 1:
            plate_name = next(iter(plates))
        elif not plates:
            raise ValueError(
                "`batch_size` was given but the model has no `numpyro.plate` to subsample. "
                "Put the observations inside `with numpyro.plate('data', N) as idx:` and "
                "index them by `idx`."
            )
        else:
            raise ValueError(
                f"The model has several plates {sorted(plates)}; pass `plate_name=` to say "
                "which one `batch_size` subsamples."
            )
    size, declared_batch = plates[plate_name]
    if not 1 <= batch_size <= size:
        raise ValueError(
            f"`batch_size` must be between 1 and the size {size} of plate {plate_name!r}, "
            f"got {batch_size}."
        )
    if declared_batch is not None and declared_batch < size and declared_batch != batch_size:
        raise ValueError(
            f"Plate {plate_name!r} is declared with subsample_size={declared_batch} but "
            f"`batch_size={batch_size}`; give the same value or omit `batch_size`."
        )
    return {**declared, plate_name: MinibatchPlate(size, batch_size)}


def draw_indices(rng_key: PRNGKey, plates: dict) -> dict:
    """Fresh minibatch indices for every plate, drawn with replacement."""
    keys = random.split(rng_key, len(plates))
    return {
        name: random.randint(key, (plate.batch_size,), 0, plate.size)
        for key, (name, plate) in zip(keys, sorted(plates.items()), strict=True)
    }


def _with_indices(model):
    """``model`` taking the plate indices through the keyword ``INDICES_KWARG``."""

    def wrapped(*args, **kwargs):
        indices = kwargs.pop(INDICES_KWARG, None)
        if indices is None:
            return model(*args, **kwargs)
        return substitute(model, data=indices)(*args, **kwargs)

    return wrapped


def _check_subsampled_sites(model, rng_key, model_args, model_kwargs, plates):
    """Trace the model under subsampling and check every site inside a subsampled plate.

    The probe uses a minibatch smaller than the plate even when ``batch_size`` equals its
    size, so that arrays not indexed by the plate show up as a shape mismatch.
    """
    plates = {
        name: p._replace(batch_size=p.size - 1) if p.batch_size == p.size > 1 else p
        for name, p in plates.items()
    }
    indices = draw_indices(rng_key, plates)
    try:
        tr = _trace(substitute(model, data=indices), rng_key, model_args, model_kwargs)
    except (ValueError, TypeError, IndexError) as err:
        raise ValueError(
            f"The model fails when plate(s) {sorted(plates)} are subsampled: {err}. Every "
            "array indexed by data point inside the plate must be indexed by the plate's "
            "indices, e.g. `with numpyro.plate('data', N) as idx: ... obs=y[idx]`, or taken "
            "with `numpyro.subsample(y, event_dim=0)`."
        ) from err
    for name, site in tr.items():
        if site["type"] != "sample":
            continue
        frames = [f.name for f in site["cond_indep_stack"] if f.name in plates]
        if not frames:
            continue
        if not site["is_observed"]:
            raise ValueError(
                f"Latent site {name!r} lies inside the subsampled plate {frames[0]!r}; "
                "PseudoLangevin subsamples the likelihood only. Move the site out of the "
                "plate or marginalise it."
            )
        expected = site["fn"].shape()
        value_shape = jnp.shape(site["value"])
        try:
            ok = jnp.broadcast_shapes(value_shape, expected) == expected
        except ValueError:
            ok = False
        if not ok:
            plate = plates[frames[0]]
            raise ValueError(
                f"Observed site {name!r} has shape {value_shape}, but with plate "
                f"{frames[0]!r} subsampled to {plate.batch_size} of {plate.size} points its "
                f"distribution has shape {expected}. Index the observations by the plate: "
                f"`with numpyro.plate({frames[0]!r}, N) as idx: ... obs=y[idx]`."
            )


class MinibatchModel(NamedTuple):
    """What :func:`minibatch_potential` returns."""

    #: unconstrained initial values from ``init_strategy``.
    init_params: dict
    #: ``potential_fn_gen(*args, **kwargs)`` returning ``potential_fn(z, rng_key)``.
    potential_fn_gen: Callable
    #: NumPyro's ``postprocess_fn(*args, **kwargs)``: constrains the samples and computes the
    #: deterministic sites. It runs the model on one fixed minibatch, unless a deterministic
    #: site lies inside a subsampled plate, which needs the full data.
    postprocess_fn: Callable
    #: the subsampled plates, ``{name: MinibatchPlate}``.
    plates: dict


def _postprocess_fn(full_postprocess, indices, *model_args, **model_kwargs):
    if indices is None:
        return full_postprocess(*model_args, **model_kwargs)
    return full_postprocess(*model_args, **{**model_kwargs, INDICES_KWARG: indices})


def _minibatch_potential_fn(full_gen, plates, *model_args, **model_kwargs):
    def potential_fn(z, rng_key):
        kwargs = {**model_kwargs, INDICES_KWARG: draw_indices(rng_key, plates)}
        return full_gen(*model_args, **kwargs)(z)

    return potential_fn


def minibatch_potential(
    rng_key: PRNGKey,
    model,
    *,
    model_args=(),
    model_kwargs=None,
    batch_size=None,
    plate_name=None,
    init_strategy=None,
) -> MinibatchModel:
    """Build the minibatch potential of a NumPyro model with
    :func:`numpyro.infer.util.initialize_model`.

    The model is never run on the full data: the plates are found from an abstract trace,
    and NumPyro's initialisation evaluates the potential on a minibatch, so a network of
    10⁶ parameters on 10⁵ data points starts in the memory of a few minibatches.

    :param rng_key: key for initialisation (a batch of keys for vectorized chains).
    :param model: a NumPyro model with a data plate.
    :param batch_size: minibatch size for a full-data plate (see :func:`find_minibatch_plates`).
    :param plate_name: the plate that ``batch_size`` applies to.
    :param init_strategy: NumPyro init strategy.
    :return: a :class:`MinibatchModel`.
    """
    model_kwargs = {} if model_kwargs is None else dict(model_kwargs)
    key_proto = rng_key if jnp.ndim(random.key_data(rng_key)) == 1 else rng_key[0]
    model_trace = _trace(model, key_proto, model_args, model_kwargs)
    with see_docs("docs/getting_started.md (the data plate)"):
        plates = find_minibatch_plates(model_trace, batch_size, plate_name)
        _check_subsampled_sites(model, key_proto, model_args, model_kwargs, plates)
    wrapped = _with_indices(model)
    init_kwargs = {} if init_strategy is None else {"init_strategy": init_strategy}
    minibatch = {
        name: jnp.arange(plate.batch_size, dtype=jnp.int32) for name, plate in plates.items()
    }
    try:
        info = initialize_model(
            rng_key,
            wrapped,
            dynamic_args=True,
            model_args=model_args,
            model_kwargs={**model_kwargs, INDICES_KWARG: minibatch},
            **init_kwargs,
        )
    except RuntimeError as err:
        raise ValueError(
            "Cannot find initial values with a finite potential energy and gradient "
            f"(NumPyro: {err}). Check the data for NaN/inf and the model's parameters; "
            "or pass finite `init_params`."
        ) from err
    return MinibatchModel(
        info.param_info.z,
        partial(_minibatch_potential_fn, info.potential_fn, plates),
        partial(
            _postprocess_fn,
            info.postprocess_fn,
            None if _deterministic_in_plates(model_trace, plates) else minibatch,
        ),
        plates,
    )
