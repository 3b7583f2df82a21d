"""Which GPUs gpudoctor finds, how it classifies them, which it selects, and the exact
`docker run` arguments, on every host root the hardware issue names.

Scenario-level assertions go through `gpudoctor --json --root` (a real process, the report
validated against the shipped schema); classification corner cases read roots in-process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gpudoctor.facts import Facts, Options
from gpudoctor.facts.gpus import build_inventory
from gpudoctor.facts.runargs import resolve_node
from gpudoctor.host.rootfs import RootHost
from tests.support import scenarios as sc
from tests.support.cli import check_of, report_for, run_gpudoctor
from tests.support.hostroot import HostRootBuilder, pci_dev_id

LAPTOP_ARGS = ["--device=/dev/kfd", "--device=/dev/dri/renderD128", "--group-add=110"]


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every named scenario, built once for this module."""
    return {name: sc.build(name, tmp_path_factory.mktemp(name)) for name in sc.SCENARIOS}


@pytest.fixture(scope="module")
def reports(roots: dict[str, Path]) -> dict[str, dict]:
    """`gpudoctor --json --root` of every scenario, schema-validated."""
    return {name: report_for(root) for name, root in roots.items()}


def selected(report: dict) -> list[str]:
    return [g["pci"] for g in report["gpus"] if g["selected"]]


def gpu(report: dict, pci: str) -> dict:
    return next(g for g in report["gpus"] if g["pci"] == pci)


def device_args(report: dict) -> list[str]:
    return [a for a in report["docker_run_args"] if a.startswith(("--device=/dev", "--group-add"))]


def inventory(root: Path, **options):
    host = RootHost(str(root))
    return build_inventory(host, Options(**options))


# ----- the named host roots -----------------------------------------------------------------
def test_field_guide_laptop_selects_the_dgpu_and_leaves_the_phoenix_igpu_out(reports):
    report = reports["amd_laptop_field_guide"]
    assert selected(report) == ["0000:07:00.0"]
    assert report["docker_run_args"] == LAPTOP_ARGS
    dgpu, igpu = gpu(report, "0000:07:00.0"), gpu(report, "0000:c8:00.0")
    assert (dgpu["integrated"], dgpu["card"], dgpu["render"]) == (
        False, "/dev/dri/card1", "/dev/dri/renderD128")
    assert (igpu["integrated"], igpu["card"], igpu["render"], igpu["selected"]) == (
        True, "/dev/dri/card2", "/dev/dri/renderD129", False)
    assert "board_info" in igpu["integrated_reason"]
    assert "--include-integrated" in igpu["selection_reason"]
    present = check_of(report, "gpu.present")
    assert present["status"] == "pass"
    assert "1 selected: 07:00.0 Navi 33" in present["summary"]
    assert any(line.startswith("0000:c8:00.0 amd 1002:15bf") and "not selected" in line
               for line in present["evidence"])


def test_desktop_igpu_that_probed_first_keeps_renderd128_out(reports):
    report = reports["amd_desktop_two_7900xtx_igpu"]
    assert selected(report) == ["0000:03:00.0", "0000:08:00.0"]
    assert report["docker_run_args"] == [
        "--device=/dev/kfd", "--device=/dev/dri/renderD129", "--device=/dev/dri/renderD130",
        "--group-add=992"]
    raphael = gpu(report, "0000:12:00.0")
    assert (raphael["render"], raphael["integrated"], raphael["selected"]) == (
        "/dev/dri/renderD128", True, False)


def test_apu_only_strix_halo_is_integrated_and_still_selected(reports):
    report = reports["amd_apu_only_strix_halo"]
    halo = gpu(report, "0000:c5:00.0")
    assert halo["integrated"] is True and halo["selected"] is True
    assert halo["selection_reason"] == "integrated, and the host has no discrete GPU"
    assert halo["pci_class"] == "0x038000"
    assert report["docker_run_args"] == [
        "--device=/dev/kfd", "--device=/dev/dri/renderD128", "--group-add=993"]


def test_kfd_and_render_owned_by_different_groups_give_two_group_adds(reports):
    report = reports["amd_kfd_render_different_groups"]
    assert report["docker_run_args"] == [
        "--device=/dev/kfd", "--device=/dev/dri/renderD128", "--group-add=44",
        "--group-add=105"]


def test_nvidia_laptop_leaves_intel_igpu_out_and_passes_no_dri_nodes(reports):
    report = reports["nvidia_laptop_intel_igpu"]
    assert selected(report) == ["0000:01:00.0"]
    intel = gpu(report, "0000:00:02.0")
    assert intel["vendor"] == "intel" and intel["integrated"] is True
    assert intel["selected"] is False
    assert device_args(report) == []
    assert report["docker_run_args"], "the NVIDIA GPU is usable, so some way to pass it exists"


@pytest.mark.parametrize("name", ["nvidia_nouveau", "nvidia_secure_boot_blocked"])
def test_nvidia_gpu_without_its_driver_gives_no_arguments(reports, name):
    report = reports[name]
    assert selected(report) == ["0000:01:00.0"]
    assert report["docker_run_args"] == []


def test_server_with_bmc_selects_the_eight_h100_and_not_the_aspeed(reports):
    report = reports["server_8gpu_bmc"]
    h100 = [g["pci"] for g in report["gpus"] if g["vendor"] == "nvidia"]
    assert len(h100) == 8
    assert selected(report) == h100
    bmc = gpu(report, "0000:03:00.0")
    assert (bmc["vendor"], bmc["vendor_id"], bmc["selected"]) == ("other", "0x1a03", False)
    assert device_args(report) == []


def test_eight_mi300x_in_spx_pass_one_render_node_each(reports):
    report = reports["amd_mi300x_8"]
    assert len(selected(report)) == 8
    assert report["docker_run_args"] == (
        ["--device=/dev/kfd"]
        + [f"--device=/dev/dri/renderD{128 + 8 * g}" for g in range(8)]
        + ["--group-add=110"])
    for entry in report["gpus"]:
        assert entry["integrated"] is False
        assert entry["pci_class"] == "0x120000"
        assert "MI300X-class" in entry["integrated_reason"]
        assert entry["extra_render"] == []
    present = check_of(report, "gpu.present")
    assert any("56 amdgpu_xcp partition render node(s) are idle" in line
               for line in present["evidence"])


def test_cpx_partitioned_mi300x_passes_all_64_render_nodes(reports):
    report = reports["amd_mi300x_partitioned"]
    assert report["docker_run_args"] == (
        ["--device=/dev/kfd"]
        + [f"--device=/dev/dri/renderD{minor}" for minor in range(128, 192)]
        + ["--group-add=110"])
    first = gpu(report, "0000:05:00.0")
    assert first["render"] == "/dev/dri/renderD128"
    assert first["extra_render"] == [f"/dev/dri/renderD{m}" for m in range(129, 136)]


def test_qpx_partitioned_mi300x_passes_only_the_active_partitions(tmp_path):
    root = sc.amd_mi300x_partitioned(tmp_path / "qpx", partitions_per_gpu=4)
    report = report_for(root)
    expected = [f"--device=/dev/dri/renderD{128 + 8 * g + k}" for g in range(8) for k in range(4)]
    assert report["docker_run_args"] == ["--device=/dev/kfd", *expected, "--group-add=110"]


def test_stale_pciids_host_still_selects_the_egpu_it_cannot_name(reports):
    report = reports["pciids_2023"]
    assert selected(report) == ["0000:07:00.0", "0000:66:00.0"]
    egpu = gpu(report, "0000:66:00.0")
    assert egpu["name"] is None and egpu["integrated"] is False
    assert gpu(report, "0000:07:00.0")["name"] == "Navi 33 [Radeon RX 7700S/7600S]"
    assert report["docker_run_args"] == [
        "--device=/dev/kfd", "--device=/dev/dri/renderD128", "--device=/dev/dri/renderD130",
        "--group-add=110"]


def test_vm_without_gpu_has_no_arguments_and_fails_gpu_present(reports):
    report = reports["vm_no_gpu"]
    assert report["docker_run_args"] == []
    assert [g["vendor"] for g in report["gpus"]] == ["other"]
    present = check_of(report, "gpu.present")
    assert present["status"] == "fail"
    assert "Bochs" in present["details"] or "virtual machine" in present["details"]


# ----- the person's choice -----------------------------------------------------------------
def test_gpu_option_selects_exactly_that_gpu_in_short_form(roots):
    report = report_for(roots["amd_laptop_field_guide"], "--gpu", "c8:00.0")
    assert selected(report) == ["0000:c8:00.0"]
    assert report["docker_run_args"] == [
        "--device=/dev/kfd", "--device=/dev/dri/renderD129", "--group-add=110"]
    assert gpu(report, "0000:07:00.0")["selection_reason"] == "not chosen with --gpu"


def test_include_integrated_adds_the_igpu_after_the_dgpu(roots):
    report = report_for(roots["amd_laptop_field_guide"], "--include-integrated")
    assert selected(report) == ["0000:07:00.0", "0000:c8:00.0"]
    assert report["docker_run_args"] == [
        "--device=/dev/kfd", "--device=/dev/dri/renderD128", "--device=/dev/dri/renderD129",
        "--group-add=110"]


@pytest.mark.parametrize(("value", "message"), [
    ("0000:99:00.0", "--gpu 0000:99:00.0: no GPU at that address (GPUs found: 0000:07:00.0, "
                     "0000:c8:00.0)"),
    ("renderD128", "--gpu renderD128: not a PCI address (expected e.g. 0000:07:00.0)"),
])
def test_unknown_gpu_is_one_line_and_exit_2(roots, value, message):
    run = run_gpudoctor("--json", "--root", roots["amd_laptop_field_guide"], "--gpu", value)
    assert run.returncode == 2
    assert run.stderr == f"gpudoctor: error: {message}\n"
    assert run.stdout == ""


# ----- classification without board_info -----------------------------------------------------
def _laptop_on_kernel(root: Path, release: str, ip_discovery: bool) -> Path:
    """The laptop's two GPUs on an older kernel (no board_info), optionally without GC files."""
    b = HostRootBuilder(root)
    sc.populate_amd_laptop_field_guide(b)
    b.set_kernel(release)
    for path in b.root.glob("sys/devices/**/board_info"):
        path.unlink()
    if not ip_discovery:
        for folder in sorted(b.root.glob("sys/devices/**/ip_discovery"), reverse=True):
            for sub in sorted(folder.rglob("*"), reverse=True):
                sub.unlink() if sub.is_file() else sub.rmdir()
            folder.rmdir()
    return b.finish()


def test_before_linux_67_the_gc_ip_version_decides(tmp_path):
    inv = inventory(_laptop_on_kernel(tmp_path, "6.5.0-44-generic", ip_discovery=True))
    dgpu, igpu = inv.find("0000:07:00.0"), inv.find("0000:c8:00.0")
    assert (dgpu.integrated, dgpu.integrated_reason) == (False, "GC IP 11.0.2 is a discrete GPU's")
    assert (igpu.integrated, igpu.integrated_reason) == (
        True, "GC IP 11.0.1 is on the kernel's APU list")
    assert [g.pci for g in inv.selected] == ["0000:07:00.0"]


def test_without_ip_discovery_known_apu_device_ids_are_the_last_resort(tmp_path):
    inv = inventory(_laptop_on_kernel(tmp_path, "5.15.0-119-generic", ip_discovery=False))
    dgpu, igpu = inv.find("0000:07:00.0"), inv.find("0000:c8:00.0")
    assert dgpu.gc_version is None and igpu.gc_version is None
    assert igpu.integrated and "0x15bf is a known AMD APU" in igpu.integrated_reason
    assert not dgpu.integrated and "treated as discrete" in dgpu.integrated_reason


def _mi300(root: Path, device: int, release: str, board_info: bool) -> Path:
    b = HostRootBuilder(root)
    sc._base(b, render_gid=110)
    b.set_kernel(release)
    b.add_module("amdgpu")
    b.add_kfd_device(major=511)
    b.add_pci_bridge("0000:00:01.1")
    b.add_gpu("0000:02:00.0", 0x1002, device, 0x120000, parent="0000:00:01.1", card=0,
              render=128, board_info=board_info, board_type="oam", gc_version=(9, 4, 3),
              kfd_node=True)
    return b.finish()


@pytest.mark.parametrize(("device", "release", "board_info", "integrated", "reason"), [
    (0x74A0, "6.8.0-45-generic", False, True, "an MI300A APU"),
    (0x74A1, "6.8.0-45-generic", True, False, "an MI300X-class accelerator, not an MI300A"),
    (0x74A0, "6.5.0-44-generic", False, True, "GC IP 9.4.3 with device id 0x74a0: an MI300A"),
    (0x74A1, "6.5.0-44-generic", False, False, "GC IP 9.4.3 with device id 0x74a1: an MI300X"),
])
def test_gc_943_tells_mi300a_from_mi300x(tmp_path, device, release, board_info, integrated,
                                        reason):
    inv = inventory(_mi300(tmp_path, device, release, board_info))
    only = inv.find("0000:02:00.0")
    assert only.integrated is integrated
    assert reason in only.integrated_reason
    assert only.selected  # the only GPU: selected either way


def test_intel_card_off_slot_2_is_discrete_and_selected_with_its_render_node(tmp_path):
    b = HostRootBuilder(tmp_path)
    sc._base(b, render_gid=992)
    b.add_module("i915")
    b.add_gpu("0000:00:02.0", 0x8086, 0xA7A0, driver="i915", card=0, render=128)
    b.add_pci_bridge("0000:00:01.0", vendor=0x8086, device=0xA70D)
    b.add_gpu("0000:03:00.0", 0x8086, 0x56A0, parent="0000:00:01.0", driver="i915", card=1,
              render=129)
    report = report_for(b.finish())
    assert selected(report) == ["0000:03:00.0"]
    assert gpu(report, "0000:00:02.0")["integrated"] is True
    assert report["docker_run_args"] == ["--device=/dev/dri/renderD129", "--group-add=992"]


# ----- partitions tied through KFD when unique_id is missing ---------------------------------
def _rewrite_kfd(root: Path, edit) -> None:
    for props in root.glob("sys/devices/virtual/kfd/kfd/topology/nodes/*/properties"):
        lines = props.read_text().splitlines()
        values = dict(line.split(" ", 1) for line in lines)
        if values.get("simd_count") == "0":
            continue
        edit(values)
        props.write_text("".join(f"{k} {v}\n" for k, v in values.items()))


@pytest.mark.parametrize("shift", [0, 28], ids=["node_id_in_function_bits", "node_id_at_bit_28"])
def test_partitions_map_by_location_id_when_unique_id_is_zero(tmp_path, shift):
    root = sc.amd_mi300x_partitioned(tmp_path / "cpx")
    buses = (0x05, 0x26, 0x46, 0x65, 0x85, 0xA6, 0xC6, 0xE5)

    def edit(values: dict[str, str]) -> None:
        minor = int(values["drm_render_minor"])
        g, k = divmod(minor - 128, 8)
        values["unique_id"] = "0"
        values["location_id"] = str(pci_dev_id(f"0000:{buses[g]:02x}:00.0") | (k << shift))

    _rewrite_kfd(root, edit)
    inv = inventory(root)
    assert inv.problems == []
    for g, gpu_ in enumerate(inv.gpus):
        assert gpu_.render_nodes == [f"/dev/dri/renderD{128 + 8 * g + k}" for k in range(8)]


def test_partitions_without_readable_kfd_topology_are_noted_not_guessed(tmp_path):
    root = sc.amd_mi300x_partitioned(tmp_path / "cpx")
    nodes = root / "sys/devices/virtual/kfd/kfd/topology/nodes"
    for props in nodes.glob("*/properties"):
        props.unlink()
    nodes_dir_backup = root / "sys/devices/virtual/kfd/kfd/topology/nodes_gone"
    nodes.rename(nodes_dir_backup)
    os.symlink("nodes", nodes)  # a link loop: the folder cannot be listed
    inv = inventory(root)
    assert [g.extra_renders for g in inv.gpus] == [[]] * 8
    assert any("KFD topology cannot be read" in p for p in inv.problems)
    report = report_for(root)
    assert len(device_args(report)) == 1 + 8 + 1
    present = check_of(report, "gpu.present")
    assert present["status"] == "warn"
    assert any("too many levels of links" in line for line in present["evidence"])


# ----- odd sysfs never crashes ------------------------------------------------------------------
def test_garbage_missing_and_unreadable_sysfs_entries_are_skipped_with_notes(tmp_path):
    b = HostRootBuilder(tmp_path)
    sc.populate_amd_laptop_field_guide(b)
    # a VGA device whose vendor is garbage
    path = b.add_pci_device("0000:30:00.0", 0x1002, 0x744C, 0x030000, driver="amdgpu")
    b.write(f"{path}/vendor", "0xZZZZ\n")
    # a device whose class is not hex, one whose class file is missing
    path = b.add_pci_device("0000:31:00.0", 0x1002, 0x744C, 0x030000)
    b.write(f"{path}/class", "VGA compatible\n")
    path = b.add_pci_device("0000:32:00.0", 0x1002, 0x744C, 0x030000)
    (b.root / path.lstrip("/") / "class").unlink()
    # a bus entry that is not a PCI address, and one that is a link loop
    b.symlink("/sys/bus/pci/devices/garbage", "../../../devices/pci0000:00")
    b.symlink("/sys/bus/pci/devices/0000:33:00.0", "0000:33:00.0")
    # a GPU whose drm folder cannot be listed (a link loop), with garbage GC files
    path = b.add_gpu("0000:34:00.0", 0x1002, 0x744C, card=5, render=133, gc_version=(11, 0, 0),
                     by_path=False)
    drm = b.root / path.lstrip("/") / "drm"
    for sub in sorted(drm.rglob("*"), reverse=True):
        sub.unlink() if sub.is_file() or sub.is_symlink() else sub.rmdir()
    drm.rmdir()
    os.symlink("drm", drm)
    b.write(f"{path}/ip_discovery/die/0/GC/0/major", "eleven\n")
    report = report_for(b.finish())
    evidence = "\n".join(check_of(report, "gpu.present")["evidence"])
    assert check_of(report, "gpu.present")["status"] == "warn"
    assert "0000:30:00.0: GPU-class device whose vendor or device attribute" in evidence
    assert "0000:31:00.0/class holds 'VGA compatible', not a hex class code" in evidence
    assert "/sys/bus/pci/devices/garbage: not a PCI address; skipped" in evidence
    assert "0000:33:00.0" in evidence and "too many levels of links" in evidence
    assert "0000:34:00.0/drm: too many levels of links; its DRM nodes are unknown" in evidence
    odd = gpu(report, "0000:34:00.0")
    assert odd["render"] is None and odd["gc_version"] is None
    # the usable GPU is still found and passed; the one with unknown nodes adds nothing
    assert report["docker_run_args"] == LAPTOP_ARGS
    assert "0000:32:00.0" not in [g["pci"] for g in report["gpus"]]


def test_no_readable_pci_bus_is_an_error_not_a_crash(tmp_path):
    b = HostRootBuilder(tmp_path)
    sc._base(b, render_gid=110)
    b.mkdir("/sys/bus/pci")
    b.symlink("/sys/bus/pci/devices", "devices")
    report = report_for(b.finish())
    present = check_of(report, "gpu.present")
    assert present["status"] == "error"
    assert any("/sys/bus/pci/devices: too many levels of links" in e for e in present["evidence"])
    assert report["gpus"] == [] and report["docker_run_args"] == []


# ----- /dev/dri/by-path ----------------------------------------------------------------------
def test_by_path_names_resolve_to_the_real_render_node(roots):
    host = RootHost(str(roots["amd_laptop_field_guide"]))
    assert resolve_node(host, "/dev/dri/by-path/pci-0000:07:00.0-render") == "/dev/dri/renderD128"
    assert resolve_node(host, "/dev/dri/by-path/pci-0000:c8:00.0-card") == "/dev/dri/card2"
    assert resolve_node(host, "/dev/dri/renderD128") == "/dev/dri/renderD128"


def test_gpu_without_drm_in_sysfs_takes_its_nodes_from_by_path(tmp_path):
    b = HostRootBuilder(tmp_path)
    sc.populate_amd_laptop_field_guide(b)
    root = b.finish()
    drm = root / "sys/devices/pci0000:00/0000:00:01.1/0000:05:00.0/0000:06:00.0/0000:07:00.0/drm"
    for sub in sorted(drm.rglob("*"), reverse=True):
        sub.unlink() if sub.is_file() or sub.is_symlink() else sub.rmdir()
    drm.rmdir()
    report = report_for(root)
    assert report["docker_run_args"] == LAPTOP_ARGS
    dgpu = gpu(report, "0000:07:00.0")
    assert (dgpu["card"], dgpu["render"]) == ("/dev/dri/card1", "/dev/dri/renderD128")
    evidence = check_of(report, "gpu.present")["evidence"]
    assert any("took /dev/dri/renderD128 from /dev/dri/by-path/pci-0000:07:00.0-*" in line
               for line in evidence)
    assert all(":" not in a.split("=", 1)[1] for a in report["docker_run_args"])


def test_report_gpus_match_the_inventory_in_process(roots):
    """The report's `gpus` is exactly what the facts layer computed (nothing re-derived)."""
    root = roots["amd_desktop_two_7900xtx_igpu"]
    facts = Facts(RootHost(str(root)), Options())
    expected = [g.to_report() for g in facts.gpus.gpus]
    assert json.loads(json.dumps(expected)) == report_for(root)["gpus"]
