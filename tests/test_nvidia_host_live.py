"""The NVIDIA host facts on this live machine, through real tools: the real kernel log (dmesg,
or the journal where there is one) with a line written to /dev/kmsg, and `nvidia-smi -L` from
the stand-in nvidia-smi (tests/support/standins, which prints what the real one documents).
This machine has no NVIDIA GPU, so the checks themselves skip here: that is asserted too.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from gpudoctor.facts import Facts, Options
from gpudoctor.facts.nvidia_platform import nvidia_smi_list, read_kernel_log
from gpudoctor.host.live import LiveHost
from tests.support.cli import check_of, run_gpudoctor, validate_report

STANDINS = Path(__file__).parent / "support" / "standins"


def test_the_real_kernel_log_is_read_and_an_nvrm_line_found():
    marker = uuid.uuid4().hex[:8]
    line = (f"gpudoctor-test-{marker}: NVRM: Xid (PCI:0000:99:00): 79, pid=1, name=test, "
            "GPU has fallen off the bus. (written by gpudoctor's tests, not a real GPU)")
    with open("/dev/kmsg", "w") as kmsg:  # what the kernel's own printk lands in
        kmsg.write(line + "\n")
    deadline = time.monotonic() + 10
    while True:
        log = read_kernel_log(Facts(LiveHost(), Options()))
        if any(marker in hit for hit in log.hits.get("xid", [])) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert log.source in ("journalctl-kernel", "dmesg"), log.error
    assert log.lines > 0
    assert marker in log.hits["xid"][-1]
    assert marker in log.hits["fallen_off_bus"][-1]


def test_nvidia_smi_list_runs_the_tool_on_the_persons_path():
    env = dict(os.environ, PATH=f"{STANDINS}:{os.environ.get('PATH', '')}",
               NVIDIA_VISIBLE_DEVICES="0,1")
    listed = nvidia_smi_list(LiveHost(env))
    assert listed.ok and listed.ran
    assert listed.uuids == ["GPU-5c6b1f8e-0000-4000-8000-000000000000",
                            "GPU-5c6b1f8e-0000-4000-8000-000000000001"]
    env["NVIDIA_VISIBLE_DEVICES"] = "none"
    failed = nvidia_smi_list(LiveHost(env))
    assert failed.ran and not failed.ok and failed.error == "No devices were found"


def test_without_nvidia_smi_nothing_is_run():
    listed = nvidia_smi_list(LiveHost(dict(os.environ, PATH="/nonexistent")))
    assert not listed.ran


def test_on_this_machine_the_nvidia_host_checks_skip_without_a_false_alarm():
    run = run_gpudoctor("--json")
    report = validate_report(run.json)
    for check_id in ("nvidia.wsl", "nvidia.open_modules", "nvidia.driver_mismatch",
                     "nvidia.fabric_manager", "nvidia.gpu_count", "kernel.log", "nvidia.uvm",
                     "nvidia.device_files"):
        assert check_of(report, check_id)["status"] == "skip", check_id
