"""Deliberately wrong calls into mtlbook.data: each fails at the boundary.

A reader who passes a float count, an empty selection, a numpy generator to a
torch function (or the reverse) or forgets a generator altogether gets an error
that names the argument and the fix, never empty data, a silently different
dataset or a message from deep inside numpy.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from misuse import Bad, params

from mtlbook.data import cache
from mtlbook.data.episodes import sample_episode
from mtlbook.data.glyph_attributes import glyph_attribute_tasks
from mtlbook.data.glyphs import (
    classes_of,
    generate_glyphs,
    load_glyphs,
    pairwise_rms,
    split_counts,
    standard_split,
)
from mtlbook.data.glyphs.render import render_fitted
from mtlbook.data.glyphs.torch_dataset import GlyphDataset
from mtlbook.data.mtl_toys import (
    gradnorm_tasks,
    mmoe_synthetic,
    pcgrad_toy_losses,
    two_objective_losses,
)
from mtlbook.data.multidigits import make_multidigits, overlay
from mtlbook.data.transfer_toys import make_linear_toy, rotated_moons, sample_linear_toy


@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    """Cache files (the catalogue) go to a private folder, never to ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MTLBOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@functools.cache
def glyphs():
    """Three instances of classes 0, 1 and 2: enough for every call below."""
    return generate_glyphs([0, 1, 2], n_per_class=3)


def rng():
    return np.random.default_rng(0)


def gen():
    return torch.Generator().manual_seed(0)


LABELS = np.repeat(np.arange(4), 5)
THETA = torch.zeros(2)


def episode(**kwargs):
    args = {"n_way": 2, "k_shot": 1, "q_queries": 1, "rng": rng()} | kwargs
    labels = args.pop("labels", LABELS)
    return sample_episode(labels, **args)


def gradnorm(**kwargs):
    args = {"n_tasks": 2, "sigmas": [1.0, 100.0], "n_train": 4, "n_test": 4}
    return gradnorm_tasks(**(args | {"generator": gen()} | kwargs))


def mmoe(**kwargs):
    return mmoe_synthetic(**({"n": 8, "correlation": 0.5, "generator": gen()} | kwargs))


def attributes(**kwargs):
    args = {"glyphs": glyphs(), "classes": [0, 1, 2], "rng": rng()} | kwargs
    return glyph_attribute_tasks(args.pop("glyphs"), args.pop("classes"), **args)


def moons(**kwargs):
    args = {"n_per_class": 10, "rotation_deg": 35.0, "rng": rng()} | kwargs
    return rotated_moons(args.pop("n_per_class"), **args)


def toy():
    return make_linear_toy(d=6, k=2, id_dim=3, rng=rng())


def digits(n: int = 2) -> np.ndarray:
    return np.zeros((n, 8, 8), np.float32)


CASES = [
    # --- generate_glyphs ------------------------------------------------------
    Bad("generate-n_per_class-float", lambda: generate_glyphs([0], n_per_class=2.0),
        TypeError, "n_per_class"),
    Bad("generate-n_per_class-zero", lambda: generate_glyphs([0], n_per_class=0),
        ValueError, "n_per_class"),
    Bad("generate-size-tiny", lambda: generate_glyphs([0], size=4),
        ValueError, "size"),
    Bad("generate-seed-negative", lambda: generate_glyphs([0], seed=-1),
        ValueError, "seed"),
    Bad("generate-seed-bool", lambda: generate_glyphs([0], seed=True),
        TypeError, "seed"),
    Bad("generate-classes-empty", lambda: generate_glyphs([]),
        ValueError, "classes"),
    Bad("generate-classes-float", lambda: generate_glyphs([0.5, 1.5]),
        TypeError, "classes"),
    Bad("generate-classes-string", lambda: generate_glyphs("Latin"),
        TypeError, "classes"),
    Bad("generate-classes-2d", lambda: generate_glyphs([[0, 1]]),
        ValueError, "classes"),
    Bad("generate-classes-negative", lambda: generate_glyphs([-1]),
        ValueError, "classes"),
    Bad("generate-classes-repeated", lambda: generate_glyphs([0, 0]),
        ValueError, "classes"),
    # --- load_glyphs ----------------------------------------------------------
    Bad("load-scripts-empty", lambda: load_glyphs(scripts=[]),
        ValueError, "scripts"),
    Bad("load-scripts-string", lambda: load_glyphs(scripts="Latin"),
        TypeError, "scripts"),
    Bad("load-scripts-ids", lambda: load_glyphs(scripts=[0]),
        TypeError, "scripts"),
    Bad("load-scripts-unknown", lambda: load_glyphs(scripts=["Elvish"]),
        ValueError, "scripts"),
    Bad("load-n_per_class-zero", lambda: load_glyphs(n_per_class=0),
        ValueError, "n_per_class"),
    Bad("load-n_per_class-float",
        lambda: load_glyphs(n_per_class=2.5, scripts=["Coptic"]),
        TypeError, "n_per_class"),
    Bad("load-size-string", lambda: load_glyphs(size="28", scripts=["Coptic"]),
        TypeError, "size"),
    # --- splits ---------------------------------------------------------------
    Bad("classes_of-empty", lambda: classes_of([]), ValueError, "scripts"),
    Bad("classes_of-none", lambda: classes_of(None), TypeError, "scripts"),
    Bad("classes_of-cat-string", lambda: classes_of(["Latin"], cat="Latin"),
        TypeError, "cat"),
    Bad("standard_split-cat-dict", lambda: standard_split(cat={}), TypeError, "cat"),
    Bad("split_counts-cat-int", lambda: split_counts(cat=5), TypeError, "cat"),
    # --- catalogue helpers ----------------------------------------------------
    Bad("pairwise_rms-2d", lambda: pairwise_rms(np.zeros((3, 4))),
        ValueError, "images"),
    Bad("pairwise_rms-empty", lambda: pairwise_rms(np.zeros((0, 28, 28))),
        ValueError, "images"),
    Bad("pairwise_rms-tensor", lambda: pairwise_rms(torch.zeros(2, 8, 8)),
        TypeError, "images"),
    Bad("render-face-out-of-range", lambda: render_fitted(99, "A", 28),
        ValueError, "face_index"),
    Bad("render-two-characters", lambda: render_fitted(0, "AB", 28),
        ValueError, "char"),
    Bad("render-size-zero", lambda: render_fitted(0, "A", 0), ValueError, "size"),
    # --- GlyphSet.subset and GlyphDataset -------------------------------------
    Bad("subset-empty", lambda: glyphs().subset([]), ValueError, "classes"),
    Bad("subset-names", lambda: glyphs().subset(["A"]), TypeError, "classes"),
    Bad("dataset-glyphs-array", lambda: GlyphDataset(np.zeros((3, 28, 28))),
        TypeError, "glyphs"),
    Bad("dataset-target-unknown", lambda: GlyphDataset(glyphs(), target="colour"),
        ValueError, "target"),
    Bad("dataset-target-empty", lambda: GlyphDataset(glyphs(), target=[]),
        ValueError, "target"),
    Bad("dataset-target-int", lambda: GlyphDataset(glyphs(), target=3),
        TypeError, "target"),
    Bad("dataset-classes-empty", lambda: GlyphDataset(glyphs(), classes=[]),
        ValueError, "classes"),
    Bad("dataset-classes-not-loaded", lambda: GlyphDataset(glyphs(), classes=[500]),
        ValueError, "classes"),
    # --- sample_episode -------------------------------------------------------
    Bad("episode-n_way-float", lambda: episode(n_way=2.0), TypeError, "n_way"),
    Bad("episode-k_shot-zero", lambda: episode(k_shot=0), ValueError, "k_shot"),
    Bad("episode-q_queries-bool", lambda: episode(q_queries=True),
        TypeError, "q_queries"),
    Bad("episode-rng-none", lambda: episode(rng=None), TypeError, "rng"),
    Bad("episode-rng-torch", lambda: episode(rng=gen()), TypeError, "rng"),
    Bad("episode-rng-seed", lambda: episode(rng=0), TypeError, "rng"),
    Bad("episode-labels-float", lambda: episode(labels=LABELS.astype(float)),
        TypeError, "labels"),
    Bad("episode-labels-empty", lambda: episode(labels=[]), ValueError, "labels"),
    Bad("episode-labels-2d", lambda: episode(labels=LABELS.reshape(4, 5)),
        ValueError, "labels"),
    Bad("episode-classes-empty", lambda: episode(classes=[]), ValueError, "classes"),
    Bad("episode-classes-float", lambda: episode(classes=[0.5, 1.5]),
        TypeError, "classes"),
    Bad("episode-classes-absent", lambda: episode(classes=[0, 9]),
        ValueError, "classes"),
    Bad("episode-too-many-ways", lambda: episode(n_way=5), ValueError, "n_way"),
    Bad("episode-too-few-items", lambda: episode(k_shot=3, q_queries=3),
        ValueError, "k_shot"),
    # --- mtl toys -------------------------------------------------------------
    Bad("two-objective-theta-list", lambda: two_objective_losses([0.0, 0.0]),
        TypeError, "theta"),
    Bad("two-objective-theta-int",
        lambda: two_objective_losses(torch.zeros(2, dtype=torch.int64)),
        TypeError, "theta"),
    Bad("two-objective-theta-shape", lambda: two_objective_losses(torch.zeros(3)),
        ValueError, "theta"),
    Bad("two-objective-theta-nan",
        lambda: two_objective_losses(torch.tensor([float("nan"), 0.0])),
        ValueError, "theta"),
    Bad("two-objective-scale-string", lambda: two_objective_losses(THETA, scale="1"),
        TypeError, "scale"),
    Bad("two-objective-scale-zero", lambda: two_objective_losses(THETA, scale=0.0),
        ValueError, "scale"),
    Bad("pcgrad-theta-numpy", lambda: pcgrad_toy_losses(np.zeros(2)),
        TypeError, "theta"),
    Bad("gradnorm-n_tasks-float", lambda: gradnorm(n_tasks=2.0), TypeError, "n_tasks"),
    Bad("gradnorm-sigmas-string", lambda: gradnorm(sigmas="1, 100"),
        TypeError, "sigmas"),
    Bad("gradnorm-sigmas-count", lambda: gradnorm(sigmas=[1.0]), ValueError, "sigmas"),
    Bad("gradnorm-generator-numpy", lambda: gradnorm(generator=rng()),
        TypeError, "generator"),
    Bad("gradnorm-generator-none", lambda: gradnorm(generator=None),
        TypeError, "generator"),
    Bad("gradnorm-dtype-int", lambda: gradnorm(dtype=torch.int64), TypeError, "dtype"),
    Bad("mmoe-correlation-string", lambda: mmoe(correlation="0.5"),
        TypeError, "correlation"),
    Bad("mmoe-correlation-above-one", lambda: mmoe(correlation=1.5),
        ValueError, "correlation"),
    Bad("mmoe-m-float", lambda: mmoe(m=2.5), TypeError, "m="),
    Bad("mmoe-noise_std-negative", lambda: mmoe(noise_std=-0.1),
        ValueError, "noise_std"),
    Bad("mmoe-generator-numpy", lambda: mmoe(generator=rng()), TypeError, "generator"),
    Bad("mmoe-dtype-string", lambda: mmoe(dtype="float32"), TypeError, "dtype"),
    Bad("mmoe-n-zero", lambda: mmoe(n=0), ValueError, "n="),
    # --- multidigits ----------------------------------------------------------
    Bad("multidigits-rng-none", lambda: make_multidigits(rng=None), TypeError, "rng"),
    Bad("multidigits-rng-torch", lambda: make_multidigits(rng=gen()), TypeError, "rng"),
    Bad("multidigits-fractions-string",
        lambda: make_multidigits(rng=rng(), fractions="0.6,0.2,0.2"),
        TypeError, "fractions"),
    Bad("multidigits-fractions-two",
        lambda: make_multidigits(rng=rng(), fractions=(0.8, 0.2)),
        ValueError, "fractions"),
    Bad("multidigits-fractions-sum",
        lambda: make_multidigits(rng=rng(), fractions=(0.6, 0.2, 0.3)),
        ValueError, "fractions"),
    Bad("multidigits-offset-zero", lambda: make_multidigits(rng=rng(), offset=0),
        ValueError, "offset"),
    Bad("multidigits-pairs-float",
        lambda: make_multidigits(rng=rng(), pairs_per_image=1.0),
        TypeError, "pairs_per_image"),
    Bad("overlay-lists", lambda: overlay([[[0.0]]], [[[0.0]]], offset=1),
        TypeError, "left"),
    Bad("overlay-offset-negative", lambda: overlay(digits(), digits(), offset=-1),
        ValueError, "offset"),
    Bad("overlay-offset-float", lambda: overlay(digits(), digits(), offset=1.5),
        TypeError, "offset"),
    # --- glyph attributes -----------------------------------------------------
    Bad("attributes-glyphs-array", lambda: attributes(glyphs=np.zeros((3, 28, 28))),
        TypeError, "glyphs"),
    Bad("attributes-rng-torch", lambda: attributes(rng=gen()), TypeError, "rng"),
    Bad("attributes-rng-none", lambda: attributes(rng=None), TypeError, "rng"),
    Bad("attributes-classes-empty", lambda: attributes(classes=[]),
        ValueError, "classes"),
    Bad("attributes-classes-float", lambda: attributes(classes=[0.0, 1.0]),
        TypeError, "classes"),
    Bad("attributes-fractions-zero-val",
        lambda: attributes(fractions=(0.8, 0.0, 0.2)), ValueError, "fractions"),
    Bad("attributes-fractions-string", lambda: attributes(fractions="60/20/20"),
        TypeError, "fractions"),
    Bad("attributes-rotation_bins-one", lambda: attributes(rotation_bins=1),
        ValueError, "rotation_bins"),
    Bad("attributes-rotation_bins-float", lambda: attributes(rotation_bins=3.0),
        TypeError, "rotation_bins"),
    # --- transfer toys --------------------------------------------------------
    Bad("moons-n_per_class-float", lambda: moons(n_per_class=10.0),
        TypeError, "n_per_class"),
    Bad("moons-n_per_class-zero", lambda: moons(n_per_class=0),
        ValueError, "n_per_class"),
    Bad("moons-rotation-string", lambda: moons(rotation_deg="35"),
        TypeError, "rotation_deg"),
    Bad("moons-noise-negative", lambda: moons(noise=-0.1), ValueError, "noise"),
    Bad("moons-rng-none", lambda: moons(rng=None), TypeError, "rng"),
    Bad("moons-rng-torch", lambda: moons(rng=gen()), TypeError, "rng"),
    Bad("linear-toy-d-float", lambda: make_linear_toy(d=50.0, rng=rng()),
        TypeError, "d="),
    Bad("linear-toy-k-above-d", lambda: make_linear_toy(d=4, k=5, rng=rng()),
        ValueError, "k="),
    Bad("linear-toy-init_noise-string",
        lambda: make_linear_toy(init_noise="0.02", rng=rng()),
        TypeError, "init_noise"),
    Bad("linear-toy-rng-torch", lambda: make_linear_toy(rng=gen()), TypeError, "rng"),
    Bad("sample-linear-toy-toy-dict",
        lambda: sample_linear_toy({}, 5, ood=False, rng=rng()), TypeError, "toy"),
    Bad("sample-linear-toy-n-float",
        lambda: sample_linear_toy(toy(), 5.0, ood=False, rng=rng()),
        TypeError, "n="),
    Bad("sample-linear-toy-ood-int",
        lambda: sample_linear_toy(toy(), 5, ood=1, rng=rng()), TypeError, "ood"),
    # --- cache ----------------------------------------------------------------
    Bad("cache_key-string", lambda: cache.cache_key("glyphs"), TypeError, "params"),
    Bad("cache_key-unserialisable", lambda: cache.cache_key({"rng": rng()}),
        TypeError, "params"),
    Bad("save_arrays-list",
        lambda: cache.save_arrays(cache.cache_dir() / "x.npz", [np.zeros(2)]),
        TypeError, "arrays"),
    Bad("save_arrays-empty", lambda: cache.save_arrays(cache.cache_dir() / "x.npz", {}),
        ValueError, "arrays"),
    Bad("save_arrays-objects",
        lambda: cache.save_arrays(
            cache.cache_dir() / "x.npz", {"x": np.array([{}], dtype=object)}
        ),
        TypeError, "arrays"),
    Bad("load_arrays-int-path", lambda: cache.load_arrays(3), TypeError, "path"),
]  # fmt: skip


@pytest.mark.parametrize("case", params(CASES))
def test_misuse(case):
    case.check()


def test_the_suite_is_large_and_its_ids_unique():
    ids = [case.id for case in CASES]
    assert len(ids) >= 45 and len(set(ids)) == len(ids)
