"""Checkpoint and resume (numpyro_pl.checkpoint): a resumed run is the uninterrupted run bit
for bit, and the same as one ``mcmc.run``; writes are atomic; a checkpoint that does not fit
the run, or is damaged, is refused with a ValueError naming what differs."""

import io
import json
import os
import shutil

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC
from short_runs import logistic, logistic_data

from numpyro_pl import PseudoLangevin
from numpyro_pl.checkpoint import load_checkpoint, run_with_checkpoints, save_checkpoint

# warmup re-estimates at moves 10 and 30 (the last warmup move), one after warmup at 50
KERNEL = dict(
    reestimate_interval=20,
    warmup_reestimate_interval=10,
    min_grad_var_draws=20,
    max_grad_var_draws=60,
)
# warmup in chunks of 20 and 10 moves, then 1 + 20 and 20 moves (num_samples % thinning = 1
# move that MCMC.run skips before collecting)
RUN = dict(num_warmup=30, num_samples=41, thinning=2, progress_bar=False)
EVERY = 10
EXTRA = ("potential_energy", "mean_noise_ratio")
KEY = jax.random.key(1)


def logistic_with_bias(X, y):
    """Another model for the same data: ``w`` has one more entry and a site ``b`` is new."""
    b = numpyro.sample("b", dist.Normal(0, 1))
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1] + 1]).to_event(1))
    with numpyro.plate("data", X.shape[0]) as idx:
        logits = X[idx] @ w[:-1] + w[-1] + b
        numpyro.sample("y", dist.Bernoulli(logits=logits), obs=y[idx])


@pytest.fixture(scope="module")
def data():
    return logistic_data(200)


def new_mcmc(model=logistic, num_chains=1, chain_method="sequential", kernel=(), **run):
    """A fresh kernel and MCMC, as a new process would build them."""
    kernel = PseudoLangevin(model, batch_size=20, **{**KERNEL, **dict(kernel)})
    return MCMC(kernel, num_chains=num_chains, chain_method=chain_method, **{**RUN, **run})


def as_arrays(tree):
    return [
        np.asarray(jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
        for x in jax.tree.leaves(tree)
    ]


def assert_same_run(mcmc, reference):
    """Every sample, every extra field and the final state, bit for bit."""
    for got, want in [
        (mcmc.get_samples(group_by_chain=True), reference.get_samples(group_by_chain=True)),
        (mcmc.get_extra_fields(group_by_chain=True), reference.get_extra_fields(True)),
        (mcmc.last_state, reference.last_state),
    ]:
        assert jax.tree.structure(got) == jax.tree.structure(want)
        for a, b in zip(as_arrays(got), as_arrays(want), strict=True):
            np.testing.assert_array_equal(a, b)


def copy_run(source, target):
    shutil.copytree(source, target)
    return os.path.join(target, "fit.npz")


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """One ``mcmc.run``, and the same run with checkpoints with a copy of its files after
    each checkpoint: what a process killed at that point leaves behind."""
    plain = new_mcmc()
    plain.run(KEY, *data, extra_fields=EXTRA)
    directory = tmp_path_factory.mktemp("reference")
    snapshots = []

    def snapshot(num_moves, num_samples):
        target = tmp_path_factory.mktemp(f"after_{num_moves}")
        shutil.copytree(directory, target, dirs_exist_ok=True)
        snapshots.append((num_moves, num_samples, target))

    checkpointed = new_mcmc()
    path = os.path.join(directory, "fit.npz")
    run_with_checkpoints(
        checkpointed, KEY, *data, path=path, every=EVERY, extra_fields=EXTRA, callback=snapshot
    )
    return plain, checkpointed, snapshots


def test_checkpointed_run_equals_one_mcmc_run(reference):
    plain, checkpointed, snapshots = reference
    assert [s[:2] for s in snapshots] == [(20, 0), (30, 0), (51, 10), (71, 20)]
    assert sorted(os.listdir(snapshots[-1][2])) == [
        "fit.npz",
        "fit.samples-00000.npz",
        "fit.samples-00001.npz",
    ]
    assert checkpointed.get_samples()["w"].shape == (20, 3)
    assert int(checkpointed.last_state.i) == 30 + 41
    assert_same_run(checkpointed, plain)
    # what a user does with an MCMC after run
    checkpointed.print_summary()
    posterior = az.from_numpyro(checkpointed, log_likelihood=False).posterior
    np.testing.assert_array_equal(posterior["w"].values, plain.get_samples(True)["w"])


def test_resume_in_new_process_is_bitwise_identical(reference, data, tmp_path):
    """Killed in the middle of warmup, resumed with other chunks (``every=20``: the rest of
    warmup, then all the samples in one chunk). A resume in the middle of sampling is in
    test_interrupted_write_leaves_the_last_checkpoint."""
    plain, checkpointed, snapshots = reference
    path = copy_run(snapshots[0][2], tmp_path / "run")
    resumed = new_mcmc()
    run_with_checkpoints(resumed, KEY, *data, path=path, every=20, extra_fields=EXTRA)
    assert sorted(os.listdir(tmp_path / "run")) == ["fit.npz", "fit.samples-00000.npz"]
    assert_same_run(resumed, checkpointed)
    assert_same_run(resumed, plain)


def test_finished_run_is_read_back_and_can_be_extended(reference, data, tmp_path):
    plain, _, snapshots = reference
    path = copy_run(snapshots[-1][2], tmp_path / "run")

    def no_move(*_):
        raise AssertionError("a finished run made a move")

    again = new_mcmc()
    run_with_checkpoints(
        again, KEY, *data, path=path, every=EVERY, extra_fields=EXTRA, callback=no_move
    )
    assert_same_run(again, plain)
    # sampling longer: num_samples may grow, keeping num_samples % thinning
    with pytest.raises(ValueError, match="num_samples=42, thinning=2"):
        run_with_checkpoints(
            new_mcmc(num_samples=42), KEY, *data, path=path, every=EVERY, extra_fields=EXTRA
        )
    longer = new_mcmc(num_samples=61)
    run_with_checkpoints(longer, KEY, *data, path=path, every=EVERY, extra_fields=EXTRA)
    samples = longer.get_samples()["w"]
    assert samples.shape == (30, 3) and int(longer.last_state.i) == 30 + 61
    np.testing.assert_array_equal(samples[:20], plain.get_samples()["w"])


def test_interrupted_write_leaves_the_last_checkpoint(reference, data, tmp_path, monkeypatch):
    _, checkpointed, snapshots = reference
    path = copy_run(snapshots[2][2], tmp_path / "run")  # 51 moves, 10 samples kept
    with open(path, "rb") as f:
        before = f.read()
    savez, calls = np.savez, []

    def killed_midway(file, *args, **kwargs):
        calls.append(file)
        if len(calls) < 2:  # the sample file of the last chunk goes through
            return savez(file, *args, **kwargs)
        buffer = io.BytesIO()
        savez(buffer, *args, **kwargs)
        file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError("killed while writing the checkpoint")

    monkeypatch.setattr(np, "savez", killed_midway)
    with pytest.raises(OSError, match="killed while writing"):
        run_with_checkpoints(new_mcmc(), KEY, *data, path=path, every=EVERY, extra_fields=EXTRA)
    monkeypatch.undo()
    with open(path, "rb") as f:
        assert f.read() == before
    assert not [name for name in os.listdir(tmp_path / "run") if name.endswith(".tmp")]
    # the chunk's sample file, written but not yet recorded, is written again on resume
    resumed = new_mcmc()
    run_with_checkpoints(resumed, KEY, *data, path=path, every=EVERY, extra_fields=EXTRA)
    assert_same_run(resumed, checkpointed)


def test_checkpoint_of_another_run_is_refused(reference, data, tmp_path):
    X, y = data
    path = copy_run(reference[2][-1][2], tmp_path / "run")

    def resume(mcmc=None, key=KEY, args=data, extra_fields=EXTRA, file=path):
        mcmc = new_mcmc() if mcmc is None else mcmc
        run_with_checkpoints(mcmc, key, *args, path=file, every=EVERY, extra_fields=extra_fields)

    for mcmc, match in [
        (new_mcmc(kernel=dict(noise_ratio=0.05)), "noise_ratio is 0.05 here but 0.01"),
        (new_mcmc(num_warmup=40), "num_warmup is 40 here but 30"),
        (new_mcmc(thinning=1), "thinning is 1 here but 2"),
        (new_mcmc(num_chains=2), "num_chains is 2 here but 1"),
    ]:
        with pytest.raises(ValueError, match=match):
            resume(mcmc)
    with pytest.raises(ValueError, match="rng_key is"):
        resume(key=jax.random.key(2))
    with pytest.raises(ValueError, match="extra_fields is"):
        resume(extra_fields=())
    with pytest.raises(ValueError, match=r"args\[0\] is float32\[150, 3\].*float32\[200, 3\]"):
        resume(args=(X[:150], y[:150]))
    with pytest.raises(ValueError, match=r"model argument args\[1\] is float32\[200\] sha256"):
        resume(args=(X, 1.0 - y))
    # another model on the same data: the site and both shapes are named
    with pytest.raises(ValueError) as error:
        resume(new_mcmc(logistic_with_bias))
    assert "state.z['b'] is missing" in str(error.value)
    assert "state.z['w'] is float32[4] for this model but float32[3] in the checkpoint" in str(
        error.value
    )
    assert "start a new run" in str(error.value)


def test_damaged_checkpoint_is_refused(reference, data, tmp_path):
    def resume(file):
        run_with_checkpoints(new_mcmc(), KEY, *data, path=file, every=EVERY, extra_fields=EXTRA)

    path = copy_run(reference[2][-1][2], tmp_path / "run")
    # a file of an earlier format version (here 2: its move coefficients meant other things)
    with np.load(path) as f:
        arrays = {name: f[name] for name in f.files}
    meta = json.loads(arrays["meta"].item())
    arrays["meta"] = np.array(json.dumps(dict(meta, version=2)))
    old = str(tmp_path / "run" / "old.npz")
    np.savez(old, **arrays)
    with pytest.raises(ValueError, match=r"not a numpyro_pl checkpoint of version 4 .*version 2"):
        resume(old)
    chunk = os.path.join(tmp_path / "run", "fit.samples-00001.npz")
    with open(chunk, "r+b") as f:
        f.truncate(os.path.getsize(chunk) // 2)
    with pytest.raises(ValueError, match=r"fit.samples-00001.npz, which holds samples .*sha256"):
        resume(path)
    os.remove(chunk)
    with pytest.raises(ValueError, match="fit.samples-00001.npz, which .* is missing"):
        resume(path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(ValueError, match="truncated or damaged"):
        resume(path)
    other = str(tmp_path / "other.npz")
    np.savez(other, w=np.zeros(3))
    with pytest.raises(ValueError, match="not a numpyro_pl checkpoint"):
        resume(other)


def test_save_and_load_checkpoint(reference, data, tmp_path):
    plain, _, snapshots = reference
    # a file of run_with_checkpoints, continued by hand with NumPyro's post_warmup_state
    mcmc = new_mcmc(num_samples=20)
    checkpoint = load_checkpoint(os.path.join(snapshots[2][2], "fit.npz"), mcmc, *data)
    assert checkpoint.num_moves == 51 and int(checkpoint.state.i) == 51
    np.testing.assert_array_equal(checkpoint.samples["w"][0], plain.get_samples()["w"][:10])
    mcmc.post_warmup_state = checkpoint.state
    mcmc.run(checkpoint.state.rng_key, *data, extra_fields=EXTRA)
    np.testing.assert_array_equal(mcmc.get_samples()["w"], plain.get_samples()["w"][10:])
    for a, b in zip(as_arrays(mcmc.last_state), as_arrays(plain.last_state), strict=True):
        np.testing.assert_array_equal(a, b)
    # a single state, read back by a new kernel
    path = tmp_path / "state.npz"
    save_checkpoint(path, mcmc, *data)
    loaded = load_checkpoint(path, new_mcmc(), *data)
    assert loaded.samples is None and loaded.num_moves == 30 + 41
    for a, b in zip(as_arrays(loaded.state), as_arrays(mcmc.last_state), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="holds a single state"):
        run_with_checkpoints(new_mcmc(), KEY, *data, path=path, every=EVERY)


@pytest.mark.parametrize("chain_method", ["sequential", "vectorized"])
def test_chains_resumed_equal_one_mcmc_run(data, tmp_path, chain_method):
    run = dict(num_chains=2, chain_method=chain_method, num_warmup=10, num_samples=10, thinning=1)
    plain = new_mcmc(**run)
    plain.run(KEY, *data)

    class Killed(Exception):
        pass

    def kill(num_moves, num_samples):
        raise Killed

    path = tmp_path / "fit.npz"
    with pytest.raises(Killed):  # killed after the warmup chunk was saved
        run_with_checkpoints(new_mcmc(**run), KEY, *data, path=path, every=10, callback=kill)
    resumed = new_mcmc(**run)
    run_with_checkpoints(resumed, KEY, *data, path=path, every=10)
    assert resumed.get_samples(group_by_chain=True)["w"].shape == (2, 10, 3)
    assert_same_run(resumed, plain)
