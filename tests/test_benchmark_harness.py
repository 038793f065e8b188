"""The benchmark harness: checkpoints that resume exactly, progress for people."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness import Bench, write_json  # noqa: E402

NOT_BENCHMARKS = {"harness", "claims", "protocols"}  # shared code, not benchmarks
BENCHMARKS = sorted(  # claims_<part>.py: claim functions, not benchmarks
    p
    for p in (ROOT / "benchmarks").glob("*.py")
    if p.stem not in NOT_BENCHMARKS and not p.stem.startswith("claims_")
)


def test_a_finished_run_survives_a_restart_and_is_not_redone(tmp_path, capsys):
    out = tmp_path / "b.json"
    first = Bench("demo", out)
    first.plan({"a": 3, "b": 5})
    first.finish("a", {"loss": 0.25})
    # the process dies here; a new one resumes from the checkpoint
    again = Bench("demo", out, resume=True)
    again.plan({"a": 3, "b": 5})
    assert list(again.todo()) == ["b"]
    again.finish("b", {"loss": 0.5})
    assert again.results() == {"a": {"loss": 0.25}, "b": {"loss": 0.5}}
    again.close()
    assert not Path(f"{out}.ckpt").exists()
    log = capsys.readouterr().out
    assert "resuming: 1 of 2 runs done" in log
    assert "run 2/2 done: b" in log and "ETA" in log


def test_without_resume_an_old_checkpoint_is_discarded(tmp_path):
    out = tmp_path / "b.json"
    stale = Bench("demo", out)
    stale.plan({"a": 1})
    stale.finish("a", 1)
    fresh = Bench("demo", out)
    fresh.plan({"a": 1})
    assert list(fresh.todo()) == ["a"]


def test_in_run_state_round_trips_through_weights_only_loading(tmp_path):
    out = tmp_path / "b.json"
    g = torch.Generator().manual_seed(3)
    torch.randn(4, generator=g)
    state = {"step": 7, "weights": torch.arange(3.0), "rng": g.get_state()}
    bench = Bench("demo", out)
    bench.plan({"a": 10})
    bench.save_state("a", state)
    loaded = Bench("demo", out, resume=True).load_state("a")
    assert loaded["step"] == 7 and torch.equal(loaded["weights"], state["weights"])
    resumed = torch.Generator()
    resumed.set_state(loaded["rng"])
    assert torch.equal(torch.randn(4, generator=resumed), torch.randn(4, generator=g))


def test_an_unplanned_run_is_refused(tmp_path):
    bench = Bench("demo", tmp_path / "b.json")
    bench.plan({"a": 1})
    with pytest.raises(KeyError, match="not a planned run"):
        bench.finish("z", 0)


def test_json_is_written_atomically(tmp_path):
    path = tmp_path / "r.json"
    write_json(path, {"x": 1})
    assert path.read_text() == '{\n "x": 1\n}\n'
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_every_benchmark_runs_on_the_harness(path):
    text = path.read_text()
    assert "from harness import" in text, f"{path.name} does not use the harness"
    assert "add_common_arguments" in text, f"{path.name} has no --resume"
    assert "Bench(" in text, f"{path.name} reports no progress"


def test_make_benchmarks_knows_every_benchmark_and_refuses_unknown_names():
    runner = [sys.executable, str(ROOT / "scripts" / "run_benchmarks.py")]
    listed = subprocess.run(
        [*runner, "--list"], capture_output=True, text=True, check=False
    )
    assert listed.stdout.split() == [p.stem for p in BENCHMARKS]
    wrong = subprocess.run(
        [*runner, "--only", "nope"], capture_output=True, text=True, check=False
    )
    assert wrong.returncode == 2 and "no such benchmark" in wrong.stdout
