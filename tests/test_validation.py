"""Bad inputs to :class:`numpyro_pl.PseudoLangevin` give a clear error.

Every test checks the exception type and that the message names the offending argument or
model site. Arguments are checked either by the constructor or, for checks that need the
model and the data, by ``MCMC.run`` (through ``PseudoLangevin.init``). Runs are kept tiny:
they fail at initialisation, before any move is made.
"""

import math

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC
from short_runs import logistic

from numpyro_pl import PseudoLangevin

N, D, B = 200, 3, 20

#: settings that keep the sigma^2 estimate at init cheap.
FAST = dict(min_grad_var_draws=10, max_grad_var_draws=20, reestimate_interval=1)


# --------------------------------------------------------------------------------------
# data and models
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def X():
    return jax.random.normal(jax.random.key(0), (N, D))


@pytest.fixture(scope="module")
def y(X):
    return (X @ jnp.array([1.0, -1.0, 0.5]) > 0).astype(jnp.float32)


def gaussian_regression(X, y=None):
    """Linear regression with a Normal likelihood."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Normal(X[idx] @ w, 1.0), obs=None if y is None else y[idx])


def two_plates(X, y=None):
    """Two plates: the data plate and a plate over the features."""
    with numpyro.plate("features", X.shape[1]):
        w = numpyro.sample("w", dist.Normal(0, 1))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Bernoulli(logits=X[idx] @ w), obs=y[idx])


def no_plate(X, y=None):
    """The likelihood without any plate."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    numpyro.sample("y", dist.Bernoulli(logits=X @ w).to_event(1), obs=y)


def discrete_latent(X, y=None):
    """A discrete latent site ``k`` outside the plate."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    k = numpyro.sample("k", dist.Bernoulli(0.5))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Bernoulli(logits=X[idx] @ w + k), obs=y[idx])


def obs_not_indexed(X, y=None):
    """Covariates indexed by the plate, but the observations not (``obs=y``)."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Bernoulli(logits=X[idx] @ w), obs=y)


def full_data_in_plate(X, y=None):
    """Nothing indexed by the plate: full ``X`` and full ``y`` inside it."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=X @ w), obs=y)


def local_latent(X, y=None):
    """A latent site ``u`` (one per data point) inside the subsampled plate."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0]) as idx:
        u = numpyro.sample("u", dist.Normal(0, 1))
        numpyro.sample("y", dist.Bernoulli(logits=X[idx] @ w + u), obs=y[idx])


def unused_global(X, y=None):
    """A global site ``s`` that does not enter the likelihood: its gradient has no
    minibatch noise."""
    numpyro.sample("s", dist.Normal(0, 1))
    logistic(X, y)


def run(kernel, X, y, **run_kwargs):
    """A tiny ``MCMC.run``; every test here expects it to raise during init."""
    mcmc = MCMC(kernel, num_warmup=2, num_samples=2, progress_bar=False)
    mcmc.run(jax.random.key(0), X, y, **run_kwargs)


# --------------------------------------------------------------------------------------
# constructor: argument values and types
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.inf, math.nan])
def test_temperature_out_of_range(temperature):
    with pytest.raises(ValueError, match="`temperature`"):
        PseudoLangevin(logistic, batch_size=B, temperature=temperature)


@pytest.mark.parametrize("temperature", ["1.0", None, True])
def test_temperature_wrong_type(temperature):
    with pytest.raises(TypeError, match="`temperature`"):
        PseudoLangevin(logistic, batch_size=B, temperature=temperature)


@pytest.mark.parametrize("name", ["noise_ratio", "max_noise_ratio"])
@pytest.mark.parametrize("value", [0.0, -0.1, 0.51, 0.6, math.inf, math.nan])
def test_noise_ratio_out_of_range(name, value):
    # friction=0.1: c1^2 = 0.99, so r must lie in (0, 1/1.99) = (0, 0.5025...)
    with pytest.raises(ValueError, match=f"`{name}`"):
        PseudoLangevin(logistic, batch_size=B, friction=0.1, **{name: value})


@pytest.mark.parametrize("name", ["noise_ratio", "max_noise_ratio"])
def test_noise_ratio_wrong_type(name):
    with pytest.raises(TypeError, match=f"`{name}`"):
        PseudoLangevin(logistic, batch_size=B, **{name: "0.1"})


def test_noise_ratio_limit_follows_friction():
    # friction=0.9: c1^2 = 0.19, so r = 0.6 is admissible, r = 0.85 (> 1/1.19) is not.
    PseudoLangevin(logistic, batch_size=B, friction=0.9, noise_ratio=0.6)
    with pytest.raises(ValueError, match="`noise_ratio`"):
        PseudoLangevin(logistic, batch_size=B, friction=0.9, noise_ratio=0.85)


@pytest.mark.parametrize("friction", [0.0, 1.0, 1.5, -0.1, math.nan])
def test_friction_out_of_range(friction):
    with pytest.raises(ValueError, match="`friction`"):
        PseudoLangevin(logistic, batch_size=B, friction=friction)


@pytest.mark.parametrize("batch_size", [0, -5])
def test_batch_size_below_one(batch_size):
    with pytest.raises(ValueError, match="`batch_size`"):
        PseudoLangevin(logistic, batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [2.5, 20.0, "20", True])
def test_batch_size_not_integer(batch_size):
    with pytest.raises(TypeError, match="`batch_size`"):
        PseudoLangevin(logistic, batch_size=batch_size)


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(reset_prob=-0.1), ValueError, "reset_prob"),
        (dict(reset_prob=1.1), ValueError, "reset_prob"),
        (dict(reset_prob=math.nan), ValueError, "reset_prob"),
        (dict(min_grad_var_draws=1), ValueError, "min_grad_var_draws"),
        (dict(min_grad_var_draws=10.0), TypeError, "min_grad_var_draws"),
        (dict(min_grad_var_draws=50, max_grad_var_draws=20), ValueError, "max_grad_var_draws"),
        (dict(max_grad_var_draws=100.5), TypeError, "max_grad_var_draws"),
        (dict(grad_var_rtol=0.0), ValueError, "grad_var_rtol"),
        (dict(grad_var_criterion="all"), ValueError, "grad_var_criterion"),
        (dict(grad_var_criterion=None), ValueError, "grad_var_criterion"),
        (dict(grad_var_floor=0.0), ValueError, "grad_var_floor"),
        (dict(grad_var_floor=-1e-8), ValueError, "grad_var_floor"),
        (dict(hot_ratio=1.0), ValueError, "hot_ratio"),
        (dict(hot_ratio="1.5"), TypeError, "hot_ratio"),
        (dict(max_prior_stability=4.0), ValueError, "max_prior_stability"),
        (dict(max_prior_stability=0.0), ValueError, "max_prior_stability"),
        (dict(max_prior_stability="0.04"), TypeError, "max_prior_stability"),
        (dict(step_size=0.0), ValueError, "step_size"),
        (dict(step_size=-1.0), ValueError, "step_size"),
        (dict(step_size=math.inf), ValueError, "step_size"),
        (dict(reestimate_interval=0), ValueError, "reestimate_interval"),
        (dict(reestimate_interval=1.5), TypeError, "reestimate_interval"),
        (dict(reestimate_interval_step=-1), ValueError, "reestimate_interval_step"),
        (
            dict(reestimate_interval=100, max_reestimate_interval=50),
            ValueError,
            "max_reestimate_interval",
        ),
        (dict(plate_name=0), TypeError, "plate_name"),
        (dict(white_noise="gaussian"), ValueError, "white_noise"),
        (dict(white_noise=None), ValueError, "white_noise"),
    ],
)
def test_constructor_argument_checks(kwargs, error, name):
    with pytest.raises(error, match=f"`{name}`"):
        PseudoLangevin(logistic, batch_size=B, **kwargs)


# --------------------------------------------------------------------------------------
# constructor: model or potential_fn
# --------------------------------------------------------------------------------------


def potential_fn(z, rng_key):
    return 0.5 * jnp.sum(z**2) + jax.random.normal(rng_key) * jnp.sum(z)


@pytest.mark.parametrize("args", [(logistic, potential_fn), (None, None)], ids=["both", "neither"])
def test_exactly_one_of_model_or_potential_fn(args):
    with pytest.raises(ValueError, match="`model`.*`potential_fn`"):
        PseudoLangevin(*args)


@pytest.mark.parametrize("name", ["model", "potential_fn"])
def test_model_not_callable(name):
    with pytest.raises(TypeError, match=f"`{name}`"):
        PseudoLangevin(**{name: "not a function"})


@pytest.mark.parametrize(
    "kwargs", [dict(batch_size=B), dict(plate_name="data")], ids=["batch_size", "plate_name"]
)
def test_potential_fn_with_model_only_argument(kwargs):
    (name,) = kwargs
    with pytest.raises(ValueError, match=f"`{name}`"):
        PseudoLangevin(potential_fn=potential_fn, **kwargs)


def test_potential_fn_without_init_params(X, y):
    with pytest.raises(ValueError, match="`init_params`"):
        run(PseudoLangevin(potential_fn=potential_fn, **FAST), X, y)


# --------------------------------------------------------------------------------------
# at run: plates and batch size
# --------------------------------------------------------------------------------------


def test_batch_size_larger_than_plate(X, y):
    with pytest.raises(ValueError, match=r"`batch_size`.*size 200 of plate 'data'.*10000"):
        run(PseudoLangevin(logistic, batch_size=10_000, **FAST), X, y)


def test_unknown_plate_name(X, y):
    kernel = PseudoLangevin(two_plates, batch_size=B, plate_name="dat", **FAST)
    with pytest.raises(ValueError, match=r"plate_name='dat'.*\['data', 'features'\]"):
        run(kernel, X, y)


def test_several_plates_without_plate_name(X, y):
    with pytest.raises(ValueError, match=r"several plates.*`plate_name=`"):
        run(PseudoLangevin(two_plates, batch_size=B, **FAST), X, y)


@pytest.mark.parametrize(
    "batch_size, message",
    [(B, r"`batch_size`.*no `numpyro\.plate`"), (None, r"`batch_size=`.*Plates found: none")],
    ids=["with_batch_size", "without_batch_size"],
)
def test_model_without_plate(X, y, batch_size, message):
    with pytest.raises(ValueError, match=message):
        run(PseudoLangevin(no_plate, batch_size=batch_size, **FAST), X, y)


def test_errors_point_to_the_docs(X, y):
    """Argument errors name the page on choosing the parameters; model-structure errors the
    page that shows the data plate."""
    with pytest.raises(ValueError, match=r"`noise_ratio`.*See help\(PseudoLangevin\) and docs/"):
        PseudoLangevin(logistic, batch_size=B, noise_ratio=2.0)
    with pytest.raises(TypeError, match=r"`batch_size`.*docs/parameters\.md\.$"):
        PseudoLangevin(logistic, batch_size=1.5)
    with pytest.raises(ValueError, match=r"no `numpyro\.plate`.*See docs/getting_started\.md"):
        run(PseudoLangevin(no_plate, batch_size=B, **FAST), X, y)


def test_plate_not_subsampled_without_batch_size(X, y):
    with pytest.raises(ValueError, match=r"Plate 'data' is not subsampled.*`batch_size=`"):
        run(PseudoLangevin(logistic, plate_name="data", **FAST), X, y)


# --------------------------------------------------------------------------------------
# at run: model structure
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model, batch_size, message",
    [
        (discrete_latent, B, r"discrete latent site\(s\) \['k'\]"),
        (obs_not_indexed, B, r"Observed site 'y' has shape \(200,\).*plate 'data'"),
        (full_data_in_plate, B, r"fails when plate\(s\) \['data'\] are subsampled"),
        (local_latent, B, r"Latent site 'u' lies inside the subsampled plate 'data'"),
        # with B == N, with-replacement minibatches still reorder X[idx] against a fixed y
        (obs_not_indexed, N, r"site 'y'.*plate 'data'"),
        (full_data_in_plate, N, r"plate.*'data'"),
    ],
    ids=[
        "discrete_latent",
        "obs_not_indexed",
        "full_data_in_plate",
        "local_latent",
        "obs_not_indexed-batch_size_N",
        "full_data_in_plate-batch_size_N",
    ],
)
def test_bad_model_structure(X, y, model, batch_size, message):
    with pytest.raises(ValueError, match=message):
        run(PseudoLangevin(model, batch_size=batch_size, **FAST), X, y)


# --------------------------------------------------------------------------------------
# at init: the potential, its gradient and the minibatch noise
# --------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*Out-of-support values:UserWarning")
def test_nan_in_data(X):
    y = (X @ jnp.array([1.0, -1.0, 0.5])).at[7].set(jnp.nan)
    with pytest.raises(ValueError, match=r"finite potential energy.*NaN"):
        run(PseudoLangevin(gaussian_regression, batch_size=B, **FAST), X, y)


NAN_INIT_PARAMS = {"w": jnp.array([jnp.nan, 0.0, 0.0])}


@pytest.mark.parametrize("validate", [True, False])
def test_nonfinite_init_params(X, y, validate):
    """Named before NumPyro's own distribution validation can raise a vaguer error."""
    kernel = PseudoLangevin(logistic, batch_size=B, **FAST)
    message = r"`init_params` has non-finite values at site\(s\) \['w'\]"
    with numpyro.validation_enabled(validate), pytest.raises(ValueError, match=message):
        run(kernel, X, y, init_params=NAN_INIT_PARAMS)


def test_site_without_minibatch_noise(X, y):
    with pytest.raises(ValueError, match=r"site\(s\) \['s'\] has no measurable minibatch noise"):
        run(PseudoLangevin(unused_global, batch_size=B, **FAST), X, y)
