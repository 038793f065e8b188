"""Neurons: a leaky integrate-and-fire cell, the artificial neuron, the perceptron.

Units of the spiking model: time in ms, voltage in mV, current in nA and
resistance in MOhm, so that R * I is a voltage in mV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mtlbook._validate import (
    check_array,
    check_int,
    check_not_tensor,
    check_numpy_rng,
    check_real,
)
from mtlbook.scratch.activations import get_activation

# --------------------------------------------------------------------------
# Leaky integrate-and-fire (Lapicque 1907; Gerstner et al. 2014, ch. 1)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class LIFParams:
    """Parameters of a leaky integrate-and-fire neuron (a typical cortical cell).

    tau_m_ms: membrane time constant; r_mohm: membrane resistance;
    v_rest_mv, v_th_mv, v_reset_mv: resting, threshold and reset potentials;
    t_ref_ms: absolute refractory period.
    """

    tau_m_ms: float = 10.0
    r_mohm: float = 10.0
    v_rest_mv: float = -65.0
    v_th_mv: float = -50.0
    v_reset_mv: float = -65.0
    t_ref_ms: float = 2.0

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            check_real(f"LIFParams.{name}", value)
            if not math.isfinite(value):
                raise ValueError(f"LIFParams.{name}={value} must be a finite number")
        if self.tau_m_ms <= 0 or self.r_mohm <= 0:
            raise ValueError(
                f"tau_m_ms={self.tau_m_ms} and r_mohm={self.r_mohm} must be positive"
            )
        if self.t_ref_ms < 0:
            raise ValueError(f"t_ref_ms={self.t_ref_ms} must be >= 0")
        if not self.v_reset_mv < self.v_th_mv or not self.v_rest_mv < self.v_th_mv:
            raise ValueError(
                f"v_th_mv={self.v_th_mv} must lie above v_rest_mv={self.v_rest_mv} "
                f"and v_reset_mv={self.v_reset_mv}"
            )


@dataclass(frozen=True)
class LIFTrace:
    """A simulated membrane-potential trace.

    times_ms: (n_steps + 1,); v_mv: (n_steps + 1,); spike_times_ms: (n_spikes,).
    """

    times_ms: np.ndarray
    v_mv: np.ndarray
    spike_times_ms: np.ndarray


def _check_time_step(dt_ms: float, duration_ms: float, params: LIFParams) -> int:
    """Validate the time grid and return the number of Euler steps."""
    check_real("dt_ms", dt_ms, example=0.1)
    check_real("duration_ms", duration_ms, example=1000.0)
    if not math.isfinite(dt_ms) or dt_ms <= 0:
        raise ValueError(f"dt_ms={dt_ms} must be a positive number, e.g. dt_ms=0.1")
    if dt_ms > params.tau_m_ms:
        # Forward Euler is only accurate for dt much smaller than tau_m.
        raise ValueError(
            f"dt_ms={dt_ms} is larger than tau_m_ms={params.tau_m_ms}; "
            "use a step well below tau_m, e.g. dt_ms=0.1"
        )
    if not math.isfinite(duration_ms) or duration_ms < dt_ms:
        raise ValueError(
            f"duration_ms={duration_ms} must be finite and at least dt_ms={dt_ms}"
        )
    # The small slack absorbs rounding, e.g. 0.3 / 0.1 = 2.9999999999999996.
    return math.floor(duration_ms / dt_ms + 1e-9)


def simulate_lif(
    current: float | np.ndarray,
    *,
    dt_ms: float,
    duration_ms: float,
    params: LIFParams | None = None,
) -> LIFTrace:
    """Forward-Euler simulation of tau_m dV/dt = -(V - V_rest) + R I(t).

    current: a constant in nA, or (n_steps,) with the current of each step,
    where n_steps = floor(duration_ms / dt_ms). The cell starts at rest. When
    V reaches V_th a spike is recorded, V is reset to V_reset and held there
    for t_ref; the stored trace therefore never exceeds V_th.
    """
    params = _check_params(params)
    n_steps = _check_time_step(dt_ms, duration_ms, params)
    check_not_tensor("current", current)
    drive = np.asarray(current, dtype=float)
    if drive.ndim == 0:
        drive = np.full(n_steps, float(drive))
    if drive.shape != (n_steps,):
        raise ValueError(
            f"current has shape {drive.shape} but the grid has n_steps={n_steps} "
            "(floor(duration_ms / dt_ms)); pass a constant or one value per step"
        )
    if not np.all(np.isfinite(drive)):
        raise ValueError("current contains NaN or inf; pass finite values in nA")

    p = params
    decay = dt_ms / p.tau_m_ms
    ref_steps = round(p.t_ref_ms / dt_ms)
    v = np.empty(n_steps + 1)
    v[0] = p.v_rest_mv
    spikes: list[float] = []
    refractory_left = 0
    for k, i_k in enumerate(drive.tolist()):
        if refractory_left > 0:  # absolute refractory period: V is clamped
            refractory_left -= 1
            v[k + 1] = p.v_reset_mv
            continue
        v_next = v[k] + decay * (-(v[k] - p.v_rest_mv) + p.r_mohm * i_k)
        if v_next >= p.v_th_mv:  # spike: record it, reset, start refractoriness
            spikes.append((k + 1) * dt_ms)
            v_next = p.v_reset_mv
            refractory_left = ref_steps
        v[k + 1] = v_next
    times = dt_ms * np.arange(n_steps + 1)
    return LIFTrace(times_ms=times, v_mv=v, spike_times_ms=np.array(spikes))


def lif_rate(
    currents: float | np.ndarray,
    params: LIFParams | None = None,
    *,
    dt_ms: float = 0.1,
    duration_ms: float = 1000.0,
) -> np.ndarray:
    """Simulated steady firing rate in Hz for each constant input current.

    currents: (m,) in nA -> rates (m,). The rate is (k - 1) / (t_k - t_1) over
    the k spikes of the run (the inverse mean inter-spike interval), or
    k / duration when fewer than two spikes occur.
    """
    _check_params(params)
    amps = np.atleast_1d(check_array("currents", currents, nonempty=False))
    if amps.ndim != 1:
        raise ValueError(f"currents has shape {amps.shape}; expected (m,)")
    rates = np.empty(len(amps))
    for j, amp in enumerate(amps):
        spikes = simulate_lif(
            amp, dt_ms=dt_ms, duration_ms=duration_ms, params=params
        ).spike_times_ms
        if len(spikes) >= 2:
            rates[j] = 1000.0 * (len(spikes) - 1) / (spikes[-1] - spikes[0])
        else:
            rates[j] = 1000.0 * len(spikes) / duration_ms
    return rates


def lif_rate_theory(
    currents: float | np.ndarray, params: LIFParams | None = None
) -> np.ndarray:
    """Closed-form firing rate in Hz of the LIF neuron under constant current.

    currents: (m,) in nA -> rates (m,). Solving the membrane equation from
    V_reset to V_th gives r = 1 / (t_ref + tau_m ln((R I + V_rest - V_reset) /
    (R I + V_rest - V_th))) when R I > V_th - V_rest, and r = 0 otherwise;
    with V_reset = V_rest this is tau_m ln(R I / (R I - (V_th - V_rest))).
    """
    p = _check_params(params)
    check_not_tensor("currents", currents)
    amps = np.atleast_1d(np.asarray(currents, dtype=float))
    if amps.ndim != 1 or not np.all(np.isfinite(amps)):
        raise ValueError(f"currents must be finite with shape (m,), got {amps.shape}")
    drive = p.r_mohm * amps  # steady-state depolarisation R I in mV
    fires = drive > p.v_th_mv - p.v_rest_mv
    rates = np.zeros(len(amps))
    d = drive[fires]
    t_isi = p.t_ref_ms + p.tau_m_ms * np.log(
        (d + p.v_rest_mv - p.v_reset_mv) / (d + p.v_rest_mv - p.v_th_mv)
    )
    rates[fires] = 1000.0 / t_isi
    return rates


# --------------------------------------------------------------------------
# The artificial neuron (McCulloch & Pitts 1943, with a smooth activation)
# --------------------------------------------------------------------------


def artificial_neuron(
    x: np.ndarray, w: np.ndarray, b: float, activation: str = "sigmoid"
) -> np.ndarray:
    """Weighted sum plus bias, passed through an activation: f(x @ w + b).

    x: (batch, d); w: (d,); b: a scalar -> (batch,).
    """
    x = check_array("x", x, nonempty=False)
    w = check_array("w", w, nonempty=False)
    if x.ndim != 2:
        raise ValueError(f"x has shape {x.shape}; expected (batch, d)")
    if w.ndim != 1 or w.shape[0] != x.shape[1]:
        raise ValueError(
            f"w has shape {w.shape} but x has {x.shape[1]} features; "
            f"expected w of shape ({x.shape[1]},)"
        )
    if np.ndim(b) != 0 or not math.isfinite(float(b)):
        raise ValueError(f"b={b!r} must be a finite scalar")
    f, _ = get_activation(activation)
    return f(x @ w + float(b))


# --------------------------------------------------------------------------
# The perceptron learning rule (Rosenblatt 1958)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PerceptronResult:
    """A trained perceptron.

    w: (d,); b: the bias; mistakes_per_epoch: (epochs,) number of updates made
    in each pass over the data (one update per misclassified example).
    """

    w: np.ndarray
    b: float
    mistakes_per_epoch: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels in {-1, +1}: the sign of X @ w + b (0 counts as +1).

        X: (n, d) -> (n,).
        """
        check_not_tensor("X", X)
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.w.shape[0]:
            raise ValueError(f"X has shape {X.shape}; expected (n, {self.w.shape[0]})")
        return np.where(X @ self.w + self.b >= 0, 1, -1)


def train_perceptron(
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float = 1.0,
    rng: np.random.Generator,
) -> PerceptronResult:
    """Rosenblatt's rule: on a mistake y (w.x + b) <= 0, do w += lr y x, b += lr y.

    X: (n, d); y: (n,) with labels in {-1, +1}. Starts from w = 0, b = 0 and
    visits the examples in a fresh random order (drawn from rng) every epoch.
    """
    check_not_tensor("X", X)
    check_not_tensor("y", y)
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X has shape {X.shape}; expected (n, d) with n >= 1")
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"y has shape {y.shape} but X has {X.shape[0]} rows; "
            "give one label per row of X"
        )
    if not np.all(np.isin(y, (-1, 1))):
        raise ValueError(
            f"y has labels {np.unique(y)}; the perceptron needs labels in {{-1, +1}} "
            "(map 0/1 labels with y = 2 * y - 1)"
        )
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf")
    check_int("epochs", epochs, low=1, example=20)
    check_real("lr", lr, low=0, low_open=True, example=1.0)
    check_numpy_rng("rng", rng)

    y = y.astype(float)
    w = np.zeros(X.shape[1])
    b = 0.0
    mistakes = np.zeros(epochs, dtype=int)
    for epoch in range(epochs):
        for i in rng.permutation(len(X)):
            if y[i] * (X[i] @ w + b) <= 0:  # wrong side of (or on) the boundary
                w = w + lr * y[i] * X[i]
                b = b + lr * y[i]
                mistakes[epoch] += 1
    return PerceptronResult(w=w, b=float(b), mistakes_per_epoch=mistakes)


def _check_params(params: object) -> LIFParams:
    """The given LIFParams, or the defaults for None."""
    if params is None:
        return LIFParams()
    if not isinstance(params, LIFParams):
        raise TypeError(
            f"params must be a LIFParams, got {type(params).__name__}; "
            "e.g. params=LIFParams(tau_m_ms=20.0)"
        )
    return params
