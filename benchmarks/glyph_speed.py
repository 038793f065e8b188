"""How fast the glyph dataset is made and loaded, on one CPU core.

Writes ``benchmarks/results/glyph_speed.json``; the datasets page renders it.
Run from the repository root::

    .venv/bin/python benchmarks/glyph_speed.py
    .venv/bin/python benchmarks/glyph_speed.py --smoke --out smoke.json
    .venv/bin/python benchmarks/glyph_speed.py --resume        # after a kill

Each figure is the median of a few repeats; the cache lives in a temporary
folder, so the user's cache is neither used nor touched. ``--smoke`` times a
dataset of 2 images per class, once each.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import (
    Bench,
    add_common_arguments,
    parse_arguments,
    pin_threads,
    write_json,
)

REPEATS = 3
CACHED_REPEATS = 5
N_PER_CLASS = 20
SIZE = 28
RESULT = Path(__file__).parent / "results" / "glyph_speed.json"
SMOKE = {"repeats": 1, "cached_repeats": 2, "n_per_class": 2}


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def time_catalogue(repeats: int) -> dict[str, Any]:
    """Build the catalogue ``repeats`` times, then once more to cache it."""
    from mtlbook.data.glyphs import catalogue
    from mtlbook.data.glyphs.catalogue import build_catalogue

    seconds = [timed(build_catalogue)[0] for _ in range(repeats)]
    catalogue()  # build once more and write the cached catalogue
    return {"catalogue_s": seconds}


def time_generate(repeats: int, n_per_class: int) -> dict[str, Any]:
    """Generate the dataset ``repeats`` times (no cache); its size."""
    from mtlbook.data.glyphs import generate_glyphs

    seconds = []
    for _ in range(repeats):
        s, glyphs = timed(
            lambda: generate_glyphs(n_per_class=n_per_class, size=SIZE, seed=0)
        )
        seconds.append(s)
    return {
        "generate_s": seconds,
        "n_classes": len(glyphs.class_chars),
        "n_images": len(glyphs),
        "images_mb": glyphs.images.nbytes / 2**20,
    }


def time_first_load(n_per_class: int) -> dict[str, Any]:
    """load_glyphs with an empty dataset cache (the catalogue is cached)."""
    from mtlbook.data.glyphs import catalogue, load_glyphs

    catalogue()  # as after time_catalogue, also in a resumed invocation

    def load() -> object:
        return load_glyphs(n_per_class=n_per_class, size=SIZE)

    return {"first_load_s": timed(load)[0]}


def time_cached_load(repeats: int, n_per_class: int, cache: Path) -> dict[str, Any]:
    """load_glyphs from the cache, catalogue read from disk too; cache size."""
    from mtlbook.data.glyphs import catalogue, load_glyphs

    if not list(cache.glob("glyphs-*.npz")):  # a resumed invocation: fill it
        load_glyphs(n_per_class=n_per_class, size=SIZE)
    seconds = []
    for _ in range(repeats):
        catalogue.cache_clear()  # read the catalogue from disk too
        seconds.append(
            timed(lambda: load_glyphs(n_per_class=n_per_class, size=SIZE))[0]
        )
    files = sorted(cache.glob("glyphs-*.npz"))
    return {
        "cached_load_s": seconds,
        "cache_file_mb": sum(f.stat().st_size for f in files) / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)  # before numpy (imported with mtlbook below) starts
    repeats = SMOKE["repeats"] if args.smoke else REPEATS
    cached_repeats = SMOKE["cached_repeats"] if args.smoke else CACHED_REPEATS
    n_per_class = SMOKE["n_per_class"] if args.smoke else N_PER_CLASS
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    bench = Bench("glyph_speed", args.out, resume=args.resume)
    bench.plan(
        {
            "catalogue": repeats,
            "generate": repeats,
            "first_load": 1,
            "cached_load": cached_repeats,
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MTLBOOK_CACHE"] = tmp  # before mtlbook is imported
        runs = {
            "catalogue": lambda: time_catalogue(repeats),
            "generate": lambda: time_generate(repeats, n_per_class),
            "first_load": lambda: time_first_load(n_per_class),
            "cached_load": lambda: time_cached_load(
                cached_repeats, n_per_class, Path(tmp)
            ),
        }
        for key in bench.todo():
            bench.finish(key, runs[key]())
        from mtlbook.data.glyphs.store import versions

        done = {k: v for run in bench.results().values() for k, v in run.items()}
    result = {
        "n_classes": done["n_classes"],
        "n_per_class": n_per_class,
        "n_images": done["n_images"],
        "size": SIZE,
        "images_mb": done["images_mb"],
        "cache_file_mb": done["cache_file_mb"],
        "repeats": repeats,
        "catalogue_build_s": statistics.median(done["catalogue_s"]),
        "generate_s": statistics.median(done["generate_s"]),
        "generate_all_s": done["generate_s"],
        "first_load_s": done["first_load_s"],
        "cached_load_s": statistics.median(done["cached_load_s"]),
        "cached_load_all_s": done["cached_load_s"],
        "cores": 1,
        "cpu": platform.processor() or platform.machine(),
        "versions": versions(),
    }
    if args.smoke:
        result["smoke"] = SMOKE
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
