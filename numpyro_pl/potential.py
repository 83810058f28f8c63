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

import inspect
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from numpyro.handlers import block, seed, substitute, trace
from numpyro.infer.util import initialize_model, potential_energy
from numpyro.util import not_jax_tracer

from numpyro_pl.types import PRNGKey
from numpyro_pl.validation import see_docs

__all__ = [
    "MinibatchPlate",
    "find_minibatch_plates",
    "draw_indices",
    "minibatch_potential",
    "CheckedPotential",
]

#: keyword argument through which the subsample indices reach the wrapped model.
INDICES_KWARG = "_pl_subsample_indices"


class MinibatchPlate(NamedTuple):
    """A plate that the kernel subsamples."""

    #: number of data points N in the plate.
    size: int
    #: minibatch size B.
    batch_size: int


#: the errors that a model (or a ``potential_fn``) raises on arguments it cannot handle,
#: which the checks here turn into a ``ValueError`` that names the arguments.
_MODEL_ERRORS = (ValueError, TypeError, IndexError, KeyError, AttributeError, AssertionError)


class _ModelTraceError(ValueError):
    """The model raised one of ``_MODEL_ERRORS`` while traced; the message says where."""


def _trace(model, rng_key, model_args, model_kwargs, indices=None):
    """A trace of ``model`` with abstract values (shapes and dtypes, no numbers), and the
    jaxpr of the model: the model is only traced (:func:`jax.make_jaxpr`), so nothing is
    computed on the full data. With ``indices`` (``{plate: indices}``) the plates take those
    indices, which are the inputs of the jaxpr.

    :raises _ModelTraceError: if the model fails, naming the last site it reached.
    """
    handlers = []

    def run(idx):
        fn = model if idx is None else substitute(model, data=idx)
        handlers.append(trace(seed(fn, rng_key)))
        handlers[-1].get_trace(*model_args, **model_kwargs)

    try:
        jaxpr = jax.make_jaxpr(run)(indices)
    except _MODEL_ERRORS as err:
        sites = list(getattr(handlers[-1], "trace", None) or {}) if handlers else []
        where = f"after site {sites[-1]!r}" if sites else "before its first site"
        message = str(err).rstrip(". ")
        raise _ModelTraceError(f"{type(err).__name__} {where}: {message}") from err
    return handlers[-1].trace, jaxpr


def _named_arguments(model, model_args, model_kwargs) -> dict:
    """The model's arguments by name, from its signature if they bind to it."""
    try:
        return dict(inspect.signature(model).bind(*model_args, **model_kwargs).arguments)
    except (TypeError, ValueError):
        return {**{f"model_args[{i}]": a for i, a in enumerate(model_args)}, **model_kwargs}


def _array_leaves(named: dict) -> dict:
    """The arrays among the arguments, each leaf of a nested argument under its path, e.g.
    ``data['X']``."""
    leaves = {}
    for name, value in named.items():
        for path, leaf in jax.tree_util.tree_flatten_with_path(value)[0]:
            if isinstance(leaf, (float, complex)):
                leaf = np.asarray(leaf)
            if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
                leaves[name + jax.tree_util.keystr(path)] = leaf
    return leaves


def _abstract(x) -> str:
    """``float32[200,3]`` for an array, the type name for anything else."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"{np.dtype(x.dtype).name}[{','.join(map(str, np.shape(x)))}]"
    return type(x).__name__


def _structure(tree) -> str:
    """The shapes of a PyTree of arrays, e.g. ``{'w': float32[3]}``."""
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k!r}: {_structure(v)}" for k, v in tree.items()) + "}"
    return _abstract(tree)


def _describe_arguments(named: dict) -> str:
    shown = [f"`{name}`: {_abstract(x)}" for name, x in list(named.items())[:12]]
    return ", ".join(shown + (["..."] if len(named) > 12 else [])) or "none"


def _check_finite_data(named: dict):
    """Every floating-point model argument is finite: the minibatches draw every data point
    sooner or later, and one NaN or inf in a minibatch makes the chain non-finite."""
    for name, x in _array_leaves(named).items():
        if not not_jax_tracer(x) or not np.issubdtype(np.dtype(x.dtype), np.inexact):
            continue
        # NumPy on the concrete values: under pmap, jnp.isfinite would return a tracer
        finite = np.isfinite(np.asarray(x))
        if not finite.all():
            bad = np.argwhere(~np.asarray(finite))
            raise ValueError(
                f"Model argument `{name}` is not finite at {len(bad)} of its {np.size(x)} "
                f"values, the first at index {tuple(bad[0].tolist())}: a minibatch that draws "
                "them has no finite potential energy or gradient. Drop or impute the data "
                "points with NaN or inf."
            )


#: primitives that keep an array of plate indices an array of plate indices: the casts,
#: reshapes and the wrap-around of negative indices that NumPy-style indexing adds.
_INDEX_PRESERVING = frozenset(
    {"convert_element_type", "broadcast_in_dim", "reshape", "squeeze", "expand_dims"}
    | {"add", "select_n", "copy", "copy_p"}
)


def _sub_jaxprs(eqn):
    """The jaxprs that an equation calls (``jit``, ``custom_jvp_call``, ``scan``, ...)."""
    for value in eqn.params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            item = getattr(item, "jaxpr", item)  # a ClosedJaxpr holds its Jaxpr
            if hasattr(item, "eqns") and hasattr(item, "invars"):
                yield item


def _plate_gathers(jaxpr, tainted: dict) -> list:
    """Every gather in ``jaxpr`` (and in the jaxprs it calls) along one axis whose indices
    are a plate's indices, as ``(plate, operand variable, axis)``. ``tainted`` maps the ids of
    the variables that hold a plate's indices to the plate's name; it is updated."""
    found = []
    for eqn in jaxpr.eqns:
        plates_in = [tainted.get(id(v)) for v in eqn.invars]
        name = eqn.primitive.name
        if name == "gather":
            axes = eqn.params["dimension_numbers"].start_index_map
            if plates_in[1] is not None and len(axes) == 1:
                found.append((plates_in[1], eqn.invars[0], axes[0]))
        elif name in _INDEX_PRESERVING:
            plate = next((p for p in plates_in[name == "select_n" :] if p is not None), None)
            if plate is not None:
                tainted.update((id(v), plate) for v in eqn.outvars)
        elif any(p is not None for p in plates_in):
            for sub in _sub_jaxprs(eqn):
                if len(sub.invars) > len(plates_in):
                    continue
                outer = plates_in[len(plates_in) - len(sub.invars) :]  # cond: operands last
                inner = {id(v): p for v, p in zip(sub.invars, outer, strict=True) if p is not None}
                found += _plate_gathers(sub, inner)
                if len(sub.outvars) == len(eqn.outvars):
                    tainted.update(
                        (id(out), inner[id(v)])
                        for v, out in zip(sub.outvars, eqn.outvars, strict=True)
                        if id(v) in inner
                    )
    return found


def _check_plate_indexing(closed_jaxpr, indices: dict, plates: dict, named: dict):
    """Every array that the model indexes by a subsampled plate's indices has the plate's
    size along that axis. JAX clamps an index past the end of an array, so a ``y`` shorter
    than ``X`` would silently repeat its last entry, and a longer one be cut short."""
    jaxpr = closed_jaxpr.jaxpr
    # the inputs of the jaxpr are the leaves of `indices`, a dict: in the order of its keys
    tainted = {id(v): name for v, name in zip(jaxpr.invars, sorted(indices), strict=True)}
    for plate, operand, axis in _plate_gathers(jaxpr, tainted):
        shape, size = operand.aval.shape, plates[plate].size
        if shape[axis] == size:
            continue
        candidates = [n for n, x in _array_leaves(named).items() if np.shape(x) == shape]
        what = f"Model argument `{candidates[0]}`" if len(candidates) == 1 else "An array"
        raise ValueError(
            f"{what} of shape {shape} is indexed by the indices of plate {plate!r} along "
            f"axis {axis}, where it has {shape[axis]} entries, but the plate has {size} data "
            "points. Every array indexed by the plate needs one entry per data point: check "
            "that the data arrays have the same length (e.g. `X` and `y`) and that the plate "
            "size is that length."
        )


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


def _check_subsampled_sites(model, rng_key, model_args, model_kwargs, plates, named=None):
    """Trace the model under subsampling and check every site inside a subsampled plate,
    and that every array indexed by a plate has the plate's size.

    The probe uses a minibatch smaller than the plate even when ``batch_size`` equals its
    size, so that arrays not indexed by the plate show up as a shape mismatch.
    """
    plates = {
        name: p._replace(batch_size=p.size - 1) if p.batch_size == p.size > 1 else p
        for name, p in plates.items()
    }
    # only the shapes matter: the model is traced with the indices as the jaxpr's inputs
    indices = {name: jax.ShapeDtypeStruct((p.batch_size,), jnp.int32) for name, p in plates.items()}
    try:
        tr, jaxpr = _trace(model, rng_key, model_args, model_kwargs, indices)
    except _ModelTraceError as err:
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
    _check_plate_indexing(jaxpr, indices, plates, {} if named is None else named)


class MinibatchModel(NamedTuple):
    """What :func:`minibatch_potential` returns."""

    #: unconstrained initial values from ``init_strategy``.
    init_params: dict
    #: ``potential_fn_gen(*args, **kwargs)`` returning ``potential_fn(z, rng_key)``.
    potential_fn_gen: Callable
    #: ``prior_potential_fn_gen(*args, **kwargs)`` returning ``prior_potential_fn(z)``: the
    #: part of the potential energy that no minibatch subsamples (the priors, the Jacobians
    #: of the transforms, factors outside the subsampled plates), with the observed sites of
    #: those plates hidden by :func:`numpyro.handlers.block`; run on one fixed minibatch.
    prior_potential_fn_gen: Callable
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


def _check_params(z, expected: dict):
    """``z`` has the latent sites of the model with their shapes (those of one chain)."""
    if not isinstance(z, dict) or set(z) != set(expected):
        raise ValueError(
            f"`init_params` must be a dict of the model's latent sites {sorted(expected)}, "
            f"got {_structure(z)}; expected {_structure(expected)} (unconstrained values, "
            "one chain)."
        )
    bad = sorted(name for name in expected if jnp.shape(z[name]) != expected[name].shape)
    if bad:
        raise ValueError(
            f"`init_params` has the wrong shape at site(s) {bad}: got {_structure(z)}, "
            f"expected {_structure(expected)} (unconstrained values, one chain)."
        )


def _minibatch_potential_fn(full_gen, plates, expected, *model_args, **model_kwargs):
    def potential_fn(z, rng_key):
        _check_params(z, expected)
        kwargs = {**model_kwargs, INDICES_KWARG: draw_indices(rng_key, plates)}
        return full_gen(*model_args, **kwargs)(z)

    return potential_fn


def _in_minibatch(plates, msg) -> bool:
    """An observed site inside a subsampled plate: a term of the minibatch likelihood."""
    return (
        msg["type"] == "sample"
        and msg["is_observed"]
        and any(frame.name in plates for frame in msg["cond_indep_stack"])
    )


def _prior_potential_fn(model, plates, minibatch, expected, *model_args, **model_kwargs):
    prior_model = block(model, hide_fn=partial(_in_minibatch, plates))
    kwargs = {**model_kwargs, INDICES_KWARG: minibatch}

    def prior_potential_fn(z):
        _check_params(z, expected)
        return potential_energy(prior_model, model_args, kwargs, z)

    return prior_potential_fn


class CheckedPotential:
    """A user's ``potential_fn(z, rng_key)`` whose failure on ``z`` (the structure of
    ``init_params``), or whose result other than a real scalar, raises an error that names
    ``potential_fn`` and the structure of ``z`` rather than JAX's."""

    def __init__(self, potential_fn: Callable):
        self.potential_fn = potential_fn

    def __call__(self, z, rng_key):
        try:
            energy = self.potential_fn(z, rng_key)
        except _MODEL_ERRORS as err:
            raise ValueError(
                f"`potential_fn` raised {type(err).__name__} on z = {_structure(z)} (one "
                f"chain's `init_params`): {str(err).rstrip('. ')}. Check that `init_params` "
                "has the structure and shapes that `potential_fn` expects."
            ) from err
        if jnp.shape(energy) != () or not jnp.issubdtype(jnp.result_type(energy), jnp.floating):
            raise TypeError(
                f"`potential_fn` must return a real scalar (the minibatch potential energy), "
                f"got {_abstract(jnp.asarray(energy))} on z = {_structure(z)}."
            )
        return energy


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
    batched = jnp.ndim(random.key_data(rng_key)) != 1
    key_proto = rng_key[0] if batched else rng_key
    with see_docs("docs/getting_started.md (the data plate)"):
        named = _named_arguments(model, model_args, model_kwargs)
        try:
            model_trace, _ = _trace(model, key_proto, model_args, model_kwargs)
        except _ModelTraceError as err:
            raise ValueError(
                f"The model fails on its arguments ({_describe_arguments(named)}): {err}. "
                "Check their shapes and types against the model."
            ) from err.__cause__
        plates = find_minibatch_plates(model_trace, batch_size, plate_name)
        _check_subsampled_sites(model, key_proto, model_args, model_kwargs, plates, named)
        _check_finite_data(named)
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
    expected = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(jnp.shape(x)[batched:], jnp.result_type(x)),
        info.param_info.z,
    )
    return MinibatchModel(
        info.param_info.z,
        partial(_minibatch_potential_fn, info.potential_fn, plates, expected),
        partial(_prior_potential_fn, wrapped, plates, minibatch, expected),
        partial(
            _postprocess_fn,
            info.postprocess_fn,
            None if _deterministic_in_plates(model_trace, plates) else minibatch,
        ),
        plates,
    )
