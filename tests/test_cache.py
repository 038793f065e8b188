"""The glyph cache never loses data: unwritable folders, permissions, bad files.

Each test points ``MTLBOOK_CACHE`` at a fresh folder of its own and loads one
small script (Coptic, one instance per class), so the whole file runs in
seconds.
"""

from __future__ import annotations

import os
import stat
import warnings

import numpy as np
import pytest

from mtlbook.data import cache
from mtlbook.data.glyphs import classes_of, generate_glyphs, load_glyphs
from mtlbook.data.glyphs.store import catalogue, catalogue_from_arrays

SCRIPT = ["Coptic"]


@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    """The catalogue and the reference data go to a private folder, not ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MTLBOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def expected():
    """The bytes load_glyphs must return, drawn without any cache."""
    return generate_glyphs(classes_of(SCRIPT), n_per_class=1)


def load():
    return load_glyphs(n_per_class=1, scripts=SCRIPT)


def same(a, b) -> bool:
    return a.images.tobytes() == b.images.tobytes() and (
        a.labels.tobytes() == b.labels.tobytes()
    )


def the_file():
    (path,) = cache.cache_dir().glob("glyphs-*.npz")
    return path


@pytest.fixture
def writable(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLBOOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def unwritable_cache(kind: str, tmp_path):
    """A cache location the process cannot write, even as root where possible."""
    if kind == "read-only folder":
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        if os.access(folder, os.W_OK):  # root ignores the mode: use a file instead
            kind = "under a regular file"
        else:
            return folder
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker if kind == "a regular file" else blocker / "cache"


@pytest.mark.parametrize(
    "kind", ["read-only folder", "a regular file", "under a regular file"]
)
def test_an_unwritable_cache_returns_the_data_and_warns_once(
    kind, tmp_path, monkeypatch, expected
):
    folder = unwritable_cache(kind, tmp_path)
    monkeypatch.setenv("MTLBOOK_CACHE", str(folder))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first, second = load(), load()
    finally:
        if folder.is_dir():
            folder.chmod(0o755)
    assert same(first, expected) and same(second, expected)
    messages = [str(w.message) for w in caught if w.category is cache.CacheWarning]
    assert len(messages) == 1, messages  # once per folder, not once per call
    assert "MTLBOOK_CACHE" in messages[0] and str(folder) in messages[0]
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failed_write_leaves_no_temporary_file_and_reports_false(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.warns(cache.CacheWarning, match="MTLBOOK_CACHE"):
        assert not cache.save_arrays(blocker / "x.npz", {"a": np.zeros(2)})
    # a target that is a folder: mkstemp succeeds, the rename fails
    (tmp_path / "dir.npz").mkdir()
    with pytest.warns(cache.CacheWarning):
        assert not cache.save_arrays(tmp_path / "dir.npz", {"a": np.zeros(2)})
    assert not list(tmp_path.rglob("*.tmp"))


def test_cache_files_get_the_permissions_the_umask_allows(writable, expected):
    old = os.umask(0o022)
    try:
        assert same(load(), expected)
        assert stat.S_IMODE(the_file().stat().st_mode) == 0o644
        os.umask(0o077)  # a private cache stays private
        cache.save_arrays(writable / "private.npz", {"a": np.zeros(2)})
        assert stat.S_IMODE((writable / "private.npz").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_the_second_load_reads_the_file_written_by_the_first(writable, expected):
    assert same(load(), expected)
    path = the_file()
    before = path.stat().st_mtime_ns
    assert same(load(), expected)
    assert path.stat().st_mtime_ns == before  # read, not rewritten


def rewrite(edit) -> None:
    """Replace the cache file's arrays by ``edit(images, labels)``."""
    path = the_file()
    arrays = cache.load_arrays(path)
    cache.save_arrays(path, edit(arrays["images"], arrays["labels"]))


def shuffled_classes(images, labels):
    labels = labels.copy()
    labels["char"] = labels["char"][::-1]
    return {"images": images, "labels": labels}


@pytest.mark.parametrize(
    "edit",
    [
        lambda im, lab: {"images": im[:5], "labels": lab[:5]},  # truncated
        lambda im, lab: {"images": im[:, :14, :14], "labels": lab},  # other size
        lambda im, lab: {"images": im.astype(np.float32), "labels": lab},
        lambda im, lab: {"images": im, "labels": lab[["char", "codepoint"]]},
        lambda im, lab: {"images": im},  # labels missing
        shuffled_classes,
    ],
    ids=["truncated", "image-size", "image-dtype", "label-dtype", "no-labels",
         "other-classes"],
)  # fmt: skip
def test_a_cache_file_that_does_not_match_is_regenerated(writable, expected, edit):
    load()
    rewrite(edit)
    assert same(load(), expected)
    assert same(load(), expected)  # and the file was repaired on the way
    arrays = cache.load_arrays(the_file())
    assert arrays["images"].tobytes() == expected.images.tobytes()


def test_a_file_that_is_not_an_archive_is_regenerated(writable, expected):
    load()
    the_file().write_bytes(b"PK\x03\x04 truncated")
    assert same(load(), expected)


def test_the_catalogue_check_refuses_edited_fields():
    cat = catalogue()
    arrays = {
        "codepoints": cat.codepoints,
        "script": cat.script,
        "faces": cat.faces,
        "prototypes": cat.prototypes,
        "scripts": np.array(cat.scripts),
        "n_candidates": np.array(cat.n_candidates),
    }
    sound = catalogue_from_arrays(arrays)
    assert sound is not None and np.array_equal(sound.codepoints, cat.codepoints)
    assert sound.scripts == cat.scripts
    for name, bad in [
        ("codepoints", cat.codepoints[:-1]),
        ("faces", cat.faces[:, :3]),
        ("prototypes", cat.prototypes[:, :14]),
        ("script", cat.script + len(cat.scripts)),
        ("scripts", np.arange(3)),
    ]:
        assert catalogue_from_arrays(arrays | {name: bad}) is None, name
    del arrays["faces"]
    assert catalogue_from_arrays(arrays) is None
