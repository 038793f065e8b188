"""Dense and MLP: hand-written backprop equals torch autograd; init statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mtlbook.scratch
from mtlbook.scratch.layers import MLP, Dense, init_weights

# The same activations in torch, to differentiate with autograd.
TORCH_ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
    "elu": torch.nn.functional.elu,
    "gelu": torch.nn.functional.gelu,
    "softplus": torch.nn.functional.softplus,
}
ARCHITECTURES = [[3, 1], [4, 8, 2], [5, 7, 6, 3], [2, 16, 16, 16, 1]]


def assert_rel_close(actual: np.ndarray, expected: np.ndarray, rel: float) -> None:
    """max |actual - expected| <= rel * max |expected| (max-norm relative error)."""
    expected = np.asarray(expected)
    err = np.max(np.abs(np.asarray(actual) - expected))
    assert err <= rel * max(np.max(np.abs(expected)), 1e-300), err


def torch_mlp_grads(
    mlp: MLP, x: np.ndarray, grad_out: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Output, parameter gradients and input gradient of sum(mlp(x) * grad_out)."""
    act = TORCH_ACTIVATIONS[mlp.activation]
    params = [torch.tensor(p, requires_grad=True) for p in mlp.parameters()]
    xt = torch.tensor(x, requires_grad=True)
    h = xt
    for k in range(0, len(params), 2):
        h = h @ params[k] + params[k + 1]
        if k + 2 < len(params):
            h = act(h)
    (h * torch.tensor(grad_out)).sum().backward()
    return h.detach().numpy(), [p.grad.numpy() for p in params], xt.grad.numpy()


@pytest.mark.parametrize("activation", sorted(TORCH_ACTIVATIONS))
@pytest.mark.parametrize("sizes", ARCHITECTURES, ids=str)
@pytest.mark.parametrize("batch", [1, 9])
def test_mlp_backward_equals_torch_autograd(activation, sizes, batch):
    """Every parameter and input gradient equals autograd to 1e-8 relative (f64)."""
    rng = np.random.default_rng(len(sizes) * 100 + batch)
    mlp = MLP(sizes, activation=activation, rng=rng)
    for layer in mlp.layers:  # non-zero biases, so their gradients matter
        layer.b[:] = rng.normal(size=layer.b.shape)
    x = rng.normal(size=(batch, sizes[0]))
    grad_out = rng.normal(size=(batch, sizes[-1]))

    out = mlp.forward(x)
    grad_x = mlp.backward(grad_out)
    ref_out, ref_grads, ref_grad_x = torch_mlp_grads(mlp, x, grad_out)

    assert_rel_close(out, ref_out, 1e-12)
    assert_rel_close(grad_x, ref_grad_x, 1e-8)
    assert len(mlp.gradients()) == len(ref_grads) == 2 * (len(sizes) - 1)
    for g, ref in zip(mlp.gradients(), ref_grads, strict=True):
        assert g.shape == ref.shape
        assert_rel_close(g, ref, 1e-8)


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 6),
    n_in=st.integers(1, 6),
    n_out=st.integers(1, 6),
    scale=st.sampled_from([1e-6, 1.0, 1e3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_dense_backward_equals_torch_autograd(batch, n_in, n_out, scale, seed):
    """grad_W = xᵀ g, grad_b = Σ g, grad_x = g Wᵀ match autograd at any scale."""
    rng = np.random.default_rng(seed)
    layer = Dense(n_in, n_out, rng=rng, init="xavier")
    layer.b[:] = rng.normal(size=n_out)
    x = scale * rng.normal(size=(batch, n_in))
    g = rng.normal(size=(batch, n_out))

    y = layer.forward(x)
    grad_x = layer.backward(g)

    W = torch.tensor(layer.W, requires_grad=True)
    b = torch.tensor(layer.b, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yt = xt @ W + b
    (yt * torch.tensor(g)).sum().backward()
    assert_rel_close(y, yt.detach().numpy(), 1e-12)
    assert_rel_close(grad_x, xt.grad.numpy(), 1e-12)
    assert_rel_close(layer.grad_W, W.grad.numpy(), 1e-12)
    assert_rel_close(layer.grad_b, b.grad.numpy(), 1e-12)


def test_mlp_caches_pre_activations_and_activations():
    """forward stores z_l and h_l = f(z_l) for each hidden layer, shape (batch, n_l)."""
    rng = np.random.default_rng(0)
    mlp = MLP([3, 5, 4, 2], activation="tanh", rng=rng)
    mlp.forward(rng.normal(size=(7, 3)))
    assert [z.shape for z in mlp.pre_activations] == [(7, 5), (7, 4)]
    for z, h in zip(mlp.pre_activations, mlp.activations, strict=True):
        np.testing.assert_array_equal(h, np.tanh(z))


def test_parameters_are_the_live_arrays():
    """Changing parameters() in place changes the model's output."""
    rng = np.random.default_rng(1)
    mlp = MLP([2, 3, 1], rng=rng)
    x = rng.normal(size=(4, 2))
    before = mlp.forward(x)
    for p in mlp.parameters():
        p += 0.5
    assert mlp.parameters()[0] is mlp.layers[0].W
    assert not np.allclose(mlp.forward(x), before)


def test_mlp_default_init_follows_activation():
    """init=None gives He weights for ReLU and Xavier weights for tanh."""
    for activation, scheme in [("relu", "he"), ("tanh", "xavier")]:
        mlp = MLP([30, 20], activation=activation, rng=np.random.default_rng(5))
        expected = init_weights(30, 20, scheme=scheme, rng=np.random.default_rng(5))
        np.testing.assert_array_equal(mlp.layers[0].W, expected)


@pytest.mark.parametrize(
    ("scheme", "fan_in", "fan_out", "variance"),
    [
        ("xavier", 400, 600, 2 / (400 + 600)),
        ("xavier", 800, 300, 2 / (800 + 300)),
        ("he", 400, 600, 2 / 400),
        ("he", 800, 300, 2 / 800),
    ],
)
def test_init_variance(scheme, fan_in, fan_out, variance):
    """Over >= 240k weights the sample variance is within 2% of the target, mean ~0."""
    w = init_weights(fan_in, fan_out, scheme=scheme, rng=np.random.default_rng(42))
    assert w.shape == (fan_in, fan_out)
    assert abs(w.var() / variance - 1) < 0.02
    assert abs(w.mean()) < 0.01 * np.sqrt(variance)
    if scheme == "xavier":  # uniform: bounded by sqrt(3 * variance)
        assert np.abs(w).max() <= np.sqrt(3 * variance)


def test_init_is_reproducible_from_the_generator():
    a = init_weights(5, 4, scheme="he", rng=np.random.default_rng(3))
    b = init_weights(5, 4, scheme="he", rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda rng: MLP([3], rng=rng), "at least 2 entries"),
        (lambda rng: MLP([], rng=rng), "at least 2 entries"),
        (lambda rng: MLP([3, 0, 1], rng=rng), r"sizes\[1\]=0"),
        (lambda rng: MLP([3, 1], init="glorot", rng=rng), "unknown init scheme"),
        (lambda rng: MLP([3, 1], activation="swish", rng=rng), "swish"),
        (lambda rng: init_weights(3, 2, scheme="lecun", rng=rng), "'xavier'"),
    ],
)
def test_bad_construction_raises_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make(np.random.default_rng(0))


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="default_rng"):
        Dense(2, 3, rng=0)


def test_bad_forward_and_backward_inputs_raise():
    rng = np.random.default_rng(0)
    mlp = MLP([3, 4, 2], rng=rng)
    with pytest.raises(RuntimeError, match="before forward"):
        mlp.backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        Dense(3, 2, rng=rng).backward(np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"x\[None, :\]"):
        mlp.forward(np.ones(3))  # a single sample without the batch axis
    with pytest.raises(ValueError, match="expects 3 columns"):
        mlp.forward(np.ones((5, 4)))
    with pytest.raises(ValueError, match="NaN"):
        mlp.forward(np.array([[0.0, np.nan, 1.0]]))
    mlp.forward(np.ones((5, 3)))
    with pytest.raises(ValueError, match="grad_out has shape"):
        mlp.backward(np.ones((5, 3)))
    with pytest.raises(ValueError, match="batch size 4"):
        mlp.backward(np.ones((4, 2)))
    with pytest.raises(ValueError, match="grad_out has shape"):
        mlp.backward(np.ones(10))


def test_package_reexports_every_public_name():
    """Each name in mtlbook.scratch.__all__ resolves to its module's object."""
    for name in mtlbook.scratch.__all__:
        assert getattr(mtlbook.scratch, name) is not None
    assert mtlbook.scratch.MLP is MLP


@pytest.mark.parametrize(("scheme", "per_layer"), [("he", 1.0), ("xavier", 0.5)])
def test_relu_stack_keeps_signal_under_he_and_halves_it_under_xavier(scheme, per_layer):
    """Variance preservation (E[z²] = n σ² E[h²], E[relu(z)²] = E[z²] / 2): through 30
    ReLU layers of equal width, He keeps E[z²] and Xavier halves it at every layer."""
    rng = np.random.default_rng(0)
    width, depth = 512, 30
    h = rng.normal(size=(256, width))
    sq = []
    for _ in range(depth):
        z = h @ init_weights(width, width, scheme=scheme, rng=rng)
        sq.append(np.mean(z**2))
        h = np.maximum(z, 0.0)
    factor = (sq[-1] / sq[0]) ** (1 / (depth - 1))  # geometric mean per layer
    assert factor == pytest.approx(per_layer, rel=0.08)  # one draw: a few % spread
    assert sq[0] == pytest.approx({"he": 2.0, "xavier": 1.0}[scheme], rel=0.05)
