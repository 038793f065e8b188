"""Every benchmark runs end to end in its ``--smoke`` mode, so none breaks unseen.

A smoke run is the benchmark's own code path (training, evaluation, claims,
the JSON) on a tiny workload; its numbers mean nothing, but its JSON must have
the top-level keys of the stored result in ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
NOT_BENCHMARKS = {"harness", "claims", "protocols"}  # shared code, not benchmarks
SMOKED = [
    "reptile_probe",
    "aggregator_speed",
    "aggregator_properties",
    "merging_glyphs",
    "cdan_moons",
    "dann_moons",
    "distributed_scaling",
    "fewshot_glyphs",
    "fewshot_heads",
    "glyph_baseline",
    "glyph_speed",
    "gradnorm_tasks",
    "imaml_memory",
    "in_context_regression",
    "layer_transfer_digits",
    "layer_transfer_glyphs",
    "logme_glyphs",
    "lpft_glyphs",
    "lpft_toy",
    "maml_sinusoid",
    "maml_sinusoid_seeds",
    "mamlpp_ablation",
    "meta_cost",
    "meta_speed",
    "meta_throughput",
    "metasgd_sinusoid",
    "mmoe_synthetic",
    "mtl_cost",
    "mtl_table",
    "mtl_toy",
    "peft_glyphs",
    "sinusoid_methods",
    "task_affinity_glyphs",
    "stch_concave",
    "transfer_speed_glyphs",
    "uncertainty_regime",
]
# The marker of a smoke run: some scripts write it only then, some always.
SMOKE_ONLY = {"smoke"}
# Keys only a merge of part runs writes (``--merge``), never a single run.
MERGE_ONLY = {"parts_run_in_parallel"}
TIMEOUT_S = 180  # seconds each: a few on an idle core, a busy shared box is slower


def test_every_benchmark_has_a_smoke_test():
    scripts = {
        p.stem for p in BENCHMARKS.glob("*.py") if not p.stem.startswith("claims_")
    } - NOT_BENCHMARKS  # claims_<part>.py: more claim functions for claims.py
    missing = sorted(scripts - set(SMOKED))
    assert not missing, f"add these benchmarks (and their --smoke) to SMOKED: {missing}"
    gone = sorted(set(SMOKED) - scripts)
    assert not gone, f"SMOKED lists benchmarks that no longer exist: {gone}"


@pytest.mark.parametrize("name", SMOKED)
def test_smoke_run_writes_the_result_json(name, tmp_path):
    out = tmp_path / f"{name}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, str(BENCHMARKS / f"{name}.py"), "--smoke"]
    run = subprocess.run(
        [*command, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,  # the test reads the return code and output itself
    )
    assert run.returncode == 0, f"{name} --smoke failed:\n{run.stdout}\n{run.stderr}"
    result = json.loads(out.read_text())
    assert not list(tmp_path.glob("*.ckpt")), "a finished run leaves no checkpoint"
    stored = BENCHMARKS / "results" / f"{name}.json"
    if stored.exists():
        want = set(json.loads(stored.read_text())) - MERGE_ONLY - SMOKE_ONLY
        got = set(result) - SMOKE_ONLY
        assert got == want, (
            f"{name} --smoke: keys missing {sorted(want - got)}, "
            f"unexpected {sorted(got - want)}"
        )


def test_a_smoke_run_never_writes_to_the_stored_results(capsys):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from harness import SMOKE_DIR, add_common_arguments, parse_arguments
    finally:
        sys.path.remove(str(BENCHMARKS))
    result = BENCHMARKS / "results" / "demo.json"
    parser = argparse.ArgumentParser()
    add_common_arguments(parser, out=result)
    assert parse_arguments(parser, []).out == result
    assert parse_arguments(parser, ["--smoke"]).out == SMOKE_DIR / "demo.json"
    with pytest.raises(SystemExit):
        parse_arguments(parser, ["--smoke", "--out", str(result)])
    assert "never writes to benchmarks/results/" in capsys.readouterr().err
