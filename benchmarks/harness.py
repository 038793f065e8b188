"""What every benchmark shares: progress you can watch, runs you can resume.

A benchmark is a list of *runs* (a seed, a method, a setting), each a known
number of steps. It tells the harness the plan, asks which runs are still to
do, and reports each finished run's result::

    bench = Bench("maml_sinusoid_seeds", args.out, resume=args.resume)
    bench.plan({f"{variant}/{seed}": iterations for variant, seed in jobs})
    for key in bench.todo():
        result = train_one(key, progress=bench.step)  # bench.step(n) per n steps
        bench.finish(key, result)
    results = bench.results()  # every run's result, resumed ones included

In a terminal the harness shows one overall bar with an ETA over all steps of
all runs; in a log (stderr not a terminal) it prints one line per finished
run instead. Each finished run is written to a checkpoint next to the output
(``<out>.ckpt``) before the next one starts, atomically, so a run killed at
any moment loses at most the run in progress; ``--resume`` then skips the
finished runs. A long run can also save its own state mid-way
(:meth:`Bench.save_state`, :meth:`Bench.load_state`) and continue from it; a
resumed benchmark gives the same results, bit for bit, as one never stopped,
because every run draws its randomness from its own seeded generators.
Checkpoints are read with ``torch.load(weights_only=True)``: they can hold
tensors, numbers, strings, lists and dicts, never code.

Every benchmark takes the same flags (:func:`add_common_arguments`, read with
:func:`parse_arguments`): ``--resume``, ``--out`` and ``--smoke``, a tiny run of
the same code (training, evaluation, claims, the JSON) that finishes in seconds
and whose numbers mean nothing; ``tests/test_benchmark_smoke.py`` runs every
benchmark that way. A smoke run never writes to ``benchmarks/results/``:
without ``--out`` it writes to a temporary folder, and an ``--out`` there is
refused. :func:`pin_threads` runs a benchmark on one core (torch, BLAS, OpenMP
and worker processes), after the imports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

RESULTS = Path(__file__).resolve().parent / "results"
SMOKE_DIR = Path(tempfile.gettempdir()) / "mtlbook-smoke"


def add_common_arguments(
    parser: argparse.ArgumentParser, *, out: Path | None = None
) -> None:
    """``--resume``, ``--smoke`` and (given the default ``out``) ``--out``.

    Read them with :func:`parse_arguments`, which also keeps a smoke run away
    from ``benchmarks/results/``.
    """
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip the runs an interrupted invocation already finished",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run (few steps, one seed, small data) that checks the script "
        "end to end in seconds; its numbers mean nothing. Without --out it writes "
        f"to {SMOKE_DIR}/ (the path is printed), never to benchmarks/results/",
    )
    if out is not None:
        parser.add_argument(
            "--out",
            type=Path,
            default=None,
            help=f"the JSON to write (default: {_shown(out)}; with --smoke: "
            f"{SMOKE_DIR / Path(out).name})",
        )
        parser.set_defaults(_default_out=Path(out))


def parse_arguments(
    parser: argparse.ArgumentParser, argv: list[str] | None = None
) -> argparse.Namespace:
    """``parser.parse_args``, with ``--out`` resolved.

    Without ``--out``: the script's result file, or with ``--smoke`` the same
    name under a temporary folder. A smoke run never writes to
    ``benchmarks/results/``: an ``--out`` there is refused.
    """
    args = parser.parse_args(argv)
    default = getattr(args, "_default_out", None)
    if default is not None:
        del args._default_out
        if args.out is None:
            args.out = SMOKE_DIR / default.name if args.smoke else default
            if args.smoke:
                print(f"smoke run: writing {args.out}", file=sys.stderr)
        if args.smoke and _inside(args.out, RESULTS):
            parser.error(
                f"--smoke --out {args.out}: a smoke run never writes to "
                "benchmarks/results/; give another --out (or none: a temporary file)"
            )
    return args


def pin_threads(n: int = 1) -> None:
    """Run on ``n`` threads: torch's, the BLAS and OpenMP pools, child processes.

    torch's pool is set directly; the BLAS libraries already loaded (numpy's
    OpenBLAS, MKL) through threadpoolctl; and the environment variables are set
    for libraries loaded later and for worker processes.
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional: torch is pinned anyway
        return
    threadpool_limits(limits=n)


def _inside(path: Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def _shown(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class Bench:
    """Progress and checkpoints for one benchmark invocation."""

    def __init__(self, name: str, out: Path, *, resume: bool = False) -> None:
        self.name = name
        self.checkpoint = Path(f"{out}.ckpt")
        self._state: dict[str, Any] = {"finished": {}, "partial": {}}
        if resume and self.checkpoint.exists():
            self._state = torch.load(self.checkpoint, weights_only=True)
        elif self.checkpoint.exists():
            self.checkpoint.unlink()  # a fresh start: an old checkpoint is stale
        self._plan: dict[str, int] = {}
        self._bar: tqdm | None = None
        self._start = time.perf_counter()
        self._done_steps = 0
        self._counted = 0  # steps reported since the last finished run

    # ---------------------------------------------------------------- plan
    def plan(self, runs: Mapping[str, int]) -> None:
        """Every run's key and its number of steps (for the ETA)."""
        self._plan = dict(runs)
        finished = sum(self._plan.get(k, 0) for k in self._state["finished"])
        self._done_steps = finished
        if sys.stderr.isatty():
            self._bar = tqdm(
                total=sum(self._plan.values()),
                initial=finished,
                desc=self.name,
                unit="step",
                dynamic_ncols=True,
            )
        elif finished:
            n = len(self._state["finished"])
            print(f"[{self.name}] resuming: {n} of {len(self._plan)} runs done")

    def todo(self) -> Iterator[str]:
        """The planned runs not finished yet, in plan order."""
        return iter([k for k in self._plan if k not in self._state["finished"]])

    # ------------------------------------------------------------ progress
    def step(self, n: int = 1) -> None:
        """Count ``n`` steps of the run in progress (moves the bar)."""
        self._done_steps += n
        self._counted += n
        if self._bar is not None:
            self._bar.update(n)

    def finish(self, key: str, result: Any) -> None:
        """Store one run's result (JSON-like) and checkpoint it at once."""
        if key not in self._plan:
            planned = ", ".join(self._plan)
            raise KeyError(f"{key!r} is not a planned run; plan() lists: {planned}")
        self._state["finished"][key] = result
        self._state["partial"].pop(key, None)
        self._save()
        # runs in worker processes report no steps: count the whole run now
        missing = max(self._plan[key] - self._counted, 0)
        self._counted = 0
        self.step(missing)
        self._counted = 0
        if self._bar is None:
            self._log(key)

    def results(self) -> dict[str, Any]:
        """Every finished run's result, by key, in plan order."""
        finished = self._state["finished"]
        return {k: finished[k] for k in self._plan if k in finished}

    def close(self) -> None:
        """Close the bar and remove the checkpoint: the output is complete."""
        if self._bar is not None:
            self._bar.close()
        self.checkpoint.unlink(missing_ok=True)

    # ------------------------------------------------- in-run checkpoints
    def save_state(self, key: str, state: Mapping[str, Any]) -> None:
        """Checkpoint the state of a run in progress (tensors, RNG states...)."""
        self._state["partial"][key] = dict(state)
        self._save()

    def load_state(self, key: str) -> dict[str, Any] | None:
        """The state saved for an unfinished run by an interrupted invocation."""
        return self._state["partial"].get(key)

    # ------------------------------------------------------------- helpers
    def _save(self) -> None:
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
        torch.save(self._state, tmp)
        os.replace(tmp, self.checkpoint)

    def _log(self, key: str) -> None:
        elapsed = time.perf_counter() - self._start
        total = sum(self._plan.values())
        done = len(self._state["finished"])
        rate = self._done_steps / elapsed if elapsed > 0 else 0.0
        eta = (total - self._done_steps) / rate if rate > 0 else float("nan")
        print(
            f"[{self.name}] run {done}/{len(self._plan)} done: {key}; "
            f"elapsed {_clock(elapsed)}, ETA {_clock(eta)}",
            flush=True,
        )


def machine(**extra: Any) -> dict[str, Any]:
    """What a result's numbers depend on: versions, the CPU and torch's threads.

    extra: what one benchmark adds (a peer's version, a note on the load).
    """
    import numpy

    return {
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        **extra,
    }


def cpu_model() -> str:
    """The CPU's model name (stored outputs can depend on its vector units)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_json(path: Path, result: Mapping[str, Any]) -> None:
    """Write ``result`` to ``path`` atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, path)


def _clock(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "?"
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02d}:{s:02d}" if hours else f"{m}:{s:02d}"
