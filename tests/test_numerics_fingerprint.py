"""The kernel fingerprint is a stable description of this machine's numerics."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "numerics_fingerprint.py"


def test_fingerprint_repeats_on_one_machine(tmp_path: Path) -> None:
    stored = tmp_path / "fingerprint.json"
    first = subprocess.run(
        [sys.executable, SCRIPT, "--write", stored],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    again = subprocess.run(
        [sys.executable, SCRIPT, "--compare", stored],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "DIFFERS" not in again.stdout


def test_stored_fingerprint_covers_every_kernel() -> None:
    stored = json.loads((ROOT / "scripts" / "numerics_fingerprint.json").read_text())
    sys.path.insert(0, str(SCRIPT.parent))
    import numerics_fingerprint

    assert set(stored["hashes"]) == set(numerics_fingerprint.kernels())
    assert stored["machine"]["cpu"]
