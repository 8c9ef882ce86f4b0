"""README's first command runs `chargekit demo`; `--once` runs the same scenario and exits 0
only when the central's transaction energy equals what the meter simulator counted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.micropython


def test_demo_once_charges_and_reads_the_transaction_back(tmp_path):
    command = [
        str(Path(sys.executable).with_name("chargekit")),
        "demo",
        "--once",
        "--port", "0",
        "--control-port", "0",
        "--dir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "registered stations CK-DEMO-1, CK-DEMO-2" in output
    assert "stopReason   EVDisconnected" in output
    energy = next(line for line in output.splitlines() if line.strip().startswith("energyWh"))
    assert int(energy.split()[1]) > 100, energy  # 8 simulated minutes at 11 kW
    assert (tmp_path / "demo.db").exists()
