"""devices.nodes on the issue's host roots and variants.

The named scenarios come from real `gpudoctor --json --root` runs (the session's `reports`,
validated against the schema); each finding, one id per way a device file is wrong, is reached
in process on the smallest variant that gives it, beside the healthy roots that give none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.devices_nodes import DevicesNodes
from tests.support import scenarios as sc
from tests.support.check_roots import edit_host_json
from tests.support.cli import check_of, report_for
from tests.support.hw_checks import build, found, judge
from tests.test_snapshot_roots import snapshot


def test_devices_nodes_pass_on_the_laptop_with_numbers_and_owners(reports):
    check = check_of(reports["amd_laptop_field_guide"], "devices.nodes")
    assert check["status"] == "pass"
    assert check["summary"] == ("2 device files present with the right numbers: /dev/kfd, "
                                "/dev/dri/renderD128")
    assert ("/dev/kfd: crw-rw---- char 235:0, owner UID 0, group render (110)"
            in check["evidence"])
    assert ("/dev/dri/renderD128: crw-rw---- char 226:128, owner UID 0, group render (110)"
            in check["evidence"])
    assert "no NVIDIA GPU selected: /dev/nvidia* not needed" in check["evidence"]


def test_devices_nodes_checks_every_partition_render_node(reports):
    check = check_of(reports["amd_mi300x_partitioned"], "devices.nodes")
    assert check["status"] == "pass"
    assert check["summary"].startswith("65 device files present")


def test_devices_nodes_checks_nvidia_nodes_and_skips_amd_ones(reports):
    check = check_of(reports["server_8gpu_bmc"], "devices.nodes")
    assert check["status"] == "pass"
    evidence = check["evidence"]
    assert "/dev/nvidia7: crw-rw-rw- char 195:7, owner UID 0, group root (0)" in evidence
    assert "/dev/nvidiactl: crw-rw-rw- char 195:255, owner UID 0, group root (0)" in evidence
    assert "/dev/nvidia-uvm: crw-rw-rw- char 510:0, owner UID 0, group root (0)" in evidence
    assert "no AMD GPU selected: /dev/kfd and AMD render nodes not needed" in evidence


def test_devices_nodes_fail_without_the_nvidia_driver(reports):
    check = check_of(reports["nvidia_nouveau"], "devices.nodes")
    assert check["status"] == "fail"
    assert check["findings"] == ["devices.nodes.unusable"]  # fleets group on this id
    assert "the nvidia driver is not loaded" in check["summary"]
    assert "see kernel.driver" in check["remedy"]



# ----- in process: one finding id per way a device file is wrong -----------------------------
LAPTOP = "amd_laptop_field_guide"


@pytest.mark.parametrize("name", [LAPTOP, "server_8gpu_bmc", "nvidia_laptop_intel_igpu",
                                  "amd_mi300x_8"])
def test_right_device_files_give_no_finding(name, tmp_path):
    result = judge(DevicesNodes, sc.build(name, tmp_path / "root"))
    assert found(result) == ("pass", [])
    assert result.commands == [] and result.cause is None


def _drop(path: str):
    """`after` that removes a device file and its host.json record."""
    def after(root: Path) -> None:
        (root / path.lstrip("/")).unlink()
        edit_host_json(root, lambda doc: doc["device_nodes"].pop(path))
    return after


def _node(path: str, **values):
    """`after` that changes a device file's host.json record."""
    def after(root: Path) -> None:
        edit_host_json(root, lambda doc: doc["device_nodes"][path].update(values))
    return after


def test_missing_kfd_fails_and_says_why(tmp_path):
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP, after=_drop("/dev/kfd")))
    assert found(result) == ("fail", ["devices.nodes.missing"])
    assert result.summary == "/dev/kfd (ROCm's compute interface) is missing"
    assert "/dev/kfd: does not exist" in result.evidence
    assert "error gathering device information" in result.details
    assert "The kernel has no kfd device" not in result.details  # /proc/devices lists kfd
    assert result.commands == ["sudo modprobe amdgpu"]


def test_missing_kfd_on_a_kernel_without_kfd_says_so(tmp_path):
    def after(root: Path) -> None:
        _drop("/dev/kfd")(root)
        devices = root / "proc/devices"
        devices.write_text("".join(line for line in devices.read_text().splitlines(True)
                                   if not line.rstrip().endswith(" kfd")))
        (root / "sys/class/kfd/kfd/dev").unlink()
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP, after=after))
    assert found(result) == ("fail", ["devices.nodes.missing"])
    assert "The kernel has no kfd device at all" in result.details


def test_missing_render_node_fails(tmp_path):
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP,
                                       after=_drop("/dev/dri/renderD128")))
    assert found(result) == ("fail", ["devices.nodes.missing"])
    assert result.summary == "/dev/dri/renderD128 (render node of 07:00.0) is missing"
    assert result.commands == ["sudo udevadm trigger"]


def test_render_node_with_stale_numbers_fails(tmp_path):
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP,
                                       after=_node("/dev/dri/renderD128", minor=129)))
    assert found(result) == ("fail", ["devices.nodes.wrong_numbers"])
    assert result.summary == ("/dev/dri/renderD128 (render node of 07:00.0) has minor 129, "
                              "expected 128")
    assert result.commands == ["sudo rm /dev/dri/renderD128 && sudo udevadm trigger"]


def test_kfd_with_a_wrong_major_fails(tmp_path):
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP,
                                       after=_node("/dev/kfd", major=240)))
    assert found(result) == ("fail", ["devices.nodes.wrong_numbers"])
    assert result.summary == "/dev/kfd (ROCm's compute interface) has major 240, expected 235"


def test_a_block_device_where_kfd_belongs_is_not_a_character_device(tmp_path):
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP,
                                       after=_node("/dev/kfd", type="block")))
    assert found(result) == ("fail", ["devices.nodes.not_char"])
    assert result.summary == ("/dev/kfd (ROCm's compute interface) is a block, not a character "
                              "device")
    assert result.commands == ["sudo rm /dev/kfd", "sudo udevadm trigger"]


def test_a_regular_file_where_the_render_node_belongs_is_an_impostor(tmp_path):
    def after(root: Path) -> None:
        _drop("/dev/dri/renderD128")(root)
        (root / "dev/dri/renderD128").write_text("not a device\n")
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP, after=after))
    assert found(result) == ("fail", ["devices.nodes.not_char"])


def test_a_record_that_cannot_be_read_is_unreadable(tmp_path):
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP,
                                       after=_node("/dev/kfd", major="two hundred")))
    assert found(result) == ("fail", ["devices.nodes.unreadable"])
    assert result.summary.startswith("/dev/kfd cannot be examined (its device_nodes entry in "
                                     "host.json is malformed")


def _no_render_node(bound: bool):
    """`after` for a GPU the kernel made no DRM nodes for: no drm folder in sysfs, no by-path
    links, no /dev/dri files of its own (and no driver link when not `bound`)."""
    def after(root: Path) -> None:
        dev = (root / "sys/bus/pci/devices/0000:07:00.0").resolve()
        if not bound:
            (dev / "driver").unlink()
        for sub in sorted((dev / "drm").rglob("*"), reverse=True):
            sub.unlink() if sub.is_file() or sub.is_symlink() else sub.rmdir()
        (dev / "drm").rmdir()
        for link in (root / "dev/dri/by-path").glob("pci-0000:07:00.0-*"):
            link.unlink()
        for path in ("/dev/dri/renderD128", "/dev/dri/card1"):
            (root / path.lstrip("/")).unlink()
            edit_host_json(root, lambda doc, p=path: doc["device_nodes"].pop(p, None))
    return after


def test_a_bound_gpu_without_a_render_node_points_at_dmesg(tmp_path):
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP, after=_no_render_node(True)))
    assert found(result) == ("fail", ["devices.nodes.no_render_node"])
    assert result.summary == "07:00.0 has no render node"
    assert result.commands == ["sudo dmesg | grep -i amdgpu"]


def test_an_unbound_gpu_without_a_render_node_points_at_kernel_driver(tmp_path):
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP, after=_no_render_node(False)))
    assert found(result) == ("fail", ["devices.nodes.no_render_node"])
    assert "see kernel.driver" in result.remedy


def test_gpu_missing_from_kfd_topology_warns_rocm_will_not_see_it(tmp_path):
    def after(root: Path) -> None:
        nodes = root / "sys/devices/virtual/kfd/kfd/topology/nodes"
        for node in nodes.iterdir():
            props = node / "properties"
            if "drm_render_minor 128\n" in props.read_text():
                for sub in sorted(node.rglob("*"), reverse=True):
                    sub.unlink() if sub.is_file() else sub.rmdir()
                node.rmdir()
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP, after=after))
    assert found(result) == ("warn", ["devices.nodes.kfd_unlisted"])
    assert result.summary == ("KFD lists no compute node for 07:00.0 (renderD128): ROCm will "
                              "not see it")
    assert "not supported in kfd" in result.remedy


def test_missing_nvidia_uvm_with_the_driver_loaded_is_a_warning_caused_by_nvidia_uvm(tmp_path):
    result = judge(DevicesNodes, build(tmp_path / "root", "nvidia_laptop_intel_igpu",
                                       after=_drop("/dev/nvidia-uvm")))
    assert found(result) == ("warn", ["devices.nodes.nvidia_node_missing"])
    assert result.summary == "/dev/nvidia-uvm (CUDA unified memory) is missing"
    assert result.cause == "nvidia.uvm"
    assert result.commands[0] == "sudo nvidia-modprobe -u -c=0"


def test_missing_nvidiactl_is_its_own_warning(tmp_path):
    result = judge(DevicesNodes, build(tmp_path / "root", "nvidia_laptop_intel_igpu",
                                       after=_drop("/dev/nvidiactl")))
    assert found(result) == ("warn", ["devices.nodes.nvidia_node_missing"])
    assert result.cause is None


def test_nvidia_gpu_without_its_driver_is_unusable(tmp_path):
    result = judge(DevicesNodes, sc.build("nvidia_nouveau", tmp_path / "root"))
    assert found(result) == ("fail", ["devices.nodes.unusable"])
    assert result.summary == "01:00.0 has no /dev/nvidiaN: the nvidia driver is not loaded"


def test_nvidia_unloaded_with_its_device_files_left_behind(tmp_path):
    def after(root: Path) -> None:
        modules = root / "proc/modules"
        modules.write_text("".join(line for line in modules.read_text().splitlines(True)
                                   if not line.startswith("nvidia ")))
    result = judge(DevicesNodes, build(tmp_path / "root", "server_8gpu_bmc", after=after))
    assert found(result) == ("fail", ["devices.nodes.unusable"])
    assert result.summary == "the nvidia driver is not loaded, so /dev/nvidia* are missing"
    assert "/dev/nvidia0: present but stale (nvidia is not loaded)" in result.evidence


def test_a_root_that_did_not_record_the_nodes_skips(tmp_path):
    def after(root: Path) -> None:
        edit_host_json(root, lambda doc: doc.pop("device_nodes"))
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP, after=after))
    assert found(result) == ("skip", [])
    assert result.summary == ("this root did not capture the device nodes (/dev/kfd, "
                              "/dev/dri/renderD128)")


def test_kfd_and_the_render_node_missing_are_one_id_and_one_explanation(tmp_path):
    def after(root: Path) -> None:
        _drop("/dev/kfd")(root)
        _drop("/dev/dri/renderD128")(root)
    result = judge(DevicesNodes, build(tmp_path / "root", LAPTOP, after=after))
    assert found(result) == ("fail", ["devices.nodes.missing"])
    assert result.summary == ("/dev/kfd (ROCm's compute interface) is missing (and 1 more "
                              "problem)")
    assert result.details.count("`docker run --device` copies a device file") == 1
    assert result.commands == ["sudo modprobe amdgpu", "sudo udevadm trigger"]


def test_a_snapshot_replays_the_findings(tmp_path):
    """`gpudoctor snapshot` records the device files the check read; the archive gives the
    same finding ids as the root it was taken from."""
    def after(root: Path) -> None:
        _node("/dev/kfd", type="block")(root)
        _node("/dev/dri/renderD128", minor=129)(root)
    root = build(tmp_path / "root", LAPTOP, after=after)
    archive = tmp_path / "snap.tar.gz"
    snapshot(root, archive)
    check = check_of(report_for(archive), "devices.nodes")
    assert (check["status"], check["findings"]) == found(judge(DevicesNodes, root))
    assert check["findings"] == ["devices.nodes.not_char", "devices.nodes.wrong_numbers"]
