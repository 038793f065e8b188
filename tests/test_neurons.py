"""Facts about the neuron models of chapter 01 (mtlbook.scratch.neurons)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.scratch.neurons import (
    LIFParams,
    artificial_neuron,
    lif_rate,
    lif_rate_theory,
    simulate_lif,
    train_perceptron,
)

P = LIFParams()
# Rheobase: the smallest constant current that makes the cell fire, (V_th - V_rest) / R.
RHEOBASE_NA = (P.v_th_mv - P.v_rest_mv) / P.r_mohm
# From just above rheobase (about 20 Hz) to a strong drive (about 280 Hz).
CURRENTS_NA = np.array([1.55, 1.6, 1.8, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0])


# ---------------------------------------------------------------- LIF neuron


def _max_relative_rate_error(dt_ms: float) -> float:
    sim = lif_rate(CURRENTS_NA, dt_ms=dt_ms, duration_ms=500.0)
    theory = lif_rate_theory(CURRENTS_NA)
    return float(np.max(np.abs(sim - theory) / theory))


def test_simulated_rate_matches_closed_form_for_small_dt():
    assert _max_relative_rate_error(dt_ms=0.01) < 0.01


def test_euler_rate_error_shrinks_with_dt():
    errors = [_max_relative_rate_error(dt) for dt in (0.4, 0.1, 0.025)]
    assert errors[0] > errors[1] > errors[2]
    # First-order method: a 16x smaller step gives at least a 4x smaller error.
    assert errors[2] < errors[0] / 4


def test_closed_form_is_zero_at_and_below_rheobase_and_positive_above():
    rates = lif_rate_theory([-1.0, 0.0, RHEOBASE_NA, RHEOBASE_NA * 1.001])
    assert np.all(rates[:3] == 0.0) and rates[3] > 0.0


def test_closed_form_rate_never_exceeds_one_over_refractory_period():
    rates = lif_rate_theory(np.geomspace(2.0, 1e6, 50))
    assert np.all(np.diff(rates) > 0) and rates.max() < 1000.0 / P.t_ref_ms


def test_membrane_charges_to_63_percent_in_one_time_constant():
    # Below threshold the solution is V_rest + R I (1 - exp(-t / tau_m)).
    trace = simulate_lif(1.0, dt_ms=0.001, duration_ms=P.tau_m_ms, params=P)
    expected = P.v_rest_mv + P.r_mohm * 1.0 * (1 - np.exp(-1.0))
    assert trace.v_mv[-1] == pytest.approx(expected, abs=1e-3)
    assert len(trace.spike_times_ms) == 0


@settings(max_examples=40, deadline=None)
@given(current=st.floats(-5.0, RHEOBASE_NA * (1 - 1e-9)))
def test_no_spike_below_rheobase(current):
    trace = simulate_lif(current, dt_ms=0.1, duration_ms=300.0)
    assert len(trace.spike_times_ms) == 0
    assert lif_rate(current, dt_ms=0.1, duration_ms=300.0)[0] == 0.0


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    mean_na=st.floats(0.0, 100.0),
    dt_ms=st.sampled_from([0.01, 0.05, 0.1, 0.5, 1.0]),
)
def test_interspike_interval_is_at_least_refractory_and_v_stays_below_threshold(
    seed, mean_na, dt_ms
):
    rng = np.random.default_rng(seed)
    duration_ms = 100.0
    n_steps = int(np.floor(duration_ms / dt_ms + 1e-9))
    current = mean_na * rng.uniform(0.0, 2.0, size=n_steps)  # a fluctuating drive
    trace = simulate_lif(current, dt_ms=dt_ms, duration_ms=duration_ms)
    assert trace.times_ms.shape == trace.v_mv.shape == (n_steps + 1,)
    assert np.all(np.diff(trace.spike_times_ms) >= P.t_ref_ms - 1e-9)
    assert np.all(trace.v_mv < P.v_th_mv)


def test_strong_drive_fires_at_the_refractory_limit():
    # With an enormous current every step after refractoriness is a spike.
    trace = simulate_lif(1e6, dt_ms=0.1, duration_ms=100.0)
    isi = np.diff(trace.spike_times_ms)
    np.testing.assert_allclose(isi, P.t_ref_ms + 0.1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dt_ms": -0.1, "duration_ms": 10.0}, "dt_ms"),
        ({"dt_ms": 0.0, "duration_ms": 10.0}, "dt_ms"),
        ({"dt_ms": 20.0, "duration_ms": 100.0}, "tau_m"),
        ({"dt_ms": 0.1, "duration_ms": 0.01}, "duration_ms"),
    ],
)
def test_bad_time_grid_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_lif(2.0, **kwargs)


def test_current_array_of_wrong_length_raises():
    with pytest.raises(ValueError, match="n_steps=100"):
        simulate_lif(np.ones(99), dt_ms=0.1, duration_ms=10.0)
    with pytest.raises(ValueError, match="NaN"):
        simulate_lif(np.full(100, np.nan), dt_ms=0.1, duration_ms=10.0)


def test_impossible_parameters_raise():
    with pytest.raises(ValueError, match="tau_m_ms"):
        LIFParams(tau_m_ms=-1.0)
    with pytest.raises(ValueError, match="v_th_mv"):
        LIFParams(v_th_mv=-70.0)
    with pytest.raises(ValueError, match="t_ref_ms"):
        LIFParams(t_ref_ms=-1.0)


# ---------------------------------------------------------- artificial neuron


@pytest.mark.parametrize(
    ("name", "torch_fn"),
    [("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("relu", torch.relu)],
)
def test_artificial_neuron_equals_torch(name, torch_fn):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(64, 5)), rng.normal(size=5), float(rng.normal())
    ours = artificial_neuron(x, w, b, activation=name)
    ref = torch_fn(torch.from_numpy(x) @ torch.from_numpy(w) + b).numpy()
    assert ours.shape == (64,)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


def test_artificial_neuron_bad_input_raises():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="w has shape"):
        artificial_neuron(x, np.ones(2), 0.0)
    with pytest.raises(ValueError, match="x has shape"):
        artificial_neuron(np.ones(3), np.ones(3), 0.0)
    with pytest.raises(ValueError, match="b="):
        artificial_neuron(x, np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="sigmoid"):  # the error lists valid names
        artificial_neuron(x, np.ones(3), 0.0, activation="sigmoidd")


# ----------------------------------------------------------------- perceptron


def _separable_set(rng, n=200, margin=0.1):
    """Points in [-1, 1]^2 labelled by a known line, with a gap around it."""
    w_star, b_star = np.array([1.5, -1.0]), 0.2
    X = rng.uniform(-1, 1, size=(4 * n, 2))
    scores = (X @ w_star + b_star) / np.linalg.norm([*w_star, b_star])
    keep = np.abs(scores) > margin
    X = X[keep][:n]
    return X, np.where(X @ w_star + b_star > 0, 1, -1), w_star, b_star


XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([-1, 1, 1, -1])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lr=st.sampled_from([0.01, 1.0, 7.0]))
def test_perceptron_converges_within_novikoff_bound(seed, lr):
    rng = np.random.default_rng(seed)
    X, y, w_star, b_star = _separable_set(rng)
    res = train_perceptron(X, y, epochs=60, lr=lr, rng=rng)
    # Novikoff (1962): at most (R / gamma)^2 updates, bias folded in as a feature 1.
    X1 = np.hstack([X, np.ones((len(X), 1))])
    u = np.array([*w_star, b_star]) / np.linalg.norm([*w_star, b_star])
    radius = np.max(np.linalg.norm(X1, axis=1))
    gamma = np.min(y * (X1 @ u))
    assert res.mistakes_per_epoch[-1] == 0
    assert res.mistakes_per_epoch.sum() <= (radius / gamma) ** 2
    np.testing.assert_array_equal(res.predict(X), y)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lr=st.sampled_from([0.1, 1.0]))
def test_perceptron_never_fits_xor(seed, lr):
    res = train_perceptron(
        XOR_X, XOR_Y, epochs=100, lr=lr, rng=np.random.default_rng(seed)
    )
    assert res.mistakes_per_epoch.shape == (100,)
    assert np.all(res.mistakes_per_epoch >= 1)


def test_perceptron_mistakes_do_not_depend_on_the_learning_rate():
    # From w = 0, b = 0 the weights are lr times a sum of y x, so signs never change.
    X, y, _, _ = _separable_set(np.random.default_rng(2))
    runs = [
        train_perceptron(X, y, epochs=5, lr=lr, rng=np.random.default_rng(4))
        for lr in (0.01, 1.0, 50.0)
    ]
    for run in runs[1:]:
        np.testing.assert_array_equal(
            run.mistakes_per_epoch, runs[0].mistakes_per_epoch
        )
    np.testing.assert_allclose(runs[1].w * 50.0, runs[2].w, rtol=1e-12)


def test_perceptron_is_reproducible_given_the_rng():
    X, y, _, _ = _separable_set(np.random.default_rng(1))
    a = train_perceptron(X, y, epochs=5, rng=np.random.default_rng(3))
    b = train_perceptron(X, y, epochs=5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.w, b.w)
    np.testing.assert_array_equal(a.mistakes_per_epoch, b.mistakes_per_epoch)


def test_perceptron_bad_input_raises():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"\{-1, \+1\}"):
        train_perceptron(XOR_X, np.array([0, 1, 1, 0]), epochs=1, rng=rng)
    with pytest.raises(ValueError, match="one label per row"):
        train_perceptron(XOR_X, XOR_Y[:3], epochs=1, rng=rng)
    with pytest.raises(ValueError, match="X has shape"):
        train_perceptron(XOR_X[0], XOR_Y, epochs=1, rng=rng)
    with pytest.raises(ValueError, match="epochs"):
        train_perceptron(XOR_X, XOR_Y, epochs=0, rng=rng)
    with pytest.raises(ValueError, match="lr"):
        train_perceptron(XOR_X, XOR_Y, epochs=1, lr=-1.0, rng=rng)
    with pytest.raises(TypeError, match="rng"):
        train_perceptron(XOR_X, XOR_Y, epochs=1, rng=0)
    res = train_perceptron(XOR_X, XOR_Y, epochs=1, rng=rng)
    with pytest.raises(ValueError, match="X has shape"):
        res.predict(np.ones((3, 4)))
