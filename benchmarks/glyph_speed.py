"""How fast the glyph dataset is made and loaded, on one CPU core.

Writes ``benchmarks/results/glyph_speed.json``; the datasets page renders it.
Run from the repository root: ``.venv/bin/python benchmarks/glyph_speed.py``.
Each figure is the median of a few repeats; the cache lives in a temporary
folder, so the user's cache is neither used nor touched.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # one core: set before numpy (imported in main) starts

REPEATS = 3
N_PER_CLASS = 20
SIZE = 28
RESULT = Path(__file__).parent / "results" / "glyph_speed.json"


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MTLBOOK_CACHE"] = tmp
        from mtlbook.data.glyphs import catalogue, generate_glyphs, load_glyphs
        from mtlbook.data.glyphs.catalogue import build_catalogue
        from mtlbook.data.glyphs.store import versions

        catalogue_s = [timed(build_catalogue)[0] for _ in range(REPEATS)]
        catalogue()  # build once more and write the cached catalogue
        generate_s = []
        for _ in range(REPEATS):
            seconds, glyphs = timed(
                lambda: generate_glyphs(n_per_class=N_PER_CLASS, size=SIZE, seed=0)
            )
            generate_s.append(seconds)
        cold_s = timed(lambda: load_glyphs(n_per_class=N_PER_CLASS, size=SIZE))[0]
        cached_s = []
        for _ in range(5):
            catalogue.cache_clear()  # read the catalogue from disk too
            cached_s.append(
                timed(lambda: load_glyphs(n_per_class=N_PER_CLASS, size=SIZE))[0]
            )
        files = sorted(Path(tmp).glob("glyphs-*.npz"))
        cache_mb = sum(f.stat().st_size for f in files) / 2**20
    result = {
        "n_classes": len(glyphs.class_chars),
        "n_per_class": N_PER_CLASS,
        "n_images": len(glyphs),
        "size": SIZE,
        "images_mb": glyphs.images.nbytes / 2**20,
        "cache_file_mb": cache_mb,
        "repeats": REPEATS,
        "catalogue_build_s": statistics.median(catalogue_s),
        "generate_s": statistics.median(generate_s),
        "generate_all_s": generate_s,
        "first_load_s": cold_s,
        "cached_load_s": statistics.median(cached_s),
        "cached_load_all_s": cached_s,
        "cores": 1,
        "cpu": platform.processor() or platform.machine(),
        "versions": versions(),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
