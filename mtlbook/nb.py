"""Notebook set-up: one call makes a chapter reproducible.

``setup_notebook(seed)`` is the first line of every chapter. It seeds every
random source, makes torch deterministic, fixes the thread count (the order of
floating-point reductions depends on it) and applies the book's print and
plot style, so that re-running a chapter prints exactly the stored outputs.
"""

from __future__ import annotations

import os
import random

import numpy as np


def setup_notebook(seed: int = 0, threads: int = 1) -> np.random.Generator:
    """Seed Python, numpy and torch; make torch deterministic; set styles.

    Args:
        seed: the chapter's seed (a non-negative integer).
        threads: CPU threads for torch and numpy's BLAS. One thread keeps
            reductions in a fixed order, so printed numbers match everywhere.

    Returns:
        A numpy ``Generator`` seeded with ``seed``; pass it on explicitly.
    """
    from mtlbook._validate import check_int

    # refused before any global state changes
    seed = check_int("seed", seed, low=0, example=0)
    threads = check_int("threads", threads, low=1, example=1)

    os.environ["PYTHONHASHSEED"] = str(seed)
    # cuBLAS needs this for deterministic results on a GPU; harmless on a CPU.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (third-party code may use the global state)
    np.set_printoptions(precision=4, suppress=True, linewidth=88)

    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    torch.set_printoptions(precision=4, sci_mode=False)
    # numpy's BLAS has its own thread pool; one thread keeps its sums in a fixed
    # order too, and avoids oversubscribing a laptop's cores.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)

    from mtlbook.plot import use_style

    use_style()
    _inline_png_only()
    return np.random.default_rng(seed)


def _inline_png_only() -> None:
    """Inside Jupyter, emit figures as PNG only (SVG text embeds random ids)."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # plain Python: nothing to configure
        return
    if get_ipython() is not None:
        set_matplotlib_formats("png")
