"""A meta-learning benchmark killed mid-way and resumed gives the same JSON.

Each case runs one benchmark twice at a tiny size, at the same time: once
without stopping, and once killed (SIGKILL, the whole process group) as soon
as its checkpoint holds what the case waits for, then rerun with ``--resume``.
The two JSON results must be equal, number for number, timings aside.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds for any one invocation


def start(script: str, out: Path, args: list[str], resume: bool = False) -> Any:
    command = [sys.executable, f"benchmarks/{script}", *args, "--out", str(out)]
    return subprocess.Popen(
        command + (["--resume"] if resume else []),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: workers die with it
    )


def finish(proc: Any) -> None:
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err


def checkpoint(out: Path) -> dict[str, Any] | None:
    path = Path(f"{out}.ckpt")
    return torch.load(path, weights_only=True) if path.exists() else None


def kill_when(proc: Any, out: Path, ready: Callable[[dict[str, Any]], bool]) -> dict:
    """Kill proc's process group once its checkpoint is ready; the checkpoint."""
    deadline = time.monotonic() + TIMEOUT
    while not ((state := checkpoint(out)) and ready(state)):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=TIMEOUT)
    assert not out.exists(), "a killed run must not leave a result"
    state = checkpoint(out)
    assert state is not None
    return state


def without_timing(value: Any) -> Any:
    """The result minus wall-clock and machine fields."""
    if isinstance(value, dict):
        return {
            k: without_timing(v)
            for k, v in value.items()
            if "seconds" not in k and k != "environment"
        }
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def interrupted_equals_uninterrupted(
    tmp_path: Path, script: str, args: list[str], ready: Callable[[dict], bool]
) -> dict[str, Any]:
    """Run script both ways; assert equal results; the checkpoint at the kill."""
    whole, cut = tmp_path / "whole.json", tmp_path / "cut.json"
    reference = start(script, whole, args)
    state = kill_when(start(script, cut, args), cut, ready)
    finish(start(script, cut, args, resume=True))
    finish(reference)
    assert not Path(f"{cut}.ckpt").exists(), "a complete run removes its checkpoint"
    expected = without_timing(json.loads(whole.read_text()))
    assert without_timing(json.loads(cut.read_text())) == expected
    return state


def test_maml_sinusoid_resumes_mid_training_bit_for_bit(tmp_path: Path) -> None:
    # 60 iterations saved every 20: the kill lands inside the first run, whose
    # optimizer, meta-batch generator and loss accumulator must all continue.
    state = interrupted_equals_uninterrupted(
        tmp_path,
        "maml_sinusoid.py",
        ["--iterations", "60", "--checkpoint-every", "20"],
        ready=lambda state: bool(state["partial"]),
    )
    assert state["partial"], "the kill should land mid-run"


def test_maml_sinusoid_seeds_resumes_after_finished_runs(tmp_path: Path) -> None:
    state = interrupted_equals_uninterrupted(
        tmp_path,
        "maml_sinusoid_seeds.py",
        ["--iterations", "20"],
        ready=lambda state: len(state["finished"]) >= 1,
    )
    assert 1 <= len(state["finished"]) < 9
