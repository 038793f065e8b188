"""The shared argument checks: the right exception type and a message to act on."""

import numpy as np
import pytest
import torch
from torch import nn

from mtlbook import _validate as v


def test_int_refuses_floats_and_bools_with_a_type_error():
    for bad in (2.0, True, "3", None):
        with pytest.raises(TypeError, match="k_shot"):
            v.check_int("k_shot", bad)
    assert v.check_int("k_shot", np.int64(3), low=1) == 3


def test_int_out_of_range_is_a_value_error_naming_the_bound():
    with pytest.raises(ValueError, match=r"n_way=0 must be at least 1, e.g. n_way=5"):
        v.check_int("n_way", 0, low=1, example=5)
    with pytest.raises(ValueError, match="at most 3"):
        v.check_int("depth", 4, high=3)


def test_real_checks_finiteness_and_open_bounds():
    assert v.check_real("lr", 0.1, low=0, low_open=True) == 0.1
    with pytest.raises(ValueError, match=r"lr=0.0 must be > 0"):
        v.check_real("lr", 0.0, low=0, low_open=True)
    with pytest.raises(ValueError, match="finite"):
        v.check_real("lr", float("nan"))
    with pytest.raises(TypeError, match="lr"):
        v.check_real("lr", "0.1")
    assert v.check_real("lr", torch.tensor(0.5)) == 0.5


def test_generators_are_explicit_and_of_the_right_library():
    with pytest.raises(TypeError, match=r"generator=None.*torch.Generator"):
        v.check_torch_generator("generator", None)
    with pytest.raises(TypeError, match="numpy Generator"):
        v.check_torch_generator("generator", np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"torch\.Generator, but"):
        v.check_numpy_rng("rng", torch.Generator())
    g = torch.Generator()
    assert v.check_torch_generator("generator", g) is g


def test_tensor_dtype_messages_say_the_cast():
    with pytest.raises(TypeError, match=r"x.float\(\) / 255"):
        v.check_tensor("x", torch.zeros(2, dtype=torch.uint8), floating=True)
    with pytest.raises(TypeError, match="float16"):
        v.check_tensor("x", torch.zeros(2, dtype=torch.float16), floating=True)
    with pytest.raises(TypeError, match=r"torch\.as_tensor"):
        v.check_tensor("x", np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        v.check_tensor("x", torch.tensor([0.0, float("nan")]), finite=True)
    with pytest.raises(ValueError, match="2-D"):
        v.check_tensor("x", torch.zeros(3), ndim=2)


def test_labels_out_of_range_say_how_to_remap():
    with pytest.raises(ValueError, match=r"run from 5 to 9.*remap"):
        v.check_labels("y", torch.arange(5, 10), n_classes=5)
    with pytest.raises(TypeError, match=r"y.long\(\)"):
        v.check_labels("y", torch.zeros(3), n_classes=5)


def test_array_refuses_tensors_strings_and_nan():
    with pytest.raises(TypeError, match="numpy"):
        v.check_array("x", torch.zeros(2))
    with pytest.raises(TypeError, match="x"):
        v.check_array("x", "abc")
    with pytest.raises(ValueError, match="NaN"):
        v.check_array("x", [1.0, np.nan])
    with pytest.raises(ValueError, match="empty"):
        v.check_array("x", [])


def test_module_optimizer_and_scalar_loss():
    with pytest.raises(TypeError, match=r"nn\.Module"):
        v.check_module("model", [nn.Linear(1, 1)])
    with pytest.raises(TypeError, match="Optimizer"):
        v.check_optimizer("optimizer", None)
    with pytest.raises(ValueError, match="reduction='mean'"):
        v.check_scalar_loss("loss_fn", torch.zeros(4))
    with pytest.raises(ValueError, match="at step 7"):
        v.check_finite_loss(torch.tensor(float("inf")), step=7)


def test_choice_and_nonempty():
    with pytest.raises(ValueError, match="'relu'"):
        v.check_choice("activation", "gelu", ("relu", "tanh"))
    with pytest.raises(ValueError, match="scripts is empty"):
        v.check_nonempty("scripts", [], "scripts")
