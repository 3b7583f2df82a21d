"""How the gpudoctor process ends (gpudoctor.cli.program): at once when nothing is left to do
at exit, the usual way when something is (an atexit callback, a thread still working)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.scenarios import generated


def _run(root: Path, before: str = "") -> subprocess.CompletedProcess[str]:
    code = (f"import sys\n{before}\nfrom gpudoctor.cli import program\n"
            f"sys.argv = ['gpudoctor', '--json', '--root', {str(root)!r}]\n"
            "raise SystemExit(program())\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_whole_report_arrives_and_the_exit_status_is_kept(tmp_path: Path) -> None:
    healthy = _run(generated(tmp_path / "ok", 2, "amd"))
    assert healthy.returncode == 0, healthy.stderr
    assert {c["status"] for c in json.loads(healthy.stdout)["checks"]} <= {"pass", "skip",
                                                                            "warn"}
    (tmp_path / "empty" / "etc").mkdir(parents=True)
    failing = _run(tmp_path / "empty")
    assert failing.returncode == 1
    assert any(c["status"] == "fail" for c in json.loads(failing.stdout)["checks"])
    assert failing.stderr == ""


def test_atexit_callbacks_still_run(tmp_path: Path) -> None:
    run = _run(generated(tmp_path / "ok", 1, "amd"),
               before="import atexit\natexit.register(lambda: print('atexit ran', "
                      "file=sys.stderr))")
    assert run.returncode == 0
    assert run.stderr == "atexit ran\n"
    json.loads(run.stdout)


def test_a_thread_still_working_is_waited_for(tmp_path: Path) -> None:
    run = _run(generated(tmp_path / "ok", 1, "amd"),
               before="import threading, time\n"
                      "def late():\n    time.sleep(0.3)\n    print('thread done', "
                      "file=sys.stderr, flush=True)\n"
                      "threading.Thread(target=late).start()")
    assert run.returncode == 0
    assert run.stderr == "thread done\n"
