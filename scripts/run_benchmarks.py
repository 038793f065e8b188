"""Run the reproductions in benchmarks/, one after another, with overall progress.

Usage (``make benchmarks`` calls this)::

    python scripts/run_benchmarks.py                      # all of them
    python scripts/run_benchmarks.py --only maml_sinusoid # one, by name
    python scripts/run_benchmarks.py --resume             # continue after a kill
    python scripts/run_benchmarks.py --smoke              # seconds each: a check
    python scripts/run_benchmarks.py --list

Each benchmark shows its own progress (a bar in a terminal, one line per
finished run in a log) and rewrites its ``benchmarks/results/<name>.json``.
A benchmark that compares against a peer library (``benchmarks/requirements.txt``)
is skipped, with a line saying how to install the peer, when the peer is absent.
``--smoke`` runs every benchmark's tiny check instead (``tests/test_benchmark_smoke.py``
does the same); those write to a temporary folder, never to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
NOT_BENCHMARKS = {"harness", "claims", "protocols"}  # shared code, not benchmarks
PEERS = {  # benchmark -> the peer it needs
    "aggregator_speed": "torchjd",
    "meta_speed": "higher",
}


def benchmarks() -> list[str]:
    """Every benchmark's name, in alphabetical order."""
    names = (p.stem for p in sorted(BENCHMARKS.glob("*.py")))
    return [n for n in names if n not in NOT_BENCHMARKS and not n.startswith("claims_")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run one benchmark, e.g. maml_sinusoid")
    parser.add_argument("--resume", action="store_true", help="pass --resume on")
    parser.add_argument("--smoke", action="store_true", help="pass --smoke on")
    parser.add_argument("--list", action="store_true", help="print the names")
    args = parser.parse_args()
    names = benchmarks()
    if args.list:
        print("\n".join(names))
        return 0
    if args.only is not None:
        if args.only not in names:
            known = ", ".join(names)
            print(f"--only {args.only!r}: no such benchmark; one of: {known}")
            return 2
        names = [args.only]
    start = time.perf_counter()
    for i, name in enumerate(names, 1):
        elapsed = time.strftime("%H:%M:%S", time.gmtime(time.perf_counter() - start))
        print(f"== [{i}/{len(names)}] {name} (elapsed {elapsed})", flush=True)
        peer = PEERS.get(name)
        if peer and importlib.util.find_spec(peer) is None and not args.smoke:
            print(
                f"   skipped: needs {peer}; .venv/bin/pip install --no-deps "
                "-r benchmarks/requirements.txt"
            )
            continue
        command = [sys.executable, str(BENCHMARKS / f"{name}.py")]
        flags = ["--resume"] * args.resume + ["--smoke"] * args.smoke
        if subprocess.call(command + flags) != 0:
            print(f"== {name} failed; fix it, then rerun with --only {name} --resume")
            return 1
    print(f"== all {len(names)} done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
