"""nvidia.cgroup_devices on host roots, in process: GPU containers that lose their GPUs on
`systemctl daemon-reload` (systemd cgroup driver, legacy hook, no /dev/char links), next to the
hosts that keep them (links present, cgroupfs driver, CDI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import nvidia_layer_roots as nr
from tests.support.check_roots import edit_host_json
from tests.support.check_run import result_of, verdict

ID = "nvidia.cgroup_devices"
COMMANDS = ["sudo nvidia-ctk system create-dev-char-symlinks --create-all",
            "sudo nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml",
            "sudo gpudoctor fix docker.cgroupfs_driver docker.reload"]


def test_running_gpus_container_under_systemd_driver_is_named(tmp_path: Path) -> None:
    result = result_of(nr.legacy_systemd_exposed(tmp_path / "root"), ID)
    assert verdict(result) == ("warn", [f"{ID}.running_exposed", f"{ID}.legacy_systemd"])
    assert "trainer" in result.summary
    assert "old-job" not in result.summary  # stopped: nothing to lose until it starts
    assert "Failed to initialize NVML: Unknown Error" in result.details
    assert "/dev/nvidia0" in result.details
    assert result.fixes == ["nvidia.dev_char_links"]
    assert result.commands == COMMANDS
    assert "native.cgroupdriver=cgroupfs" in result.remedy
    assert "recreated" in result.remedy
    assert any(e.startswith("Docker cgroup driver: systemd") for e in result.evidence)
    assert any("/dev/char/195:0 missing" in e for e in result.evidence)


def test_where_cdi_works_new_gpus_containers_are_still_exposed(tmp_path: Path) -> None:
    result = result_of(nr.legacy_systemd_exposed(tmp_path / "root", cdi_spec=True), ID)
    # --gpus still works here, and containers made with it are still exposed
    assert f"{ID}.legacy_systemd" in result.findings
    assert "cdi-job" not in result.summary


def test_new_containers_only_when_none_runs(tmp_path: Path) -> None:
    root = nr.nvidia_host(tmp_path / "root").finish()
    result = result_of(root, ID)
    assert verdict(result) == ("warn", [f"{ID}.legacy_systemd"])
    assert result.summary.startswith("`--gpus` and `--runtime=nvidia` GPU containers will "
                                     "lose their GPUs")
    assert result.commands == COMMANDS


@pytest.mark.parametrize(("builder", "summary"), [
    (nr.legacy_systemd_with_links, "every NVIDIA device file has its /dev/char link"),
    (nr.legacy_cgroupfs, "Docker uses the cgroupfs cgroup driver"),
    (nr.cdi_mode_systemd, "no way of giving GPUs here uses the legacy hook"),
    (nr.jit_cdi_1_18, "no way of giving GPUs here uses the legacy hook"),
])
def test_hosts_that_keep_their_gpus_stay_quiet(tmp_path: Path, builder, summary: str) -> None:
    result = result_of(builder(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary.startswith(summary)


def test_a_daemon_that_does_not_report_its_cgroup_driver_is_skipped(tmp_path: Path) -> None:
    root = nr.legacy_systemd_exposed(tmp_path / "root")
    edit_host_json(root, lambda doc: doc["docker"]["info"].pop("CgroupDriver"))
    result = result_of(root, ID)
    assert verdict(result) == ("skip", [])
    assert result.summary == "the daemon does not report its cgroup driver"
