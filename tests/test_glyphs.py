"""Facts about the glyph dataset: determinism, distinct classes, clean splits."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import torch

from mtlbook.data import cache
from mtlbook.data.glyphs import (
    BACKGROUND_SCRIPTS,
    DISTINCT_RMS,
    EVALUATION_SCRIPTS,
    FACES,
    FAMILIES,
    catalogue,
    classes_of,
    generate_glyphs,
    load_glyphs,
    pairwise_rms,
    standard_split,
)
from mtlbook.data.glyphs.catalogue import NOTDEF_RMS, _notdef
from mtlbook.data.glyphs.fonts import REFERENCE_FACE
from mtlbook.data.glyphs.torch_dataset import GlyphDataset
from mtlbook.data.glyphs.variation import ROTATION_DEG


@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    """Every test writes its cache files to a private folder, never to ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MTLBOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def sample():
    """Two instances of every class: 2,244 images, about a second to draw."""
    return generate_glyphs(n_per_class=2, seed=0)


def some_classes(n: int = 12) -> np.ndarray:
    return np.linspace(0, len(catalogue()) - 1, n).astype(np.int64)


def test_catalogue_has_over_a_thousand_classes_in_ten_or_more_scripts():
    cat = catalogue()
    assert len(cat) >= 1000
    assert len(cat.scripts) >= 10
    assert np.all(np.bincount(cat.script) >= 10)


def test_catalogue_is_sorted_by_script_then_code_point():
    cat = catalogue()
    order = np.lexsort((cat.codepoints, cat.script))
    assert np.array_equal(order, np.arange(len(cat)))


def test_no_two_class_prototypes_are_closer_than_the_threshold():
    distances = pairwise_rms(catalogue().prototypes)
    np.fill_diagonal(distances, np.inf)
    assert distances.min() > DISTINCT_RMS


def test_cross_script_look_alikes_and_accented_letters_are_dropped():
    kept = set(catalogue().chars)
    assert {"A", "B", "O"} <= kept
    # Greek Alpha, Cyrillic A, Cyrillic O: same pixels as Latin A and O.
    assert not {"\u0391", "\u0410", "\u041e"} & kept
    assert not any(unicodedata.decomposition(c) for c in kept)


def test_no_class_is_drawn_as_the_missing_glyph_box():
    cat = catalogue()
    box = _notdef(REFERENCE_FACE)
    rms = np.sqrt(np.mean((cat.prototypes - box) ** 2, axis=(1, 2)))
    assert rms.min() > NOTDEF_RMS
    assert cat.faces[:, REFERENCE_FACE].all()


def test_same_seed_gives_the_same_bytes_another_seed_other_bytes():
    ids = some_classes()
    a = generate_glyphs(ids, n_per_class=3, seed=7)
    b = generate_glyphs(ids, n_per_class=3, seed=7)
    c = generate_glyphs(ids, n_per_class=3, seed=8)
    assert a.images.tobytes() == b.images.tobytes()
    assert a.labels.tobytes() == b.labels.tobytes()
    assert a.images.tobytes() != c.images.tobytes()


def test_an_instance_does_not_depend_on_what_else_is_generated():
    ids = some_classes()
    many = generate_glyphs(ids, n_per_class=4, seed=3)
    few = generate_glyphs(ids[::-1][:2], n_per_class=2, seed=3)
    for k, cls in enumerate(ids[::-1][:2]):
        rows = np.flatnonzero(many.labels["char"] == cls)[:2]
        assert np.array_equal(many.images[rows], few.images[2 * k : 2 * k + 2])


def test_no_image_is_empty_or_saturated(sample):
    inked = (sample.float_images() >= 0.5).mean(axis=(1, 2))
    assert inked.min() >= 0.01
    assert inked.max() <= 0.70
    # The glyph sits inside the canvas: the outer ring is mostly background.
    ring = np.concatenate(
        [sample.images[:, 0], sample.images[:, -1], sample.images[:, :, 0]], axis=1
    )
    assert (ring >= 128).mean() < 0.01


def test_labels_match_the_catalogue_and_the_face_drawn(sample):
    cat = catalogue()
    labels = sample.labels
    assert np.array_equal(labels["script"], cat.script[labels["char"]])
    assert np.array_equal(labels["codepoint"], cat.codepoints[labels["char"]])
    face_of = {
        (FAMILIES.index(f.family), f.bold, f.oblique): i for i, f in enumerate(FACES)
    }
    faces = [
        face_of[(int(r["family"]), bool(r["bold"]), bool(r["oblique"]))] for r in labels
    ]
    assert cat.faces[labels["char"], faces].all()
    assert labels["rotation"].min() >= ROTATION_DEG[0]
    assert labels["rotation"].max() <= ROTATION_DEG[1]
    assert len(np.unique(labels["family"])) == len(FAMILIES)


def test_splits_are_disjoint_and_cover_every_class():
    split = standard_split()
    everything = np.concatenate(list(split.values()))
    assert len(everything) == len(np.unique(everything)) == len(catalogue())
    assert all(len(ids) > 0 for ids in split.values())
    assert not set(BACKGROUND_SCRIPTS) & set(EVALUATION_SCRIPTS)
    cat = catalogue()
    eval_scripts = {cat.scripts.index(s) for s in EVALUATION_SCRIPTS}
    assert set(cat.script[split["evaluation"]].tolist()) == eval_scripts
    background = np.concatenate([split["train"], split["val"], split["test"]])
    assert not set(cat.script[background].tolist()) & eval_scripts


def test_unknown_script_names_raise_a_value_error():
    with pytest.raises(ValueError, match="unknown script"):
        classes_of(["Latin", "Klingon"])
    with pytest.raises(ValueError, match="unknown script"):
        load_glyphs(scripts=["Elvish"])


def test_impossible_generation_requests_raise():
    with pytest.raises(ValueError, match="n_per_class"):
        generate_glyphs([0], n_per_class=0)
    with pytest.raises(ValueError, match="classes"):
        generate_glyphs([len(catalogue())])
    with pytest.raises(TypeError, match="seed"):
        generate_glyphs([0], seed=1.5)


def test_cache_round_trip_is_exact_and_survives_a_corrupt_file():
    fresh = load_glyphs(n_per_class=3, scripts=["Coptic"])
    files = list(cache.cache_dir().glob("glyphs-*.npz"))
    assert files and not list(cache.cache_dir().glob("*.tmp"))
    again = load_glyphs(n_per_class=3, scripts=["Coptic"])
    assert again.images.tobytes() == fresh.images.tobytes()
    assert again.labels.tobytes() == fresh.labels.tobytes()
    for f in files:
        f.write_bytes(b"not a zip file")
    rebuilt = load_glyphs(n_per_class=3, scripts=["Coptic"])
    assert rebuilt.images.tobytes() == fresh.images.tobytes()


def test_cache_dir_honours_mtlbook_cache_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("MTLBOOK_CACHE", str(tmp_path / "m"))
    assert cache.cache_dir() == tmp_path / "m"
    monkeypatch.delenv("MTLBOOK_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache.cache_dir() == tmp_path / "x" / "mtlbook"


def test_torch_dataset_items_are_float_images_with_labels(sample):
    data = GlyphDataset(sample, classes=standard_split()["train"])
    image, label = data[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert label.dtype == torch.int64
    assert set(data.glyphs.labels["char"].tolist()) <= set(standard_split()["train"])
    multi = GlyphDataset(sample, target=("char", "rotation", "bold"))
    _, labels = multi[5]
    assert float(labels["rotation"]) == pytest.approx(
        float(sample.labels["rotation"][5])
    )
    with pytest.raises(ValueError, match="target"):
        GlyphDataset(sample, target="colour")
