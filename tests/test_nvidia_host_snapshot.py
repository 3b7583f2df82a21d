"""Issue 12: a snapshot of a broken NVIDIA host replays the same verdict.

`gpudoctor snapshot --root BROKEN` records whatever the new checks read (ld.so.conf and the
libraries' links, dpkg status and log, /proc/driver/nvidia/params, the NVSwitch PCI functions,
/dev/dxg, and the commands `journalctl-kernel`, `nvidia-smi-L`, `nvidia-smi-fabric`,
`systemctl-is-active-nvidia-fabricmanager`); `--root SNAPSHOT` must then say exactly what
`--root BROKEN` said, identities redacted (GPU UUIDs, the hostname in journal lines).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.support import nvidia_roots as nr
from tests.support.cli import check_of, report_for, run_gpudoctor
from tests.test_nvidia_host import MINE, ROOTS


@pytest.mark.parametrize("name", ["mismatch", "blackwell_proprietary", "fm_inactive", "xid",
                                  "smi_missing", "params_video", "uvm_cdi",
                                  "wsl2_linux_driver", "wsl2"])
def test_a_snapshot_replays_the_same_verdict(tmp_path: Path, name: str) -> None:
    root = ROOTS[name](tmp_path / "root")
    out = tmp_path / "snap.tar.gz"
    run = run_gpudoctor("snapshot", "--root", root, "-o", out, "--json")
    assert run.returncode == 0, run.stderr
    source, copy = report_for(root), report_for(out)
    for check_id in (*MINE, "gpu.present", "kernel.driver", "devices.nodes"):
        a, b = check_of(source, check_id), check_of(copy, check_id)
        assert (b["status"], b["findings"], b["cause"], b["fixes"], b["commands"]) == (
            a["status"], a["findings"], a["cause"], a["fixes"], a["commands"]), check_id
    assert copy["docker_run_args"] == source["docker_run_args"]


def test_the_snapshot_records_the_commands_and_redacts_the_hostname(tmp_path: Path) -> None:
    root = nr.build(tmp_path / "root", nr.Spec(kernel_log=(
        *nr.BENIGN_LOG, "2026-02-13T09:28:40+0000 gpu-box kernel: NVRM: Xid (PCI:0000:18:00): "
        "79, pid=2871, name=python3, GPU has fallen off the bus.")))
    (root / "etc/hostname").write_text("gpu-box\n")
    out = tmp_path / "snap.tar.gz"
    assert run_gpudoctor("snapshot", "--root", root, "-o", out).returncode == 0
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        doc = json.load(tar.extractfile(".gpudoctor/host.json"))  # type: ignore[arg-type]
    commands = doc["commands"]
    for name in ("journalctl-kernel", "nvidia-smi-L", "nvidia-smi-fabric",
                 "systemctl-is-active-nvidia-fabricmanager"):
        assert name in commands, name
    journal = commands["journalctl-kernel"]["stdout"]
    assert "NVRM: Xid (PCI:0000:18:00): 79" in journal
    assert "gpu-box" not in journal  # the hostname in each journal line is redacted
    for path in ("proc/driver/nvidia/params", "proc/driver/nvidia/version", "etc/ld.so.conf",
                 "usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1", "var/lib/dpkg/status",
                 "etc/apt/apt.conf.d/20auto-upgrades", "sys/bus/pci/devices/0000:05:00.0"):
        assert path in names, path
    # only the two links the loader resolves, never the whole library folder
    assert len([n for n in names if n.startswith("usr/lib/x86_64-linux-gnu/")]) <= 4
