r"""
Checkpoint and resume a :class:`~numpyro_pl.PseudoLangevin` run.

:func:`run_with_checkpoints` drives NumPyro's own :class:`~numpyro.infer.MCMC` in chunks of
moves (``mcmc.post_warmup_state`` and ``MCMC.run``) and after each chunk writes the whole
:class:`~numpyro_pl.PLState` (positions, momenta, masses, :math:`\sigma^2`, noise ratios,
re-estimate schedule, move counter and random key) to ``path``, and the chunk's samples to a
file next to it. Run again with the same arguments, it picks up from ``path``.
:func:`save_checkpoint` and :func:`load_checkpoint` do the same for a single state, for runs
driven by hand.

Files are NumPy ``.npz`` archives without pickled objects. Each is written to a temporary
file in the same directory, flushed and fsynced, then renamed over the old one, so an
interrupted write never replaces a good checkpoint. A checkpoint records the kernel and MCMC
settings, the shapes, dtypes and a sha256 of the model arguments, and the shape and dtype of
every state field at every site; a file that does not fit the run it is resumed with, or
that is damaged, is refused with a ``ValueError`` that names what differs.
"""

import hashlib
import json
import os
import tempfile
import zipfile
from contextlib import suppress
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, random
from numpyro.infer import MCMC
from numpyro.util import is_prng_key, nested_attrgetter

from numpyro_pl.kernel import PseudoLangevin

__all__ = ["Checkpoint", "load_checkpoint", "run_with_checkpoints", "save_checkpoint"]

_FORMAT, _VERSION = "numpyro_pl.checkpoint", 4
_ADVICE = (
    "Resume with the model, data, kernel and MCMC settings of the run that wrote it, or give "
    "another `path` (or delete the file and its .samples-*.npz files) to start a new run."
)


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` reads.

    - **state** - the :class:`~numpyro_pl.PLState`, with a leading chain axis when
      ``num_chains > 1``; continue with ``mcmc.post_warmup_state = state`` and
      ``mcmc.run(state.rng_key, ...)``.
    - **num_moves** - moves made per chain, warmup included.
    - **samples** - the samples saved by :func:`run_with_checkpoints`, as
      ``mcmc.get_samples(group_by_chain=True)`` gives them; ``None`` without samples.
    - **extra_fields** - likewise for ``mcmc.get_extra_fields(group_by_chain=True)``.
    """

    state: Any
    num_moves: int
    samples: Optional[dict]
    extra_fields: Optional[dict]


def _is_key(x) -> bool:
    return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _describe(tree) -> list:
    """Path, shape, dtype and key implementation of every leaf."""
    return [
        dict(
            path=jax.tree_util.keystr(path),
            shape=list(x.shape),
            dtype=str(x.dtype),
            impl=str(random.key_impl(x)) if _is_key(x) else None,
        )
        for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]
    ]


def _encode(x) -> np.ndarray:
    x = random.key_data(x) if _is_key(x) else x
    a = np.asarray(x)
    return a if a.dtype.kind in "biufc" else a.view(f"u{a.dtype.itemsize}")  # e.g. bfloat16


def _decode(a: np.ndarray, leaf: dict, to_device: bool):
    if leaf["impl"] is not None:
        return random.wrap_key_data(jnp.asarray(a), impl=leaf["impl"])
    a = a.view(jnp.dtype(leaf["dtype"]))
    return jnp.asarray(a) if to_device else a


def _structure(tree):
    """JSON form of a tree of dicts, lists and tuples (leaves as 0)."""
    if isinstance(tree, dict):
        return {"dict": [[k, _structure(v)] for k, v in tree.items()]}
    if type(tree) in (list, tuple):
        return {type(tree).__name__: [_structure(v) for v in tree]}
    if tree is None:
        return None
    if not jax.tree_util.treedef_is_leaf(jax.tree.structure(tree)):
        raise TypeError(f"cannot store a {type(tree).__name__} in a sample file")
    return 0


def _from_structure(s):
    if s == 0 or s is None:
        return s
    ((kind, items),) = s.items()
    if kind == "dict":
        return {k: _from_structure(v) for k, v in items}
    return {"list": list, "tuple": tuple}[kind](_from_structure(v) for v in items)


def _sha256(file) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_npz(path, meta: dict, tree) -> str:
    """Write ``meta`` and the leaves of ``tree`` to ``path`` atomically (temporary file in
    the same directory, flush, fsync, rename); return the file's sha256."""
    arrays = {f"leaf{k}": _encode(x) for k, x in enumerate(jax.tree.leaves(tree))}
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, meta=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        digest = _sha256(tmp)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    with suppress(OSError):  # make the rename itself durable (POSIX)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return digest


def _read_npz(path, what: str):
    """``meta`` and the leaf arrays of a file of :func:`_write_npz`."""
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(f["meta"].item()) if "meta" in f.files else {}
            ours = meta.get("format") == _FORMAT and meta.get("version") == _VERSION
            leaves = [f[f"leaf{k}"] for k in range(len(meta["leaves"]))] if ours else []
    except FileNotFoundError:
        raise
    except (AttributeError, EOFError, KeyError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(
            f"{path} cannot be read as a {what} ({type(e).__name__}: {e}): it is truncated or "
            "damaged. Checkpoints are only replaced by complete writes, so restore it from a "
            f"copy if you have one. {_ADVICE}"
        ) from e
    if not ours:
        raise ValueError(
            f"{path} is not a numpyro_pl {what} of version {_VERSION} (format "
            f"{meta.get('format')!r}, version {meta.get('version')!r}). {_ADVICE}"
        )
    return meta, leaves


def _args_fingerprint(args, kwargs) -> dict:
    """Shape, dtype and sha256 of every array among the model arguments, repr of the rest."""
    out = {}
    for prefix, tree in (("args", args), ("kwargs", kwargs)):
        for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
            if hasattr(x, "shape") and hasattr(x, "dtype"):
                a = np.ascontiguousarray(_encode(x))
                desc = f"{x.dtype}{list(x.shape)} sha256 {hashlib.sha256(a).hexdigest()[:16]}"
            else:
                desc = repr(x) if isinstance(x, (bool, int, float, complex, str)) else type(x)
            out[prefix + jax.tree_util.keystr(path)] = str(desc)
    return out


def _settings(mcmc: MCMC) -> dict:
    kernel = mcmc.sampler
    method = mcmc.chain_method
    return json.loads(
        json.dumps(
            dict(
                num_warmup=mcmc.num_warmup,
                num_chains=mcmc.num_chains,
                chain_method=method if isinstance(method, str) else getattr(method, "__name__", ""),
                batch_size=kernel._batch_size,
                plate_name=kernel._plate_name,
                **kernel._core_kwargs,
            ),
            default=str,
        )
    )


def _check_fits(path, meta: dict, expected: dict):
    """Raise if ``meta`` was written with other settings (those of ``expected``) or other
    model arguments."""
    here, there = expected["settings"], meta["settings"]
    differ = [
        f"{k} is {here[k]!r} here but {there.get(k)!r} in the checkpoint"
        for k in here
        if here[k] != there.get(k)
    ]
    here, there = expected["model_args"], meta["model_args"]
    differ += [
        f"model argument {k} is {here.get(k, 'absent')} here but {there.get(k, 'absent')} in "
        "the checkpoint"
        for k in sorted(set(here) | set(there))
        if here.get(k) != there.get(k)
    ]
    if differ:
        raise ValueError(f"{path} was written by another run: {'; '.join(differ)}. {_ADVICE}")


def _restore_state(path, meta: dict, leaves: list, template):
    """The checkpoint's state, checked leaf by leaf against ``template``."""
    stored = {leaf["path"]: (leaf, a) for leaf, a in zip(meta["leaves"], leaves, strict=True)}
    wanted = _describe(template)
    problems = []
    for w in wanted:
        s = stored.get(w["path"], [None])[0]
        if s is None:
            problems.append(f"state{w['path']} is missing")
        elif (s["shape"], s["dtype"]) != (w["shape"], w["dtype"]):
            problems.append(
                f"state{w['path']} is {w['dtype']}{w['shape']} for this model but "
                f"{s['dtype']}{s['shape']} in the checkpoint"
            )
    extra = set(stored) - {w["path"] for w in wanted}
    problems += [f"state{p} is in the checkpoint but not in this kernel's state" for p in extra]
    if problems:
        raise ValueError(
            f"{path} does not fit this model and kernel: {'; '.join(problems[:4])}"
            f"{f' (and {len(problems) - 4} more)' if len(problems) > 4 else ''}. {_ADVICE}"
        )
    leaves = [_decode(stored[w["path"]][1], w, True) for w in wanted]
    state = jax.tree.unflatten(jax.tree.structure(template), leaves)
    if not np.all(np.asarray(state.i) == meta["num_moves"]):
        raise ValueError(
            f"{path} is inconsistent: it records {meta['num_moves']} moves but "
            f"its state is at move {np.asarray(state.i)}. {_ADVICE}"
        )
    return state


def _read_chunk(path, entry: dict):
    file = os.path.join(os.path.dirname(os.path.abspath(path)), entry["file"])
    if not os.path.exists(file) or _sha256(file) != entry["sha256"]:
        raise ValueError(
            f"{file}, which holds samples of the checkpoint {path}, is "
            f"{'missing' if not os.path.exists(file) else 'not the file it records (sha256)'}. "
            f"Put the original back, or delete {path} to start over."
        )
    meta, leaves = _read_npz(file, "sample file")
    leaves = [_decode(a, leaf, False) for leaf, a in zip(meta["leaves"], leaves, strict=True)]
    return jax.tree.unflatten(jax.tree.structure(_from_structure(meta["structure"])), leaves)


def _initial_state(mcmc: MCMC, rng_key, args, kwargs, init_params, template=False):
    """The state that ``mcmc.run(rng_key, ...)`` starts from, made as it makes it, and the
    kernel's functions built for ``mcmc.num_warmup`` warmup moves. With ``template``, only
    the structure, shapes and dtypes of the state matter (one chain is initialised)."""
    init_params = jax.tree.map(
        lambda x: lax.convert_element_type(x, jnp.result_type(x)), init_params
    )

    def init(key, params):
        return mcmc.sampler.init(key, mcmc.num_warmup, params, args, kwargs)

    num_chains = mcmc.num_chains
    if num_chains == 1:
        return init(rng_key, init_params)
    keys = random.split(rng_key, num_chains) if is_prng_key(rng_key) else rng_key
    if mcmc.chain_method == "vectorized":
        return init(keys, init_params)
    if template:
        return jax.tree.map(lambda x: jnp.stack([x] * num_chains), init(keys[0], None))
    chains = [
        init(keys[c], jax.tree.map(lambda x, c=c: x[c], init_params)) for c in range(num_chains)
    ]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *chains)


def _check_mcmc(mcmc, fresh=True):
    if not isinstance(mcmc, MCMC) or not isinstance(mcmc.sampler, PseudoLangevin):
        raise TypeError("Checkpoints are made for `MCMC(PseudoLangevin(...), ...)`.")
    if fresh and mcmc.post_warmup_state is not None:
        raise ValueError(
            "`mcmc.post_warmup_state` is set: a checkpointed run starts from the kernel's "
            "initial state or from its checkpoint. Set it to None, or continue by hand with "
            "save_checkpoint/load_checkpoint."
        )


def save_checkpoint(path, mcmc: MCMC, *args, **kwargs) -> None:
    """Write ``mcmc.last_state`` (after ``mcmc.run``) to ``path`` atomically, with what
    :func:`load_checkpoint` checks: the kernel and MCMC settings and the model arguments
    ``args`` and ``kwargs``."""
    _check_mcmc(mcmc, fresh=False)
    if mcmc.last_state is None:
        raise ValueError("`mcmc.last_state` is None: call `mcmc.run` first.")
    state = mcmc.last_state
    info = dict(format=_FORMAT, version=_VERSION, kind="state", num_moves=int(np.max(state.i)))
    meta = dict(info, leaves=_describe(state), settings=_settings(mcmc), chunks=[])
    _write_npz(os.fspath(path), dict(meta, model_args=_args_fingerprint(args, kwargs)), state)


def load_checkpoint(path, mcmc: MCMC, *args, **kwargs) -> Checkpoint:
    """Read a file of :func:`save_checkpoint` or :func:`run_with_checkpoints`, check it
    against ``mcmc`` and the model arguments, and build ``mcmc.sampler``'s functions for
    ``mcmc.num_warmup`` moves of warmup, which must be those of the run that wrote it (this
    costs one :math:`\\sigma^2` estimate). Continue the chain with NumPyro:

    .. code-block:: python

        checkpoint = load_checkpoint("fit.npz", mcmc, X, y)
        mcmc.post_warmup_state = checkpoint.state
        mcmc.run(checkpoint.state.rng_key, X, y)  # the state's key: the same chain

    :raises ValueError: as :func:`run_with_checkpoints`.
    """
    path = os.fspath(path)
    _check_mcmc(mcmc, fresh=False)
    meta, leaves = _read_npz(path, "checkpoint")
    _check_fits(
        path, meta, dict(settings=_settings(mcmc), model_args=_args_fingerprint(args, kwargs))
    )
    key_leaf = [leaf for leaf in meta["leaves"] if leaf["path"] == ".rng_key"]
    key = _decode(leaves[meta["leaves"].index(key_leaf[0])], key_leaf[0], True)
    template = _initial_state(mcmc, key, args, kwargs, None, template=True)
    state = _restore_state(path, meta, leaves, template)
    chunks = [_read_chunk(path, entry) for entry in meta["chunks"]]
    merged = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *chunks) if chunks else {}
    return Checkpoint(state, meta["num_moves"], merged.get("samples"), merged.get("extra"))


def _next_chunk(moves, saved, num_warmup, num_samples, thinning, every):
    """``(moves, thinning)`` of the next chunk (thinning 0 for a warmup chunk, whose
    samples are not kept), or None when the run is complete."""
    if moves < num_warmup:
        return min(every * thinning, num_warmup - moves), 0
    if saved >= num_samples // thinning:
        return None
    head = num_samples % thinning if moves == num_warmup else 0  # as MCMC.run skips them
    return head + min(every, num_samples // thinning - saved) * thinning, thinning


def run_with_checkpoints(
    mcmc: MCMC,
    rng_key,
    *args,
    path,
    every: int,
    extra_fields=(),
    init_params=None,
    callback: Optional[Callable[[int, int], None]] = None,
    **kwargs,
) -> None:
    r"""Run ``mcmc`` like ``mcmc.run(rng_key, *args, extra_fields=extra_fields,
    init_params=init_params, **kwargs)``, in chunks of ``every`` kept samples per chain
    (``every * mcmc.thinning`` moves, warmup included), writing a checkpoint after each; if
    ``path`` exists, go on from it. Afterwards ``mcmc.get_samples()``,
    ``mcmc.get_extra_fields()``, ``mcmc.last_state``, ``mcmc.print_summary()`` and
    ``az.from_numpyro(mcmc)`` cover the whole run, samples of earlier sessions included.

    Each chunk is one ``MCMC.run`` from ``post_warmup_state``, with the state's own random
    key; a ``MCMC.run`` compiles its loop anew, so choose ``every`` for chunks of minutes.

    **What is guaranteed.** A run killed at any point and resumed (in a new process, with a
    new kernel and ``MCMC`` made with the same arguments) gives the same samples, extra
    fields and final state, bit for bit, as the same call not interrupted, and these equal
    those of one ``mcmc.run(rng_key, ...)``: ``MCMC.run`` uses its key only to initialise,
    every move draws from the key in the state, and a move computes the same bits whatever
    the length of the loop around it, so ``every`` may differ between sessions. Tested on CPU
    for one chain and for ``"sequential"`` and ``"vectorized"`` chains. ``"parallel"``
    chains are initialised here outside ``pmap``, as ``"sequential"`` ones, and then give
    the same bits as those. ``num_samples`` may be raised between sessions, keeping
    ``num_samples % thinning``, to sample longer.

    :param MCMC mcmc: an ``MCMC`` of a :class:`~numpyro_pl.PseudoLangevin`, without
        ``post_warmup_state``.
    :param rng_key: the key of ``mcmc.run``; a resumed run must be given the same.
    :param args: the model arguments (as ``kwargs``), checked on resume by shape, dtype and
        sha256 of their values.
    :param path: the checkpoint file. The samples of chunk ``k`` go next to it, to
        ``<path>.samples-<k>.npz`` (without the ``.npz`` of ``path``).
    :param int every: kept samples per chain between two checkpoints.
    :param extra_fields: as in ``mcmc.run``; arrays or dicts of arrays (collect the fields
        of a NamedTuple by name, e.g. ``"coefficients.inverse_mass"``).
    :param init_params: as in ``mcmc.run``; used only when the run starts.
    :param callback: ``callback(num_moves, num_samples)``, called after each checkpoint, e.g.
        to log progress or to stop the run by raising.
    :raises ValueError: if ``path`` is damaged, or was written by a run with another model,
        data, key, kernel settings, ``num_warmup``, ``thinning``, ``num_chains``,
        ``chain_method`` or ``extra_fields``; the message names what differs.

    **Example**

    .. doctest::

        >>> import os, tempfile, jax, jax.numpy as jnp
        >>> import numpyro, numpyro.distributions as dist
        >>> from numpyro.infer import MCMC
        >>> from numpyro_pl import PseudoLangevin
        >>> from numpyro_pl.checkpoint import run_with_checkpoints
        >>> def model(X, y):
        ...     w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
        ...     with numpyro.plate("data", X.shape[0]) as idx:
        ...         numpyro.sample("y", dist.Bernoulli(logits=X[idx] @ w), obs=y[idx])
        >>> X = jax.random.normal(jax.random.key(0), (200, 3))
        >>> y = (X @ jnp.array([1.0, -1.0, 0.5]) > 0).astype(jnp.float32)
        >>> def new_mcmc():
        ...     kernel = PseudoLangevin(model, batch_size=20, max_grad_var_draws=100)
        ...     return MCMC(kernel, num_warmup=20, num_samples=20, progress_bar=False)
        >>> path = os.path.join(tempfile.mkdtemp(), "fit.npz")
        >>> mcmc = new_mcmc()
        >>> run_with_checkpoints(mcmc, jax.random.key(1), X, y, path=path, every=20)
        >>> sorted(os.listdir(os.path.dirname(path)))  # a warmup chunk, then a sample chunk
        ['fit.npz', 'fit.samples-00000.npz']
        >>> again = new_mcmc()  # e.g. in a new process: reads the files, makes no move
        >>> run_with_checkpoints(again, jax.random.key(1), X, y, path=path, every=20)
        >>> bool((again.get_samples()["w"] == mcmc.get_samples()["w"]).all())
        True
    """
    path = os.fspath(path)
    _check_mcmc(mcmc)
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"`every` must be a positive integer, got {every!r}.")
    extra_fields = tuple(extra_fields)
    settings = dict(_settings(mcmc), thinning=mcmc.thinning, extra_fields=list(extra_fields))
    settings["rng_key"] = f"{rng_key.dtype}{np.ravel(_encode(rng_key)).tolist()}"
    expected = dict(settings=settings, model_args=_args_fingerprint(args, kwargs))
    meta, moves, chunks, collected = None, 0, [], []
    if os.path.exists(path):  # everything but the state is checked before the kernel's init
        meta, leaves = _read_npz(path, "checkpoint")
        if meta.get("kind") != "run":
            raise ValueError(
                f"{path} holds a single state (save_checkpoint); continue it with "
                "load_checkpoint and mcmc.run, or give another `path`."
            )
        _check_fits(path, meta, expected)
        moves, chunks = meta["num_moves"], meta["chunks"]
        collected = [_read_chunk(path, entry) for entry in chunks]
    saved = sum(entry["num_samples"] for entry in chunks)
    warmup, total, thin = mcmc.num_warmup, mcmc.num_samples, mcmc.thinning
    if not (
        (moves <= warmup and saved == 0)
        or (moves - warmup == total % thin + saved * thin and saved <= total // thin)
    ):
        raise ValueError(
            f"{path} has made {moves} moves and kept {saved} samples per chain, which does "
            f"not fit num_warmup={warmup}, num_samples={total}, thinning={thin}: num_samples "
            "may only be raised between sessions, and only in steps of `thinning`."
        )
    state = _initial_state(mcmc, rng_key, args, kwargs, init_params, template=meta is not None)
    for name in (f for f in extra_fields if not f.startswith("~")):
        try:
            _structure(nested_attrgetter(name)(state))
        except TypeError:
            raise ValueError(
                f"extra field {name!r} is not an array or a dict of arrays: collect its "
                "fields by name instead, e.g. 'coefficients.inverse_mass'."
            ) from None
    if meta is not None:
        state = _restore_state(path, meta, leaves, state)
    stem = os.path.basename(path).removesuffix(".npz")
    while (chunk := _next_chunk(moves, saved, warmup, total, thin, every)) is not None:
        num_moves, thinning = chunk
        step = MCMC(
            mcmc.sampler,
            num_warmup=warmup,
            num_samples=num_moves,
            thinning=thinning or num_moves,
            num_chains=mcmc.num_chains,
            chain_method=mcmc.chain_method,
            postprocess_fn=mcmc.postprocess_fn,
            progress_bar=mcmc.progress_bar,
            progress_rate=mcmc.progress_rate,
            jit_model_args=getattr(mcmc, "_jit_model_args", False),
        )
        step.post_warmup_state = state
        step.run(state.rng_key, *args, extra_fields=extra_fields, **kwargs)
        state, moves = step.last_state, moves + num_moves
        if thinning:
            samples = jax.device_get(
                dict(samples=step.get_samples(True), extra=step.get_extra_fields(True))
            )
            name = f"{stem}.samples-{len(chunks):05d}.npz"
            file = os.path.join(os.path.dirname(os.path.abspath(path)), name)
            info = dict(format=_FORMAT, version=_VERSION, structure=_structure(samples))
            digest = _write_npz(file, dict(info, leaves=_describe(samples)), samples)
            chunks.append(dict(file=name, num_samples=num_moves // thinning, sha256=digest))
            collected.append(samples)
            saved += num_moves // thinning
        info = dict(format=_FORMAT, version=_VERSION, kind="run", num_moves=moves, chunks=chunks)
        _write_npz(path, dict(info, leaves=_describe(state), **expected), state)
        if callback is not None:
            callback(moves, saved)
    merged = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *collected)
    # what MCMC.run leaves behind, so that get_samples, print_summary and ArviZ see the run
    mcmc._states = {mcmc.sampler.sample_field: merged["samples"], **merged["extra"]}
    mcmc._states_flat = None
    mcmc._last_state, mcmc._args, mcmc._kwargs = state, args, kwargs
