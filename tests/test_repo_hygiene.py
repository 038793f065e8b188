"""The repository installs the same way everywhere and carries no machine state."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / f for f in out.splitlines() if (ROOT / f).is_file()]


def requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirements.txt: '{line}' is not an exact pin (name==ver)"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_every_requirement_is_pinned_exactly() -> None:
    assert requirements(), "requirements.txt is empty"


def test_torch_is_the_local_cpu_build() -> None:
    # A looser pin would pull a multi-GB CUDA build.
    assert requirements()["torch"] == "2.13.0"


def test_jupyter_book_stays_on_1x() -> None:
    major = int(requirements()["jupyter-book"].split(".")[0])
    assert major == 1, "the book uses Jupyter Book 1.x (_config.yml/_toc.yml)"


def test_tools_the_test_command_needs_are_pinned() -> None:
    needed = {"pytest", "nbval", "ruff", "hypothesis", "jupyter-server-mathjax"}
    assert needed <= set(requirements())


def test_no_generated_or_large_files_are_tracked() -> None:
    banned = re.compile(r"(^|/)(_build|\.venv|__pycache__|\.ipynb_checkpoints)/")
    for path in tracked_files():
        rel = path.relative_to(ROOT).as_posix()
        assert not banned.search(rel), f"{rel} is generated; it must not be tracked"
        assert path.stat().st_size < 2_000_000, f"{rel} is over 2 MB"


def test_no_absolute_machine_paths() -> None:
    pattern = re.compile(r"(?<![\w.:/~])/(root|home|work|tmp|Users)/[\w.-]+")
    for path in tracked_files():
        if path.suffix in {".png", ".jpg", ".ttf"}:
            continue
        text = path.read_text(errors="ignore")
        hits = [m.group(0) for m in pattern.finditer(text)]
        rel = path.relative_to(ROOT).as_posix()
        assert not hits, f"{rel} contains absolute machine paths: {hits[:3]}"


def makefile_recipe(target: str) -> str:
    """The command lines of one Makefile target, joined."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{target}:.*\n((?:\t.*\n?)+)", text, flags=re.MULTILINE)
    assert match, f"Makefile has no target '{target}'"
    return match.group(1)


def test_notebooks_run_with_cpu_independent_numerics() -> None:
    # Stored outputs are compared digit for digit; they must not depend on
    # whether the CPU has AVX-512, so nbval and the maintainers' re-execution
    # both run with every kernel dispatcher pinned.
    text = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^PINNED_NUMERICS := ((?:.*\\\n)*.*)$", text, re.MULTILINE)
    assert pinned, "Makefile defines no PINNED_NUMERICS"
    for setting in (
        "ATEN_CPU_CAPABILITY=default",
        "MKL_CBWR=COMPATIBLE",
        "ONEDNN_MAX_CPU_ISA=",
        "OPENBLAS_CORETYPE=",
        "NPY_DISABLE_CPU_FEATURES=",
    ):
        assert setting in pinned.group(1), f"PINNED_NUMERICS lacks {setting}"
    for target in ("nbval", "execute", "lab"):
        assert "$(PINNED_NUMERICS)" in makefile_recipe(target), (
            f"make {target} must run with $(PINNED_NUMERICS)"
        )
