"""docs/example-plugin: pip-installed into a target folder, found through its entry points,
run by a real `gpudoctor` process on a host root (healthy and broken)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import scenarios
from tests.support.cli import REPO, run_gpudoctor, validate_report


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(REPO / "docs/example-plugin")],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert list(target.glob("gpudoctor_example-*.dist-info/entry_points.txt"))
    return target


def _example(doc: dict) -> dict:
    [check] = [c for c in doc["checks"] if c["id"] == "example.kernel_release"]
    return check


def test_the_example_check_runs_through_its_entry_point(plugin_path: Path,
                                                        tmp_path: Path) -> None:
    root = scenarios.build("amd_laptop_field_guide", tmp_path / "root")
    env = {"PYTHONPATH": str(plugin_path)}
    listing = run_gpudoctor("list", env=env)
    assert "example.kernel_release" in listing.stdout and "example.note" in listing.stdout
    healthy = _example(validate_report(run_gpudoctor("--json", "--root", root, env=env).json))
    assert healthy["status"] == "pass" and healthy["findings"] == []

    (root / "proc/sys/kernel/osrelease").write_text("4.19.0-26-amd64\n")
    run = run_gpudoctor("--json", "--root", root, env=env)
    old = _example(validate_report(run.json))
    assert old["status"] == "warn" and old["findings"] == ["example.kernel_release.old"]
    assert old["fixes"] == ["example.note"]
    assert old["commands"] == ["sudo apt-get install linux-generic"]

    plan = run_gpudoctor("fix", "example.note", "--root", root, env=env)
    assert "+kernel 4.19.0-26-amd64: upgrade before installing GPU drivers" in plan.stdout
    assert "is not the machine gpudoctor runs on" in plan.stdout
    assert not (root / "etc/gpudoctor-example.note").exists()
