"""Fingerprint the floating-point kernels the chapters rely on, to compare CPUs.

Strict nbval needs every stored output to reproduce bit for bit. The Makefile's
PINNED_NUMERICS settings pin torch, MKL, oneDNN, numpy and OpenBLAS to code
paths that should give the same bits on any x86-64 CPU, but a few chapter
cells still differ between CPU kinds. This script hashes the result of each
kernel those cells use; run it, under the same settings, on two machines and
compare, to find the kernel whose bits depend on the CPU::

    make fingerprint                               # prints this machine's hashes
    make fingerprint COMPARE=scripts/numerics_fingerprint.json

``scripts/numerics_fingerprint.json`` holds the hashes of the machine that
last executed the chapters.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def digest(*arrays: object) -> str:
    """The first 12 hex digits of the md5 of the arrays' bytes."""
    h = hashlib.md5()
    for a in arrays:
        t = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        h.update(np.ascontiguousarray(t).tobytes())
    return h.hexdigest()[:12]


def _backward(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> str:
    x = x.clone().requires_grad_(True)
    y = f(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    return digest(y, grad)


def kernels() -> dict[str, Callable[[], str]]:
    """Name -> a zero-argument function returning the hash of one kernel."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(257, 513, generator=g), torch.randn(513, 129, generator=g)
    small = torch.randn(25, 40, generator=g)
    w = torch.randn(40, 40, generator=g)
    images = torch.randn(8, 1, 28, 28, generator=g)
    labels = torch.randint(0, 5, (25,), generator=g)
    rng = np.random.default_rng(0)
    m = rng.normal(size=(64, 64))
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 32, 3, padding=1)

    def adam() -> str:
        p = nn.Parameter(small.clone())
        opt = torch.optim.Adam([p], lr=1e-3)
        for _ in range(3):
            opt.zero_grad()
            (p.tanh() @ w).square().mean().backward()
            opt.step()
        return digest(p)

    def vmap_grad() -> str:
        def loss(x: torch.Tensor) -> torch.Tensor:
            return (torch.relu(x @ w) @ w.T).square().mean()

        return digest(torch.func.vmap(torch.func.grad(loss))(small))

    return {
        "randn": lambda: digest(torch.randn(1000, generator=torch.Generator())),
        "matmul large": lambda: digest(a @ b),
        "matmul small": lambda: digest(small @ w),
        "linear backward": lambda: _backward(lambda x: F.linear(x, w), small),
        "conv2d": lambda: digest(conv(images)),
        "conv2d backward": lambda: _backward(conv, images),
        "max_pool2d": lambda: digest(F.max_pool2d(conv(images), 2)),
        "relu backward": lambda: _backward(torch.relu, small),
        "tanh": lambda: digest(torch.tanh(a)),
        "sigmoid": lambda: digest(torch.sigmoid(a)),
        "exp": lambda: digest(torch.exp(a)),
        "log": lambda: digest(torch.log(a.abs() + 1)),
        "sin": lambda: digest(torch.sin(a)),
        "sum": lambda: digest(a.sum(0), a.sum()),
        "softmax": lambda: digest(torch.softmax(a, dim=1)),
        "cross_entropy backward": lambda: _backward(
            lambda x: F.cross_entropy(x[:, :5], labels, reduction="none"), small
        ),
        "mse backward": lambda: _backward(lambda x: F.mse_loss(x, w[:25]), small),
        "adam, 3 steps": adam,
        "vmap(grad)": vmap_grad,
        "numpy matmul": lambda: digest(m @ m),
        "numpy exp, sin": lambda: digest(np.exp(m), np.sin(m)),
        "numpy sum": lambda: digest(m.sum(0), m.sum()),
    }


def fingerprint() -> dict[str, object]:
    """This machine's hashes, with what describes the machine."""
    torch.set_num_threads(1)
    return {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpu": _cpu_model(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "hashes": {name: run() for name, run in kernels().items()},
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, help="a stored fingerprint JSON")
    parser.add_argument("--write", type=Path, help="store this machine's fingerprint")
    args = parser.parse_args()
    mine = fingerprint()
    if args.write:
        args.write.write_text(json.dumps(mine, indent=1) + "\n")
    if not args.compare:
        print(json.dumps(mine, indent=1))
        return 0
    theirs = json.loads(args.compare.read_text())
    differ = [k for k, v in mine["hashes"].items() if theirs["hashes"].get(k) != v]
    print(f"this machine: {mine['machine']['cpu']}")
    print(f"stored:       {theirs['machine']['cpu']}")
    for name in mine["hashes"]:
        print(f"  {'DIFFERS' if name in differ else 'same   '}  {name}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
