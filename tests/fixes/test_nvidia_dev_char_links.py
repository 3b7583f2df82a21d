"""nvidia.dev_char_links: the /dev/char links systemd needs to let a container open the NVIDIA
devices, and the udev rule that makes them again; planned on host roots (in process), applied on
this machine, where there are no NVIDIA device files, with the stand-in nvidia-ctk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixes.nvidia_dev_char_links import RULE_PATH, rule_text
from tests.support import nvidia_layer_roots as nr
from tests.support.cli import run_gpudoctor
from tests.support.fix_plan import plan_text
from tests.support.standins import standin_dir

FIX = "nvidia.dev_char_links"



def test_dev_char_links_plan_names_each_link_and_the_udev_rule(tmp_path: Path) -> None:
    out = plan_text(nr.legacy_systemd_exposed(tmp_path / "root"), FIX)
    assert "/dev/char/195:0 -> /dev/nvidia0" in out
    assert "/usr/bin/nvidia-ctk system create-dev-char-symlinks --create-all" in out
    assert f"+++ {RULE_PATH}" in out
    assert ('+ACTION=="add", DEVPATH=="/bus/pci/drivers/nvidia", '
            'RUN+="/usr/bin/nvidia-ctk system create-dev-char-symlinks --create-all"') in out
    assert "recreate them" in out


def test_dev_char_links_with_links_and_rule_in_place_is_a_no_op(tmp_path: Path) -> None:
    r = nr.nvidia_host(tmp_path / "root", links=True)
    r.b.write(RULE_PATH, rule_text("/usr/bin/nvidia-ctk"))
    out = plan_text(r.finish(), FIX)
    assert "nothing to do:" in out and "is in place" in out


@pytest.mark.machine
def test_dev_char_links_applied_here_writes_the_rule_once(tmp_path: Path) -> None:
    """This machine has no NVIDIA device files: the links need nothing, the rule is written
    (atomically, mode 0644), and a second run changes nothing."""
    ctk_dir = tmp_path / "bin"
    ctk_dir.mkdir()
    (ctk_dir / "nvidia-ctk").write_bytes((standin_dir() / "nvidia-ctk").read_bytes())
    (ctk_dir / "nvidia-ctk").chmod(0o755)
    env = {"PATH": f"{ctk_dir}:{os.environ['PATH']}"}
    rule = Path(RULE_PATH)
    assert not rule.exists(), f"{rule} exists on this machine; the test would overwrite it"
    try:
        run = run_gpudoctor("fix", FIX, "--yes", env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert rule.read_text() == rule_text(str(ctk_dir / "nvidia-ctk"))
        assert oct(rule.stat().st_mode & 0o777) == "0o644"
        again = run_gpudoctor("fix", FIX, "--yes", env=env)
        assert again.returncode == 0 and "nothing to do:" in again.stdout
    finally:
        rule.unlink(missing_ok=True)
