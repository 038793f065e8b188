"""Argument checks shared by every subpackage: one input contract.

Each check raises at the boundary, before any work is done:

* ``TypeError`` when the argument has the wrong type (a float where an int is
  needed, a numpy ``Generator`` where a ``torch.Generator`` is), and
* ``ValueError`` when the type is right but the value is not (a negative count,
  a NaN, an empty selection, a label out of range).

Every message starts with the argument as the user wrote it (``n_way=0``) and
ends with the fix. Checks that scan a tensor cost O(size), so they run once at
the entry point, never inside an inner loop.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Sized
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor, nn


def _show(name: str, value: object) -> str:
    """``name=value`` for short values, ``name`` (a type) for long ones."""
    text = repr(value)
    return f"{name}={text}" if len(text) <= 40 else f"{name} ({type(value).__name__})"


def check_int(
    name: str,
    value: object,
    *,
    low: int | None = None,
    high: int | None = None,
    example: int | None = None,
) -> int:
    """Return ``value`` as an int in [low, high]; bools and floats are refused."""
    hint = f", e.g. {name}={example}" if example is not None else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{_show(name, value)} must be an int, got {type(value).__name__}{hint}"
        )
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name}={value} must be at least {low}{hint}")
    if high is not None and value > high:
        raise ValueError(f"{name}={value} must be at most {high}{hint}")
    return value


def check_real(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    example: float | None = None,
) -> float:
    """Return ``value`` as a finite float in the interval; bools are refused.

    ``low_open``/``high_open`` exclude the end points, so
    ``check_real("lr", lr, low=0, low_open=True)`` asks for lr > 0.
    """
    hint = f", e.g. {name}={example}" if example is not None else ""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{_show(name, value)} must be a real number, got "
            f"{type(value).__name__}{hint}"
        )
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name}={value} must be finite{hint}")
    if low is not None and (value <= low if low_open else value < low):
        bound = ">" if low_open else ">="
        raise ValueError(f"{name}={value} must be {bound} {low}{hint}")
    if high is not None and (value >= high if high_open else value > high):
        bound = "<" if high_open else "<="
        raise ValueError(f"{name}={value} must be {bound} {high}{hint}")
    return value


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool (numpy bools too)."""
    if value is True or value is False:
        return value  # the common case, without the slower isinstance test
    if not isinstance(value, bool | np.bool_):
        raise TypeError(
            f"{_show(name, value)} must be True or False, got {type(value).__name__}"
        )
    return bool(value)


def check_choice(name: str, value: object, choices: Collection[object]) -> object:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{_show(name, value)} is not one of: {options}")
    return value


def check_nonempty(name: str, value: Sized, what: str = "items") -> None:
    """Raise if ``value`` is empty: an empty selection is a mistake, not data."""
    if len(value) == 0:
        raise ValueError(f"{name} is empty; pass at least one of the {what}")


def check_torch_generator(name: str, value: object) -> torch.Generator:
    """Return ``value`` if it is a ``torch.Generator``; None and numpy refused.

    The package never falls back to torch's global generator: every random
    draw takes an explicit generator, so a run is reproducible from its seed.
    """
    fix = f"pass {name}=torch.Generator().manual_seed(0)"
    if value is None:
        raise TypeError(
            f"{name}=None: an explicit torch.Generator is required so the run "
            f"is reproducible; {fix}"
        )
    if isinstance(value, np.random.Generator):
        raise TypeError(
            f"{name} is a numpy Generator, but this function draws with torch; {fix}"
        )
    if not isinstance(value, torch.Generator):
        raise TypeError(
            f"{name} must be a torch.Generator, got {type(value).__name__}; {fix}"
        )
    return value


def check_numpy_rng(name: str, value: object) -> np.random.Generator:
    """Return ``value`` if it is a numpy ``Generator``; None and torch refused."""
    fix = f"pass {name}=np.random.default_rng(0)"
    if value is None:
        raise TypeError(
            f"{name}=None: an explicit numpy Generator is required so the run "
            f"is reproducible; {fix}"
        )
    if isinstance(value, torch.Generator):
        raise TypeError(
            f"{name} is a torch.Generator, but this function draws with numpy; {fix}"
        )
    if not isinstance(value, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy Generator, got {type(value).__name__}; {fix}"
        )
    return value


def check_module(name: str, value: object) -> nn.Module:
    """Return ``value`` if it is an ``nn.Module``."""
    if not isinstance(value, nn.Module):
        raise TypeError(
            f"{name} must be a torch.nn.Module, got {type(value).__name__}; "
            "pass the model itself, not its parameters or its output"
        )
    return value


def check_optimizer(name: str, value: object) -> torch.optim.Optimizer:
    """Return ``value`` if it is a ``torch.optim.Optimizer``."""
    if not isinstance(value, torch.optim.Optimizer):
        raise TypeError(
            f"{name} must be a torch.optim.Optimizer, got {type(value).__name__}; "
            f"e.g. {name}=torch.optim.Adam(model.parameters(), lr=1e-3)"
        )
    return value


def check_tensor(
    name: str,
    value: object,
    *,
    ndim: int | tuple[int, ...] | None = None,
    floating: bool = False,
    finite: bool = False,
    nonempty: bool = False,
) -> Tensor:
    """Return ``value`` if it is a tensor with the stated rank and dtype kind.

    ``floating`` refuses integer and bool tensors and float16/bfloat16 (too
    coarse for the package's float32/float64 numerics); ``finite`` scans every
    entry for NaN and inf, so call it once at the boundary.
    """
    if not isinstance(value, Tensor):
        hint = "; convert with torch.as_tensor(...)" if _array_like(value) else ""
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(value).__name__}{hint}"
        )
    _check_rank(name, tuple(value.shape), ndim)
    if nonempty and value.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(value.shape)})")
    if floating:
        _check_float_dtype(name, value.dtype)
    if finite and value.is_floating_point() and not torch.isfinite(value).all():
        raise ValueError(
            f"{name} holds NaN or inf; check the data (or the step that produced it)"
        )
    return value


def check_array(
    name: str,
    value: object,
    *,
    ndim: int | tuple[int, ...] | None = None,
    finite: bool = True,
    nonempty: bool = True,
) -> np.ndarray:
    """Return ``value`` as a float64 numpy array with the stated rank, or raise."""
    if isinstance(value, Tensor):
        raise TypeError(
            f"{name} is a torch.Tensor, but this function works in numpy; "
            f"pass {name}.detach().cpu().numpy()"
        )
    if isinstance(value, str | bytes) or not _array_like(value):
        raise TypeError(
            f"{name} must be a numpy array (or a list of numbers), "
            f"got {type(value).__name__}"
        )
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    _check_rank(name, array.shape, ndim)
    if nonempty and array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if finite and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or inf; check the data")
    return array


def check_labels(name: str, labels: Tensor, n_classes: int) -> Tensor:
    """Class labels: an integer tensor with every entry in [0, n_classes)."""
    if not isinstance(labels, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(
            f"{name} must hold integer class ids, got {labels.dtype}; use {name}.long()"
        )
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes):
        low, high = int(labels.min()), int(labels.max())
        raise ValueError(
            f"{name} run from {low} to {high}, but the model has {n_classes} "
            f"classes (0 to {n_classes - 1}); remap the labels to 0..{n_classes - 1}"
        )
    return labels


def check_same_length(names: tuple[str, str], a: Sized, b: Sized) -> None:
    """Raise if two paired arguments (inputs and labels) differ in length."""
    tensors = isinstance(a, Tensor) and isinstance(b, Tensor) and a.ndim and b.ndim
    if tensors and a.shape[0] == b.shape[0]:  # type: ignore[attr-defined]
        return  # len() of a tensor is slow enough to show in a meta-step
    if len(a) != len(b):
        raise ValueError(
            f"{names[0]} has {len(a)} rows but {names[1]} has {len(b)}; "
            "pass one label per example"
        )


def check_scalar_loss(name: str, loss: object) -> Tensor:
    """A loss that is one number: a 0-d floating tensor (not reduction='none')."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"{name} must return a torch.Tensor, got {type(loss).__name__}")
    if loss.ndim != 0:
        raise ValueError(
            f"{name} must be a scalar, got shape {tuple(loss.shape)}; "
            "use reduction='mean' (not 'none') or call .mean()"
        )
    return loss


def check_finite_loss(loss: Tensor, step: int, hint: str = "") -> None:
    """Raise if a training loss is NaN or inf, naming the step and the usual causes.

    This reads one number (a device sync on a GPU), so call it once per step.
    """
    value = float(loss.detach())
    if not np.isfinite(value):
        cause = hint or (
            "the inputs hold NaN or inf, or the learning rate is too large"
        )
        raise ValueError(f"the loss is {value} at step {step}: {cause}")


def _array_like(value: object) -> bool:
    return isinstance(value, np.ndarray | list | tuple | numbers.Number)


def _check_rank(
    name: str, shape: tuple[int, ...], ndim: int | tuple[int, ...] | None
) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if len(shape) not in allowed:
        want = " or ".join(f"{n}-D" for n in allowed)
        raise ValueError(f"{name} must be {want}, got shape {shape}")


def _check_float_dtype(name: str, dtype: torch.dtype) -> None:
    if dtype in (torch.float32, torch.float64):
        return
    if dtype in (torch.float16, torch.bfloat16):
        raise TypeError(
            f"{name} is {dtype}; the package computes in float32 or float64, "
            f"so cast with {name}.float()"
        )
    fix = f"{name}.float() / 255" if dtype == torch.uint8 else f"{name}.float()"
    raise TypeError(f"{name} must be floating point, got {dtype}; use {fix}")


# --- appended for mtlbook.data ----------------------------------------------


_T = TypeVar("_T")


def check_instance(name: str, value: object, cls: type[_T], fix: str) -> _T:
    """Return ``value`` if it is a ``cls``; else a TypeError ending with ``fix``."""
    if not isinstance(value, cls):
        raise TypeError(
            f"{name} must be a {cls.__name__}, got {type(value).__name__}; {fix}"
        )
    return value


def check_int_array(
    name: str,
    value: object,
    *,
    high: int | None = None,
    unique: bool = False,
    example: str = "",
) -> np.ndarray:
    """Return ``value`` as a non-empty 1-D integer numpy array (dtype kept).

    For ids and labels: ``high`` asks every entry to lie in [0, high), and
    ``unique`` refuses repeated entries. A torch tensor is read as an array.
    """
    hint = f", e.g. {name}={example}" if example else ""
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, str | bytes) or not _array_like(value):
        raise TypeError(
            f"{name} must be a list or array of ints, got {type(value).__name__}{hint}"
        )
    array = np.asarray(value)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}{hint}")
    if array.size == 0:
        raise ValueError(f"{name} is empty; pass at least one id{hint}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold ints, got dtype {array.dtype}{hint}")
    if high is not None and (array.min() < 0 or array.max() >= high):
        raise ValueError(
            f"{name} must lie in [0, {high}), got values from {array.min()} to "
            f"{array.max()}{hint}"
        )
    if unique and len(np.unique(array)) != len(array):
        raise ValueError(f"{name} has repeated ids; pass each id once{hint}")
    return array


_COUNT_WORDS = {2: "two", 3: "three", 4: "four"}


def check_fractions(
    name: str,
    value: object,
    parts: tuple[str, ...],
    *,
    may_be_zero: tuple[str, ...] = (),
) -> np.ndarray:
    """Shares of a split, one per part: finite, summing to 1, each > 0.

    The parts named in ``may_be_zero`` may be 0 (an empty part). Returns
    (len(parts),) float64.
    """
    example = ", ".join(["0.6", "0.2", "0.2", "0.2"][: len(parts)])
    hint = f"e.g. {name}=({example})" if len(parts) == 3 else "summing to 1"
    count = _COUNT_WORDS.get(len(parts), str(len(parts)))
    rule = (
        f"{count} positive numbers"
        if not may_be_zero
        else f"{count} numbers, {' and '.join(may_be_zero)} >= 0 and the rest > 0"
    )
    want = f"{rule} ({', '.join(parts)}), {hint}"
    if isinstance(value, str | bytes) or not _array_like(value):
        raise TypeError(
            f"{_show(name, value)} must be {want}; got {type(value).__name__}"
        )
    frac = np.asarray(value)
    if frac.dtype.kind not in "iuf":
        raise TypeError(f"{_show(name, value)} must be {want}; got dtype {frac.dtype}")
    frac = frac.astype(np.float64)
    positive = np.array([p not in may_be_zero for p in parts])
    if (
        frac.shape != (len(parts),)
        or not np.isfinite(frac).all()
        or (frac < 0).any()
        or (frac[positive] <= 0).any()
    ):
        raise ValueError(f"{_show(name, value)} must be {want}")
    if abs(frac.sum() - 1.0) > 1e-9:
        raise ValueError(f"{name}={frac.tolist()} must sum to 1, {hint}")
    return frac


def check_torch_dtype(name: str, value: object) -> torch.dtype:
    """Return ``value`` if it is a floating ``torch.dtype`` (torch.float32, ...)."""
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise TypeError(
            f"{_show(name, value)} must be a floating torch dtype, "
            f"e.g. {name}=torch.float64"
        )
    return value


# --- appended for mtlbook.transfer, mtlbook.scratch, mtlbook.nb and plot -----


def check_callable(name: str, value: object, example: str = "") -> object:
    """Return ``value`` if it can be called (a function, a module, a partial)."""
    if not callable(value):
        hint = f", e.g. {name}={example}" if example else ""
        raise TypeError(
            f"{_show(name, value)} must be callable, got {type(value).__name__}{hint}"
        )
    return value


def check_not_tensor(name: str, value: object) -> None:
    """Refuse a torch tensor where a numpy array is expected (dtype is kept).

    For numpy code that keeps float32 as float32 and so cannot use
    ``check_array``, which converts to float64.
    """
    if isinstance(value, Tensor):
        raise TypeError(
            f"{name} is a torch.Tensor, but this function works in numpy; "
            f"pass {name}.detach().cpu().numpy()"
        )
