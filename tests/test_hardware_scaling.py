"""Work grows linearly with the number of GPUs.

The robust measure is what gpudoctor asks the host: every file read, listing, link and stat
goes through the Host layer, so counting those calls on generated roots with 1, 8 and 64 GPUs
shows the cost per GPU exactly, on any machine, however loaded. A timing check with wide
slack backs it up (linear work gives 64/8 of about 8x at most; quadratic would be about 64x),
and the benchmark script itself runs once to prove it works.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from gpudoctor.facts import Options
from gpudoctor.host.rootfs import RootHost
from gpudoctor.report import Doctor
from tests.support import scenarios as sc

REPO = Path(__file__).resolve().parents[1]
HOST_CALLS = ("read_bytes", "listdir", "readlink", "realpath", "stat", "device_node")


class CountingHost(RootHost):
    """A RootHost that counts every question asked of it."""

    def __init__(self, root: str):
        super().__init__(root)
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self._count_lock:
            self.calls[name] += 1


def _counted(name: str):
    original = getattr(RootHost, name)

    def method(self, *args, **kwargs):
        self._count(name)
        return original(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in HOST_CALLS:
    setattr(CountingHost, _name, _counted(_name))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Path]:
    return {(vendor, n): sc.generated(tmp_path_factory.mktemp(f"{vendor}{n}"), n, vendor)
            for vendor in ("amd", "nvidia") for n in (1, 8, 64)}


def diagnose(root: Path) -> tuple[dict, int]:
    host = CountingHost(str(root))
    doctor = Doctor(host, Options())
    doctor.run()
    report = doctor.report()
    return report, sum(host.calls.values())


@pytest.mark.parametrize("vendor", ["amd", "nvidia"])
def test_host_questions_per_gpu_stay_constant(generated, vendor):
    counts = {}
    for n in (1, 8, 64):
        report, calls = diagnose(generated[(vendor, n)])
        assert len([g for g in report["gpus"] if g["selected"]]) == n
        counts[n] = calls
    per_gpu_small = (counts[8] - counts[1]) / 7
    per_gpu_large = (counts[64] - counts[8]) / 56
    assert per_gpu_small > 0
    # linear: the 57th GPU costs what the 2nd did (a little slack for shared folders)
    assert per_gpu_large <= per_gpu_small * 1.1 + 1, counts
    assert counts[64] <= 8 * counts[8], counts


def test_partitioned_hosts_scale_with_render_nodes_not_worse(tmp_path):
    """CPX (64 render nodes) costs at most a constant per render node more than SPX."""
    _, spx = diagnose(sc.amd_mi300x_8(tmp_path / "spx"))
    report, cpx = diagnose(sc.amd_mi300x_partitioned(tmp_path / "cpx"))
    assert len(report["docker_run_args"]) == 1 + 64 + 1
    assert cpx - spx <= 56 * 12, (spx, cpx)


def _best_time(root: Path, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        doctor = Doctor(RootHost(str(root)), Options())
        doctor.run()
        doctor.report()
        best = min(best, time.perf_counter() - start)
    return best


def test_time_for_64_gpus_is_not_quadratic(generated):
    _best_time(generated[("amd", 8)], 1)  # imports and page cache
    t8 = _best_time(generated[("amd", 8)])
    t64 = _best_time(generated[("amd", 64)])
    assert t64 < 24 * t8, (t8, t64)


def test_benchmark_script_prints_its_table(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_json.py"), "--runs", "1", "--sizes", "1",
         "8"], capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split() == ["GPUs", "median", "ms", "x", "bare", "python", "target"]
    assert lines[2].split()[0] == "bare" and lines[2].split()[2] == "1.00"
    eight = next(line for line in lines if line.split()[0] == "8")
    assert "<= 5x bare:" in eight
    assert float(eight.split()[2]) > 1.0  # gpudoctor costs more than an empty interpreter
