"""Property-based bad-input tests (hypothesis): random invalid arguments to the
:class:`~numpyro_pl.PseudoLangevin` constructor, and random invalid models, data and
``init_params`` given to ``MCMC.run``.

Every case must end in a ``ValueError`` or ``TypeError`` whose message names the offending
argument or model site, never in an error from inside JAX or NumPyro, nor in a hang. The
hand-written cases are in ``tests/test_validation.py``; here hypothesis draws the values,
types and shapes. Runs fail during ``init``, before the kernel is compiled, so most examples
take milliseconds; the examples are derandomized, so CI sees the same ones every time.
"""

import math
import re
import signal
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpyro.infer import MCMC
from short_runs import logistic

from numpyro_pl import PseudoLangevin, potential
from numpyro_pl.dynamics import max_stable_noise_ratio

#: derandomized (the same examples on every run), no per-example deadline (the first example
#: of a test pays for JAX's tracing caches), a bounded number of examples.
PROPERTY = dict(
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

#: settings that keep the sigma^2 estimate at init cheap.
FAST = dict(min_grad_var_draws=10, max_grad_var_draws=20)

#: the largest count the constructor accepts (moves and draws are counted in int32).
MOST = 10**9

#: the defaults that bound other arguments: noise_ratio (for max_noise_ratio),
#: max_grad_var_draws and max_reestimate_interval (for their lower counterparts).
NOISE_RATIO, MIN_DRAWS, MAX_DRAWS, INTERVAL, MAX_INTERVAL = 0.01, 100, 1000, 5000, 50000
R_LIMIT = max_stable_noise_ratio(0.1)  # the bound on the noise ratios at the default friction


@contextmanager
def time_limit(seconds):
    """Fail, rather than hang, if the block runs longer than ``seconds`` (where there are
    alarm signals: not on Windows)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"no error within {seconds} s: the input made the run hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------------------
# the constructor
# --------------------------------------------------------------------------------------

#: real arguments: (low, high, low_open, high_open), as documented.
REAL = {
    "temperature": (0.0, math.inf, True, True),
    "step_size": (0.0, math.inf, True, True),
    "friction": (0.0, 1.0, True, True),
    "noise_ratio": (0.0, R_LIMIT, True, True),
    "max_noise_ratio": (NOISE_RATIO, R_LIMIT, False, True),
    "reset_prob": (0.0, 1.0, False, False),
    "grad_var_rtol": (0.0, math.inf, True, True),
    "grad_var_floor": (0.0, math.inf, True, True),
    "relative_mass_floor": (0.0, 1.0, False, True),
    "hot_ratio": (1.0, math.inf, True, True),
    "max_prior_stability": (0.0, 4.0, True, True),
}

#: real arguments for which ``None`` is valid (it turns the feature off).
OPTIONAL = {"hot_ratio", "max_prior_stability"}

#: integer arguments: (low, high), inclusive, given the defaults of the others.
INTEGER = {
    "batch_size": (1, None),
    "min_grad_var_draws": (2, MAX_DRAWS),
    "max_grad_var_draws": (MIN_DRAWS, MOST),
    "reestimate_interval": (1, MAX_INTERVAL),
    "reestimate_interval_step": (0, MOST),
    "max_reestimate_interval": (INTERVAL, MOST),
    "warmup_reestimate_interval": (1, MOST),
}

CHOICE = {
    "grad_var_criterion": ("rms", "max"),
    "white_noise": ("rademacher", "normal"),
    "on_nonfinite": ("raise", "rollback"),
}

BOOLEAN = ("adapt_after_warmup", "compensate_minibatch_noise")

#: values that are no number at all (bool is an int to Python, but not to the kernel).
NOT_A_NUMBER = st.sampled_from(
    [
        True,
        False,
        np.bool_(True),
        None,
        "1",
        "0.5",
        b"1",
        1 + 0j,
        complex(0.5, 0.0),
        Decimal("0.5"),
        [0.5],
        (1,),
        {"value": 1},
        object(),
        np.array(0.5),
        np.array([0.5, 0.5]),
        np.array(1),
        jnp.array(0.5),
        jnp.array([1, 2]),
        jnp.float32(0.5),
    ]
)


def inside(value, low, high, low_open, high_open):
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    return above and below and math.isfinite(value)


@st.composite
def invalid_real(draw, name):
    """``(value, error)``: a value that ``name`` must reject, and the error it raises."""
    low, high, low_open, high_open = REAL[name]
    kind = draw(st.sampled_from(["type", "float", "int", "numpy", "huge"]))
    if kind == "type":
        return draw(NOT_A_NUMBER.filter(lambda v: v is not None or name not in OPTIONAL)), TypeError
    if kind == "float":
        value = draw(st.floats(allow_nan=True, allow_infinity=True))
    elif kind == "int":
        value = draw(st.integers(-(10**6), 10**6))
    elif kind == "numpy":
        value = draw(st.sampled_from([np.float32, np.float64]))(draw(st.floats(width=32)))
    else:  # an integer beyond the range of a float
        return draw(st.integers(10**309, 10**400)) * draw(st.sampled_from([1, -1])), ValueError
    if inside(float(value), low, high, low_open, high_open):
        value = draw(st.sampled_from([low, high, -1.0, math.nan, math.inf, -math.inf]))
        if inside(value, low, high, low_open, high_open):  # a closed end
            value = math.nan
    return value, ValueError


@st.composite
def invalid_integer(draw, name):
    low, high = INTEGER[name]
    kind = draw(st.sampled_from(["type", "float", "below", "above"]))
    if kind == "type":
        return draw(NOT_A_NUMBER | st.floats() | st.sampled_from([np.float64(3.0), 2.0])), TypeError
    if kind == "below" or high is None:  # batch_size: checked against the plate at run
        value = draw(st.integers(max_value=low - 1))
    else:
        value = draw(st.integers(min_value=high + 1) | st.integers(10**30, 10**5000))
    if abs(value) < 2**62 and draw(st.booleans()):
        value = np.int64(value)
    return value, ValueError


@st.composite
def invalid_argument(draw):
    """``(name, value, error)`` for any one argument of the constructor."""
    group = draw(st.sampled_from(["real", "integer", "choice", "boolean", "callable", "plate"]))
    if group == "real":
        name = draw(st.sampled_from(sorted(REAL)))
        return (name, *draw(invalid_real(name)))
    if group == "integer":
        name = draw(st.sampled_from(sorted(INTEGER)))
        return (name, *draw(invalid_integer(name)))
    if group == "choice":
        name = draw(st.sampled_from(sorted(CHOICE)))
        value = draw(
            st.text(max_size=12).filter(lambda s: s not in CHOICE[name])
            | NOT_A_NUMBER
            | st.sampled_from([c.upper() for c in CHOICE[name]] + [np.array(CHOICE[name])])
        )
        return name, value, ValueError
    if group == "boolean":
        name = draw(st.sampled_from(BOOLEAN))
        value = draw(NOT_A_NUMBER.filter(lambda v: not isinstance(v, (bool, np.bool_))))
        return name, draw(st.sampled_from([value, "False", 0, 1, None])), TypeError
    if group == "callable":
        return "init_strategy", draw(NOT_A_NUMBER | st.integers()), TypeError
    value = draw(NOT_A_NUMBER.filter(lambda v: v is not None and not isinstance(v, str)))
    return "plate_name", value, TypeError


@settings(max_examples=400, **PROPERTY)
@given(case=invalid_argument())
def test_constructor_names_the_invalid_argument(case):
    name, value, error = case
    with pytest.raises(error) as info:
        PseudoLangevin(logistic, **{name: value})
    assert f"`{name}`" in str(info.value), str(info.value)


GROUPED = {
    "friction",
    "noise_ratio",
    "max_noise_ratio",
    "min_grad_var_draws",
    "max_grad_var_draws",
    "reestimate_interval",
    "max_reestimate_interval",
}


@st.composite
def valid_arguments(draw):
    """Keyword arguments that the constructor must accept, the bounds of one argument taken
    from the values drawn for the others."""
    kwargs = {}
    friction = draw(st.floats(0.0, 1.0, exclude_min=True, exclude_max=True))
    r_limit = max_stable_noise_ratio(friction)
    ratio = draw(st.floats(0.0, r_limit, exclude_min=True, exclude_max=True))
    kwargs.update(friction=friction, noise_ratio=ratio)
    if draw(st.booleans()):
        kwargs["max_noise_ratio"] = draw(st.floats(ratio, r_limit, exclude_max=True))
    positive = st.floats(0.0, exclude_min=True, allow_infinity=False)
    for name in ("temperature", "step_size", "grad_var_rtol", "grad_var_floor"):
        kwargs[name] = draw(positive | st.integers(1, 10**6) | st.sampled_from([np.float32(2)]))
    kwargs["reset_prob"] = draw(st.floats(0.0, 1.0) | st.sampled_from([0, 1, Fraction(1, 3)]))
    kwargs["relative_mass_floor"] = draw(st.floats(0.0, 1.0, exclude_max=True))
    kwargs["hot_ratio"] = draw(st.none() | st.floats(1.0, exclude_min=True, allow_infinity=False))
    kwargs["max_prior_stability"] = draw(
        st.none() | st.floats(0.0, 4.0, exclude_min=True, exclude_max=True)
    )
    min_draws = draw(st.integers(2, MOST))
    kwargs.update(
        batch_size=draw(st.integers(1, 10**6) | st.sampled_from([np.int64(7), np.uint8(3)])),
        min_grad_var_draws=min_draws,
        max_grad_var_draws=draw(st.integers(min_draws, MOST)),
    )
    interval = draw(st.integers(1, MOST))
    kwargs.update(
        reestimate_interval=np.int32(interval) if draw(st.booleans()) else interval,
        reestimate_interval_step=draw(st.integers(0, MOST)),
        max_reestimate_interval=draw(st.integers(interval, MOST)),
        warmup_reestimate_interval=draw(st.integers(1, MOST)),
    )
    for name, choices in CHOICE.items():
        kwargs[name] = draw(st.sampled_from(choices))
    for name in BOOLEAN:
        kwargs[name] = draw(st.booleans() | st.sampled_from([np.True_, np.False_]))
    kwargs["plate_name"] = draw(st.none() | st.text(min_size=1, max_size=8))
    # every argument, or any subset of them (the rest at their defaults), keeping together
    # the arguments that bound one another
    groups = [
        ("friction", "noise_ratio", "max_noise_ratio"),
        ("min_grad_var_draws", "max_grad_var_draws"),
        ("reestimate_interval", "max_reestimate_interval"),
        *[(name,) for name in kwargs if name not in GROUPED],
    ]
    keep = draw(st.lists(st.booleans(), min_size=len(groups), max_size=len(groups)))
    return {
        k: kwargs[k] for g, kept in zip(groups, keep, strict=True) if kept for k in g if k in kwargs
    }


@settings(max_examples=200, **PROPERTY)
@given(kwargs=valid_arguments())
def test_valid_arguments_construct(kwargs):
    kernel = PseudoLangevin(logistic, **kwargs)
    assert kernel.temperature == float(kwargs.get("temperature", 1.0))
    assert kernel.model is logistic


# --------------------------------------------------------------------------------------
# at run: random invalid models, data and init_params
# --------------------------------------------------------------------------------------


def regression(X, y):
    """The plate's size is the length of X."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0]) as idx:
        numpyro.sample("y", dist.Normal(X[idx] @ w, 1.0), obs=y[idx])


def regression_sized_by_y(X, y):
    """The plate's size is the length of y."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", y.shape[0]) as idx:
        numpyro.sample("y", dist.Normal(X[idx] @ w, 1.0), obs=y[idx])


def regression_subsampling_itself(X, y, batch_size):
    """The model declares the minibatch with ``numpyro.subsample``."""
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("data", X.shape[0], subsample_size=batch_size):
        batch_X = numpyro.subsample(X, event_dim=1)
        batch_y = numpyro.subsample(y, event_dim=0)
        numpyro.sample("y", dist.Normal(batch_X @ w, 1.0), obs=batch_y)


def no_plate(X, y):
    w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
    numpyro.sample("y", dist.Normal(X @ w, 1.0).to_event(1), obs=y)


def with_discrete_latent(site):
    def model(X, y):
        w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
        k = numpyro.sample(site, dist.Bernoulli(0.5))
        with numpyro.plate("data", X.shape[0]) as idx:
            numpyro.sample("y", dist.Normal(X[idx] @ w + k, 1.0), obs=y[idx])

    return model


def with_latent_in_plate(site):
    def model(X, y):
        w = numpyro.sample("w", dist.Normal(0, 1).expand([X.shape[1]]).to_event(1))
        with numpyro.plate("data", X.shape[0]) as idx:
            u = numpyro.sample(site, dist.Normal(0, 1))
            numpyro.sample("y", dist.Normal(X[idx] @ w + u, 1.0), obs=y[idx])

    return model


def quadratic(z, rng_key):
    """A stochastic potential of ``{"w": vector}``."""
    w = z["w"]
    return 0.5 * jnp.sum(w**2) + jax.random.normal(rng_key) * jnp.sum(w)


def quadratic_of_a_matrix(z, rng_key):
    """A stochastic potential of ``{"w": (3,) vector}`` through a fixed (3, 2) matrix."""
    v = z["w"] @ jnp.ones((3, 2))
    return 0.5 * jnp.sum(v**2) + jax.random.normal(rng_key) * jnp.sum(v)


def vector_potential(z, rng_key):
    """Forgot the sum: a potential with one value per component."""
    return 0.5 * z["w"] ** 2 + jax.random.normal(rng_key) * z["w"]


SITE_NAMES = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
    lambda s: s not in ("w", "y", "data")
)


def make_data(n, d, seed):
    """``(X, y)``, NumPy arrays with ``y`` the length of ``X``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X.sum(axis=1) + rng.normal(size=n)).astype(np.float32)
    return X, y


@st.composite
def dataset(draw, sizes=None):
    """Random ``(X, y)``; ``sizes`` fixes ``(N, D)``."""
    n, d = sizes or (draw(st.integers(10, 120)), draw(st.integers(1, 4)))
    return make_data(n, d, draw(st.integers(0, 2**32 - 1)))


def other_length(draw, n):
    """A length other than ``n``, shorter or longer."""
    return n + draw(st.integers(-n + 1, n).filter(lambda k: k != 0))


#: the size of the data for the cases that get as far as NumPyro's initialisation, which
#: compiles the potential once per shape.
FIXED_SIZE = (50, 3)


def invalid_run(case, draw):
    """``(kernel, args, run_kwargs, pattern)``: a run that must fail with an error whose
    message matches ``pattern`` (the offending argument or site)."""
    fixed = case.startswith(("init_params", "potential_fn"))
    X, y = draw(dataset(FIXED_SIZE if fixed else None))
    n, d = X.shape
    kernel_kwargs = dict(batch_size=10 if fixed else draw(st.integers(1, n)), **FAST)
    model, model_args, run_kwargs = regression, (), {}
    if case == "nonfinite_data":
        name = draw(st.sampled_from(["X", "y"]))
        array = {"X": X, "y": y}[name].copy()
        array.flat[draw(st.integers(0, array.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf])
        )
        X, y = (array, y) if name == "X" else (X, array)
        pattern = rf"`{name}` is not finite"
    elif case == "y_length":  # the plate's size is the length of X
        y = np.resize(y, other_length(draw, n))
        pattern = r"`y` of shape .* plate 'data'"
    elif case == "X_length":  # the plate's size is the length of y
        model = regression_sized_by_y
        X = np.resize(X, (other_length(draw, n), d))
        pattern = r"`X` of shape .* plate 'data'"
    elif case == "X_rank":  # rank 1, or rank 3 with a last axis that cannot contract with w
        X = X[:, 0] if draw(st.booleans()) else np.repeat(X[..., None], d + 1, axis=-1)
        pattern = r"`X`: float32\["
    elif case == "y_rank":
        y = np.repeat(y[:, None], draw(st.integers(2, 3)), axis=1)
        pattern = r"site 'y'"
    elif case == "declared_y_length":  # the model subsamples itself
        model = regression_subsampling_itself
        model_args = (min(kernel_kwargs.pop("batch_size"), n - 1),)
        y = np.resize(y, other_length(draw, n))
        pattern = r"`y`: float32\["
    elif case == "batch_size_above_plate":
        kernel_kwargs["batch_size"] = n + draw(st.integers(1, 10 * n))
        pattern = r"`batch_size`"
    elif case == "unknown_plate_name":
        kernel_kwargs["plate_name"] = name = draw(SITE_NAMES)
        pattern = re.escape(f"plate_name={name!r}")
    elif case == "no_plate":
        model = no_plate
        pattern = r"no `numpyro\.plate`"
    elif case == "discrete_latent":
        name = draw(SITE_NAMES)
        model = with_discrete_latent(name)
        pattern = re.escape(f"discrete latent site(s) [{name!r}]")
    elif case == "latent_in_plate":
        name = draw(SITE_NAMES)
        model = with_latent_in_plate(name)
        pattern = re.escape(f"Latent site {name!r} lies inside")
    elif case == "init_params_sites":
        wrong = draw(SITE_NAMES)
        run_kwargs["init_params"] = draw(
            st.sampled_from(
                [{wrong: jnp.zeros(d)}, {"w": jnp.zeros(d), wrong: jnp.zeros(1)}, jnp.zeros(d)]
            )
        )
        pattern = r"`init_params` must be a dict of the model's latent sites \['w'\]"
    elif case == "init_params_shape":
        shape = draw(st.sampled_from([(d + 1,), (d - 1,), (d, 2), (), (1, d)]))
        run_kwargs["init_params"] = {"w": jnp.zeros(shape)}
        pattern = r"`init_params` has the wrong shape at site\(s\) \['w'\]"
    elif case == "potential_fn_init_params":
        potential, params = draw(
            st.sampled_from(
                [
                    (quadratic, {"v": jnp.zeros(3)}),
                    (quadratic, jnp.zeros(3)),
                    (quadratic_of_a_matrix, {"w": jnp.zeros(4)}),
                    (quadratic_of_a_matrix, {"w": jnp.zeros((2, 2))}),
                ]
            )
        )
        kernel = PseudoLangevin(potential_fn=potential, **FAST)
        return kernel, (), dict(init_params=params), r"`potential_fn` raised .*`init_params`"
    elif case == "potential_fn_vector":
        kernel = PseudoLangevin(potential_fn=vector_potential, **FAST)
        params = {"w": jnp.zeros(draw(st.integers(1, 5)))}
        return kernel, (), dict(init_params=params), r"`potential_fn` must return a real scalar"
    else:
        raise AssertionError(case)
    args = (jnp.asarray(X), jnp.asarray(y), *model_args)
    return PseudoLangevin(model, **kernel_kwargs), args, run_kwargs, pattern


RUN_CASES = [
    "nonfinite_data",
    "y_length",
    "X_length",
    "X_rank",
    "y_rank",
    "declared_y_length",
    "batch_size_above_plate",
    "unknown_plate_name",
    "no_plate",
    "discrete_latent",
    "latent_in_plate",
    "init_params_sites",
    "init_params_shape",
    "potential_fn_init_params",
    "potential_fn_vector",
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", RUN_CASES)
@settings(max_examples=10, **PROPERTY)
@given(data=st.data())
def test_run_names_the_invalid_input(case, data):
    kernel, args, run_kwargs, pattern = invalid_run(case, data.draw)
    mcmc = MCMC(kernel, num_warmup=2, num_samples=2, progress_bar=False)
    with time_limit(60), pytest.raises((ValueError, TypeError)) as info:
        mcmc.run(jax.random.key(0), *args, **run_kwargs)
    assert re.search(pattern, str(info.value)), (pattern, str(info.value))


@settings(max_examples=40, **PROPERTY)
@given(data=dataset(), batch=st.floats(0.0, 1.0), declared=st.booleans())
def test_valid_data_passes_the_model_checks(data, batch, declared):
    """The checks at run accept valid random data: X and y of the same length, any batch
    size up to the plate, the plate subsampled by the kernel or by the model. (The checks
    themselves, without NumPyro's initialisation, which compiles once per shape.)"""
    X, y = (jnp.asarray(a) for a in data)
    batch_size = max(1, round(batch * X.shape[0]))
    if declared:  # a plate that declares subsample_size=N is not subsampled: B < N
        batch_size = min(batch_size, X.shape[0] - 1)
        model, args, plate_batch = regression_subsampling_itself, (X, y, batch_size), None
    else:
        model, args, plate_batch = regression, (X, y), batch_size
    key = jax.random.key(0)
    named = potential._named_arguments(model, args, {})
    model_trace, _ = potential._trace(model, key, args, {})
    plates = potential.find_minibatch_plates(model_trace, plate_batch)
    assert plates == {"data": potential.MinibatchPlate(X.shape[0], batch_size)}
    potential._check_subsampled_sites(model, key, args, {}, plates, named)
    potential._check_finite_data(named)


@pytest.mark.parametrize("path", ["model", "potential_fn"])
def test_integer_init_params_are_named(path):
    X, y = (jnp.asarray(a) for a in make_data(*FIXED_SIZE, seed=0))
    if path == "model":
        kernel, args = PseudoLangevin(regression, batch_size=10, **FAST), (X, y)
    else:
        kernel, args = PseudoLangevin(potential_fn=quadratic, **FAST), ()
    mcmc = MCMC(kernel, num_warmup=2, num_samples=2, progress_bar=False)
    with pytest.raises(TypeError, match="`init_params`"):
        mcmc.run(jax.random.key(0), *args, init_params={"w": jnp.zeros(3, jnp.int32)})
