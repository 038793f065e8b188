"""Where the package keeps generated data, and how it writes and reads it safely.

Files go under ``$MTLBOOK_CACHE`` if set, else ``$XDG_CACHE_HOME/mtlbook``,
else ``~/.cache/mtlbook``. A file is written to a temporary name in the same
folder and renamed into place, so a reader never sees half a file; it is read
with ``allow_pickle=False``, so a cache file can hold only arrays, never code.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """The cache folder (not created here)."""
    if os.environ.get("MTLBOOK_CACHE"):
        return Path(os.environ["MTLBOOK_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mtlbook"


def cache_key(params: Mapping[str, object]) -> str:
    """A short hex digest of JSON-serialisable ``params`` (order-independent)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (.npz, uncompressed) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Arrays saved by :func:`save_arrays`; None if missing or unreadable."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (FileNotFoundError, OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None
