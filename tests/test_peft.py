"""LoRA, BitFit and adapters: exact at the start, exact when merged, counted.

Facts a reader relies on: wrapping a pretrained network changes nothing
until training starts (0 difference, not "close"); merging LoRA's update
into the weights gives the same function; only the method's own parameters
receive gradients, and LoRA's gradients are the chain rule through the
merged weight; the trainable counts are the closed forms of the papers.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtlbook.transfer import count_parameters, make_mlp
from mtlbook.transfer.peft import (
    Adapter,
    LoRALinear,
    add_adapters,
    add_lora,
    bitfit,
    merge_lora,
)

SIZES = (20, 16, 12, 5)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pretrained(dtype: torch.dtype = torch.float64) -> nn.Sequential:
    return make_mlp(SIZES, gen()).to(dtype)


def hard_inputs(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Rows of wildly different norms, a zero row and a constant row."""
    x = torch.randn(7, SIZES[0], generator=gen(1), dtype=dtype)
    x[0] *= 1e6
    x[1] *= 1e-6
    x[2] = 0.0
    x[3] = -x[4]
    x[5] = 3.0
    return x


def randomize_lora(model: nn.Module, seed: int = 2) -> None:
    """Give every B a non-zero value, as training would."""
    g = gen(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.copy_(torch.randn(m.lora_B.shape, generator=g))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "wrap",
    [
        lambda m: add_lora(m, 3, generator=gen(5)),
        lambda m: add_lora(m, 1, generator=gen(5), alpha=16.0),
        lambda m: add_adapters(m, 4, generator=gen(5)),
        bitfit,
    ],
    ids=["lora-r3", "lora-r1-alpha16", "adapters", "bitfit"],
)
def test_wrapped_network_computes_exactly_the_pretrained_function(wrap, dtype):
    model = pretrained(dtype)
    x = hard_inputs(dtype)
    assert torch.equal(wrap(model)(x), model(x))


def test_merged_lora_equals_the_unmerged_network_in_float64():
    model = add_lora(pretrained(), 3, generator=gen(5), alpha=6.0)
    randomize_lora(model)
    x = hard_inputs()
    x[0] /= 1e6  # keep the scale where 1e-12 relative means something
    merged = merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    torch.testing.assert_close(merged(x), model(x), rtol=1e-12, atol=1e-12)


def test_merged_weight_is_w_plus_alpha_over_r_times_ba_in_numpy():
    model = add_lora(pretrained(), 2, generator=gen(5), alpha=5.0)
    randomize_lora(model)
    layer = model[0]
    merged = merge_lora(model)[0]
    w = layer.base.weight.detach().numpy()
    a, b = layer.lora_A.detach().numpy(), layer.lora_B.detach().numpy()
    np.testing.assert_allclose(
        merged.weight.detach().numpy(), w + 5.0 / 2 * b @ a, rtol=0, atol=1e-14
    )
    assert torch.equal(merged.bias, layer.base.bias)


def test_only_the_low_rank_factors_and_the_head_receive_gradients():
    backbone = add_lora(pretrained()[:-1], 2, generator=gen(5))
    head = nn.Linear(SIZES[-2], 3, dtype=torch.float64)
    F.cross_entropy(head(backbone(hard_inputs())), torch.arange(7) % 3).backward()
    for name, p in backbone.named_parameters():
        if "lora_" in name:
            assert p.grad is not None, name
        else:
            assert p.grad is None and not p.requires_grad, name
    assert all(p.grad is not None for p in head.parameters())


def test_lora_gradients_are_the_chain_rule_through_the_merged_weight():
    # h = (W + s B A) x: dL/dB = s G Aᵀ and dL/dA = s Bᵀ G with G = dL/dW
    model = add_lora(pretrained(), 3, generator=gen(5), alpha=4.5)
    randomize_lora(model)
    x, y = hard_inputs(), torch.arange(7) % SIZES[-1]
    x[0] /= 1e6
    F.cross_entropy(model(x), y).backward()
    merged = merge_lora(model).requires_grad_(True)
    F.cross_entropy(merged(x), y).backward()
    for index in (0, 2, 4):
        layer, g = model[index], merged[index].weight.grad
        a, b, s = layer.lora_A.detach(), layer.lora_B.detach(), layer.scale
        torch.testing.assert_close(layer.lora_B.grad, s * g @ a.T, rtol=1e-10, atol=0)
        torch.testing.assert_close(layer.lora_A.grad, s * b.T @ g, rtol=1e-10, atol=0)


def test_at_the_start_only_b_moves_a_has_zero_gradient():
    # B = 0 makes dL/dA = s Bᵀ G exactly zero on the first step
    model = add_lora(pretrained(), 2, generator=gen(5))
    F.cross_entropy(model(hard_inputs()), torch.arange(7) % 5).backward()
    for index in (0, 2, 4):
        assert torch.count_nonzero(model[index].lora_A.grad) == 0
        assert torch.count_nonzero(model[index].lora_B.grad) > 0


def shapes() -> list[tuple[int, int]]:
    return list(itertools.pairwise(SIZES))


@pytest.mark.parametrize("rank", [1, 2, 5])
def test_lora_trains_r_times_in_plus_out_per_layer(rank):
    wrapped = add_lora(pretrained(), rank, generator=gen(5))
    trainable, total = count_parameters(wrapped)
    assert trainable == sum(rank * (i + o) for i, o in shapes())
    assert total == trainable + count_parameters(pretrained())[1]


def test_bitfit_trains_one_number_per_output():
    assert count_parameters(bitfit(pretrained()))[0] == sum(o for _, o in shapes())


@pytest.mark.parametrize("m", [1, 4])
def test_adapters_train_2dm_plus_d_plus_m_per_layer(m):
    trainable, _ = count_parameters(add_adapters(pretrained(), m, generator=gen(5)))
    assert trainable == sum(2 * d * m + d + m for _, d in shapes())


def test_the_pretrained_network_is_left_untouched():
    model = pretrained()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for wrapped in (
        add_lora(model, 2, generator=gen(5)),
        add_adapters(model, 3, generator=gen(5)),
        bitfit(model),
    ):
        randomize_lora(wrapped)
        opt = torch.optim.SGD([p for p in wrapped.parameters() if p.requires_grad], 1.0)
        wrapped(hard_inputs()).pow(2).mean().backward()
        opt.step()
    assert all(p.requires_grad for p in model.parameters())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_no_draw_from_the_global_random_state():
    state = torch.get_rng_state()
    add_lora(pretrained(), 2, generator=gen(5))
    add_adapters(pretrained(), 2, generator=gen(5))
    Adapter(8, 2, generator=gen(5))
    assert torch.equal(torch.get_rng_state(), state)


def test_the_same_generator_seed_gives_the_same_factors():
    one = add_lora(pretrained(), 2, generator=gen(9))
    two = add_lora(pretrained(), 2, generator=gen(9))
    for p, q in zip(one.parameters(), two.parameters(), strict=True):
        assert torch.equal(p, q)


def test_lora_on_a_nested_model_wraps_every_linear():
    model = nn.Sequential(
        nn.Sequential(nn.Linear(6, 4), nn.ReLU()), nn.Linear(4, 2)
    ).double()
    wrapped = add_lora(model, 1, generator=gen(5))
    assert isinstance(wrapped[0][0], LoRALinear)
    assert isinstance(wrapped[1], LoRALinear)
    x = torch.randn(3, 6, generator=gen(3), dtype=torch.float64)
    assert torch.equal(wrapped(x), model(x))
