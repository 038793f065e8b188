"""Where the package keeps generated data, and how it writes and reads it safely.

Files go under ``$MTLBOOK_CACHE`` if set, else ``$XDG_CACHE_HOME/mtlbook``,
else ``~/.cache/mtlbook``. A file is written to a temporary name in the same
folder and renamed into place, so a reader never sees half a file; it gets the
permissions the umask allows (a shared classroom cache stays readable to
everyone), and it is read with ``allow_pickle=False``, so a cache file can hold
only arrays, never code.

The cache never loses data: if the folder cannot be written (read-only, full,
or ``$MTLBOOK_CACHE`` names a file), :func:`save_arrays` warns once per folder
and the caller returns the data it generated anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np


class CacheWarning(UserWarning):
    """The cache folder could not be written; the data was generated anyway."""


_warned: set[str] = set()  # folders already warned about in this process


def cache_dir() -> Path:
    """The cache folder (not created here)."""
    if os.environ.get("MTLBOOK_CACHE"):
        return Path(os.environ["MTLBOOK_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mtlbook"


def cache_key(params: Mapping[str, object]) -> str:
    """A short hex digest of JSON-serialisable ``params`` (order-independent)."""
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params must be a dict of the generator's arguments, got "
            f"{type(params).__name__}, e.g. params={{'seed': 0}}"
        )
    try:
        text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    except TypeError as error:
        raise TypeError(
            f"params must hold only JSON values (str, int, float, bool, lists): "
            f"{error}; pass numbers as int(...) or float(...)"
        ) from None
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> bool:
    """Write ``arrays`` to ``path`` (.npz, uncompressed) atomically.

    Returns False, after a :class:`CacheWarning` (once per folder), if the
    folder cannot be written; the cache is an optimisation, never a failure.
    """
    path = _check_path(path)
    _check_arrays(arrays)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # (stub: allow_pickle)
        # mkstemp creates the file 0600; give it what the umask allows instead.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        return True
    except OSError as error:
        _warn_unwritable(path.parent, error)
        return False
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Arrays saved by :func:`save_arrays`; None if missing or unreadable."""
    path = _check_path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError):
        return None


def _check_path(path: object) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"path must be a str or pathlib.Path, got {type(path).__name__}; "
            "e.g. path=cache_dir() / 'name.npz'"
        )
    return Path(path)


def _check_arrays(arrays: object) -> None:
    if not isinstance(arrays, Mapping):
        raise TypeError(
            f"arrays must be a dict of name -> numpy array, got "
            f"{type(arrays).__name__}; e.g. arrays={{'images': images}}"
        )
    if not arrays:
        raise ValueError("arrays is empty; pass at least one named array")
    for name, value in arrays.items():
        if np.asarray(value).dtype.hasobject:
            raise TypeError(
                f"arrays[{name!r}] holds Python objects, which the cache cannot "
                "store (it is read without pickle); convert it to a numeric array"
            )


def _umask() -> int:
    """The process umask (read by setting it, as POSIX offers no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _warn_unwritable(folder: Path, error: OSError) -> None:
    if str(folder) in _warned:
        return
    _warned.add(str(folder))
    warnings.warn(
        f"cannot write the mtlbook cache in {folder} ({error}); the data was "
        "generated and is returned, but it will be generated again next time. "
        "Set MTLBOOK_CACHE to a writable folder, e.g. "
        'export MTLBOOK_CACHE="$HOME/mtlbook-cache"',
        CacheWarning,
        stacklevel=3,
    )
