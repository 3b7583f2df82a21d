"""devices.nodes on the issue's host roots and variants.

Every report comes from a real `gpudoctor --json --root` run, validated against the schema.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.check_roots import edit_host_json, variant
from tests.support.cli import check_of


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
    assert "the nvidia driver is not loaded" in check["summary"]
    assert "see kernel.driver" in check["remedy"]


def test_missing_kfd_fails_and_says_why(tmp_path):
    def after(root: Path) -> None:
        (root / "dev/kfd").unlink()
        edit_host_json(root, lambda doc: doc["device_nodes"].pop("/dev/kfd"))
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "devices.nodes")
    assert check["status"] == "fail"
    assert check["summary"] == "/dev/kfd (ROCm's compute interface) is missing"
    assert "/dev/kfd: does not exist" in check["evidence"]
    assert "error gathering device information" in check["details"]


def test_render_node_with_stale_numbers_fails(tmp_path):
    def after(root: Path) -> None:
        edit_host_json(root, lambda doc: doc["device_nodes"]["/dev/dri/renderD128"].update(
            minor=129))
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "devices.nodes")
    assert check["status"] == "fail"
    assert "/dev/dri/renderD128 (render node of 07:00.0) has minor 129, expected 128" in (
        check["summary"])
    assert "sudo udevadm trigger" in check["remedy"]


def test_kfd_with_a_wrong_major_fails(tmp_path):
    def after(root: Path) -> None:
        edit_host_json(root, lambda doc: doc["device_nodes"]["/dev/kfd"].update(major=240))
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "devices.nodes")
    assert check["status"] == "fail"
    assert "/dev/kfd (ROCm's compute interface) has major 240, expected 235" in check["summary"]


def test_missing_nvidia_uvm_with_the_driver_loaded_is_a_warning(tmp_path):
    def after(root: Path) -> None:
        (root / "dev/nvidia-uvm").unlink()
        edit_host_json(root, lambda doc: doc["device_nodes"].pop("/dev/nvidia-uvm"))
    check = check_of(variant(tmp_path, "nvidia_laptop_intel_igpu", after=after),
                     "devices.nodes")
    assert check["status"] == "warn"
    assert check["summary"] == "/dev/nvidia-uvm (CUDA unified memory) is missing"
    assert "sudo nvidia-modprobe -u -c=0" in check["remedy"]


def test_gpu_missing_from_kfd_topology_warns_rocm_will_not_see_it(tmp_path):
    def after(root: Path) -> None:
        nodes = root / "sys/devices/virtual/kfd/kfd/topology/nodes"
        for node in nodes.iterdir():
            props = node / "properties"
            if "drm_render_minor 128\n" in props.read_text():
                for sub in sorted(node.rglob("*"), reverse=True):
                    sub.unlink() if sub.is_file() else sub.rmdir()
                node.rmdir()
    check = check_of(variant(tmp_path, "amd_laptop_field_guide", after=after), "devices.nodes")
    assert check["status"] == "warn"
    assert "KFD lists no compute node for 07:00.0 (renderD128): ROCm will not see it" in (
        check["summary"])
    assert "not supported in kfd" in check["remedy"]


# ----- groups.render ------------------------------------------------------------------------
