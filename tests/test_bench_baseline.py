"""Issue 18 item 11: the benchmark times a regular install, as users have gpudoctor.

The development venv installs gpudoctor editable; its .pth hook makes every interpreter start
slower (bare `python -c pass` too), which made the printed ratio look better than it is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.cli import REPO

sys.path.insert(0, str(REPO / "bench"))

import regular_install


def _py(python: str, code: str, cwd: Path) -> str:
    """Run outside the checkout: `-c` and `-m` put the current folder first on sys.path."""
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True,
                          timeout=60, cwd=cwd).stdout.strip()


def test_the_regular_install_has_no_editable_hook(tmp_path: Path) -> None:
    assert regular_install.is_editable(sys.executable)  # the development venv: the trap
    python = regular_install.build(tmp_path)
    assert not regular_install.is_editable(python)
    loaded = _py(python, "import sys; print(sorted(m for m in sys.modules if 'editable' in m))",
                 tmp_path)
    assert loaded == "[]"
    where = _py(python, "import gpudoctor; print(gpudoctor.__file__)", tmp_path)
    assert where.startswith(str(tmp_path / "venv")), where
    version = subprocess.run([python, "-m", "gpudoctor", "--version"], capture_output=True,
                             text=True, timeout=60, check=False, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("gpudoctor ")


def test_the_benchmark_times_bare_python_and_gpudoctor_with_the_regular_install() -> None:
    run = subprocess.run([sys.executable, str(REPO / "bench/bench_json.py"), "--runs", "1",
                          "--sizes", "1"], capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stderr
    [line] = [ln for ln in run.stderr.splitlines() if ln.startswith("bench_json: timing ")]
    timed = line.removeprefix("bench_json: timing ")
    assert timed.endswith("/venv/bin/python") and timed != sys.executable
    assert "installed editable" not in run.stderr
    assert "bare" in run.stdout and "median ms" in run.stdout
