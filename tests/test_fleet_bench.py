"""The fleet benchmark keeps its promise: 10,000 real reports summarized within 2.2x of merely
reading and parsing them (and within 5 s when the machine is idle enough to tell)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_fleet


@pytest.mark.slow
@pytest.mark.machine  # a ratio of two timings: no other test's load between them
def test_ten_thousand_reports_within_the_target(capsys):
    code = bench_fleet.main(["--reports", "10000", "--runs", "1", "--strict"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("gpudoctor fleet --json on 10000 reports")
    assert "(target <= 2.2: met)" in out
