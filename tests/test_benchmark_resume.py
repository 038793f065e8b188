"""A benchmark killed midway and resumed gives the numbers of one never stopped."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# 5 seeds x 2 networks = 10 runs of about a second each
DANN = [sys.executable, "benchmarks/dann_moons.py", "--steps", "1000"]
TIMING = ("wall_time_s", "machine")


def run(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [*DANN, "--out", str(out), *extra]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def numbers(out: Path) -> dict[str, Any]:
    result = json.loads(out.read_text())
    return {k: v for k, v in result.items() if k not in TIMING}


def kill_after_first_run(out: Path) -> None:
    """Start the benchmark; kill it as soon as one run is checkpointed."""
    checkpoint = Path(f"{out}.ckpt")
    command = [*DANN, "--out", str(out)]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not checkpoint.exists():
        assert process.poll() is None, "the benchmark ended before any checkpoint"
        assert time.monotonic() < deadline, "no checkpoint after 60 s"
        time.sleep(0.01)
    process.kill()
    process.wait()
    assert not out.exists(), "the benchmark finished before it was killed"


def test_dann_moons_killed_and_resumed_equals_an_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole.json"
    run(whole)
    resumed = tmp_path / "resumed.json"
    kill_after_first_run(resumed)
    again = run(resumed, "--resume")
    # the finished runs are skipped, not redone
    assert "resuming:" in again.stdout and "of 10 runs done" in again.stdout
    done = int(again.stdout.split("resuming:")[1].split()[0])
    assert 1 <= done < 10
    assert again.stdout.count("done: ") == 10 - done
    assert numbers(resumed) == numbers(whole)  # bit for bit: floats compare exactly
    assert not Path(f"{resumed}.ckpt").exists()  # a complete output needs none
