"""The test host roots must look like the kernel's, or code tested on them fails on real hosts.

Every check here reads the built tree with ordinary filesystem calls (readlink, realpath,
stat), the way gpudoctor will.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import scenarios as sc
from tests.support.hostroot import (
    SECURE_BOOT_VAR,
    HostRootBuilder,
    bdf_from_location,
    pci_dev_id,
    sysfs_link_text,
)

LAPTOP_DGPU = "sys/devices/pci0000:00/0000:00:01.1/0000:05:00.0/0000:06:00.0/0000:07:00.0"
LAPTOP_IGPU = "sys/devices/pci0000:00/0000:00:08.1/0000:c8:00.0"
KFD_NODES = "sys/class/kfd/kfd/topology/nodes"
KERNEL_NODE_KEYS = [
    "cpu_cores_count", "simd_count", "mem_banks_count", "caches_count", "io_links_count",
    "p2p_links_count", "cpu_core_id_base", "simd_id_base", "max_waves_per_simd",
    "lds_size_in_kb", "gds_size_in_kb", "num_gws", "wave_front_size", "array_count",
    "simd_arrays_per_engine", "cu_per_simd_array", "simd_per_cu", "max_slots_scratch_cu",
    "gfx_target_version", "vendor_id", "device_id", "location_id", "domain", "drm_render_minor",
    "hive_id", "num_sdma_engines", "num_sdma_xgmi_engines", "num_sdma_queues_per_engine",
    "num_cp_queues",
]  # fmt: skip
HOST_JSON_KEYS = {
    "format", "captured_at", "captured_by", "user", "device_nodes", "processes", "docker",
    "commands",
}  # fmt: skip


def _build(factory: pytest.TempPathFactory, name: str, fn: Callable[[Path], Path]) -> Path:
    return fn(factory.mktemp(name))


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every named scenario, built once for the module."""
    built = {name: sc.build(name, tmp_path_factory.mktemp(name)) for name in sc.SCENARIOS}
    built["generated_amd_8"] = sc.generated(tmp_path_factory.mktemp("gen_amd"), 8)
    built["generated_nvidia_8"] = sc.generated(tmp_path_factory.mktemp("gen_nv"), 8, "nvidia")
    return built


@pytest.fixture(scope="module")
def laptop(roots: dict[str, Path]) -> Path:
    return roots["amd_laptop_field_guide"]


def read(root: Path, rel: str) -> str:
    return (root / rel).read_text()


def kfd_nodes(root: Path) -> list[dict[str, int]]:
    """KFD nodes in index order, properties parsed the way libhsakmt does."""
    base = root / KFD_NODES
    nodes = []
    for index in sorted((int(p.name) for p in base.iterdir()), key=int):
        props = {}
        for line in (base / str(index) / "properties").read_text().splitlines():
            key, value = line.split()
            props[key] = int(value)
        props["gpu_id"] = int((base / str(index) / "gpu_id").read_text())
        nodes.append(props)
    return nodes


def host_json(root: Path) -> dict:
    return json.loads((root / ".gpudoctor/host.json").read_text())


def render_nodes(root: Path) -> list[str]:
    return sorted(
        (p.name for p in (root / "dev/dri").iterdir() if p.name.startswith("renderD")),
        key=lambda n: int(n[7:]),
    )


# --------------------------------------------------------------------------- link text
@pytest.mark.parametrize(
    ("link", "target", "text"),
    [
        ("/sys/bus/pci/devices/0000:07:00.0", "/sys/devices/pci0000:00/0000:00:01.1/0000:07:00.0",
         "../../../devices/pci0000:00/0000:00:01.1/0000:07:00.0"),
        ("/sys/devices/pci0000:00/0000:00:02.0/driver", "/sys/bus/pci/drivers/i915",
         "../../../bus/pci/drivers/i915"),
        ("/sys/devices/pci0000:00/0000:00:02.0/drm/card0/device",
         "/sys/devices/pci0000:00/0000:00:02.0", "../../../0000:00:02.0"),
        ("/sys/module/amdgpu/drivers/pci:amdgpu", "/sys/bus/pci/drivers/amdgpu",
         "../../../bus/pci/drivers/amdgpu"),
        ("/dev/dri/by-path/pci-0000:07:00.0-render", "/dev/dri/renderD128", "../renderD128"),
    ],
)  # fmt: skip
def test_sysfs_link_text_matches_kernfs(link: str, target: str, text: str) -> None:
    assert sysfs_link_text(link, target) == text


def test_location_id_round_trips() -> None:
    assert pci_dev_id("0000:07:00.0") == 0x0700
    assert pci_dev_id("0000:c8:00.1") == 0xC801
    assert bdf_from_location(0, 0x8600) == "0000:86:00.0"
    assert bdf_from_location(2, pci_dev_id("0002:1f:1d.7")) == "0002:1f:1d.7"


# --------------------------------------------------------------------------- every scenario
@pytest.mark.parametrize("name", [*sc.SCENARIOS, "generated_amd_8", "generated_nvidia_8"])
def test_every_link_is_relative_and_stays_inside_the_root(
    roots: dict[str, Path], name: str
) -> None:
    root = roots[name]
    real_root = os.path.realpath(root)
    links = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in dirnames + filenames:
            path = os.path.join(dirpath, entry)
            if not os.path.islink(path):
                continue
            links += 1
            text = os.readlink(path)
            assert not text.startswith("/"), f"{path} -> {text} is absolute"
            resolved = os.path.realpath(path)
            assert resolved.startswith(real_root + os.sep), f"{path} -> {text} leaves the root"
            assert os.path.exists(resolved), f"{path} -> {text} dangles"
    assert links > 0


@pytest.mark.parametrize("name", [*sc.SCENARIOS, "generated_amd_8", "generated_nvidia_8"])
def test_host_json_and_basics(roots: dict[str, Path], name: str) -> None:
    root = roots[name]
    doc = host_json(root)
    assert doc["format"] == 1
    assert doc["captured_by"] == "gpudoctor-tests"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["captured_at"])
    assert set(doc) <= HOST_JSON_KEYS
    assert doc["user"]["name"] == "alice" and doc["user"]["uid"] == 1000
    assert doc["user"]["groups"][0] == 1000
    for path, node in doc["device_nodes"].items():
        assert path.startswith("/dev/")
        assert node["type"] == "char"
        assert re.fullmatch(r"0[0-7]{3}", node["mode"])
        on_disk = root / path.lstrip("/")
        assert on_disk.is_file() and not on_disk.is_symlink() and on_disk.stat().st_size == 0
    assert read(root, "proc/sys/kernel/osrelease").endswith("\n")
    assert "ID=" in read(root, "etc/os-release")
    assert os.readlink(root / "etc/os-release") == "../usr/lib/os-release"
    groups = {line.split(":")[0]: line.split(":") for line in read(root, "etc/group").splitlines()}
    assert groups["video"][2] == "44"
    key = "generated" if name.startswith("generated") else name
    assert int(groups["render"][2]) == sc.RENDER_GID[key]
    assert "alice:x:1000:1000:" in read(root, "etc/passwd")
    # /dev/dri nodes and sysfs agree: every renderD in /dev has its sysfs class entry.
    for node in render_nodes(root) if (root / "dev/dri").exists() else []:
        assert (root / "sys/class/drm" / node / "dev").read_text() == f"226:{node[7:]}\n"


@pytest.mark.parametrize("name", [*sc.SCENARIOS])
def test_kfd_nodes_point_at_existing_render_nodes(roots: dict[str, Path], name: str) -> None:
    root = roots[name]
    if not (root / KFD_NODES).exists():
        return
    nodes = kfd_nodes(root)
    assert nodes[0]["gpu_id"] == 0 and nodes[0]["simd_count"] == 0
    seen_gpu = False
    for node in nodes:
        if node["gpu_id"] == 0:
            assert not seen_gpu, "CPU nodes come before GPU nodes"
            continue
        seen_gpu = True
        minor = node["drm_render_minor"]
        assert (root / f"dev/dri/renderD{minor}").is_file()
        device = os.path.realpath(root / f"sys/class/drm/renderD{minor}/device")
        bdf = bdf_from_location(node["domain"], node["location_id"])
        pci_bdf = bdf[:-1] + "0"
        if "/platform/amdgpu_xcp" in device:  # partition k > 0 carries k in the function bits
            assert bdf != pci_bdf
        else:
            assert os.path.basename(device) == bdf
        assert read(root, f"sys/bus/pci/devices/{pci_bdf}/vendor") == "0x1002\n"


# --------------------------------------------------------------------------- the laptop
def test_laptop_pci_devices_are_links_into_the_nested_bridge_tree(laptop: Path) -> None:
    link = laptop / "sys/bus/pci/devices/0000:07:00.0"
    assert os.readlink(link) == "../../../" + LAPTOP_DGPU.removeprefix("sys/")
    assert os.path.realpath(link) == os.path.realpath(laptop / LAPTOP_DGPU)
    assert os.path.realpath(link).startswith(os.path.realpath(laptop / "sys/devices/pci0000:00"))
    # the switch ports the seed's lspci shows sit between root port and GPU
    assert read(laptop, "sys/bus/pci/devices/0000:05:00.0/device") == "0x1478\n"
    assert read(laptop, "sys/bus/pci/devices/0000:06:00.0/device") == "0x1479\n"
    assert read(laptop, "sys/bus/pci/devices/0000:06:00.0/class") == "0x060400\n"


def test_laptop_attribute_files_hold_kernel_text(laptop: Path) -> None:
    dev = laptop / LAPTOP_DGPU
    assert (dev / "vendor").read_text() == "0x1002\n"
    assert (dev / "device").read_text() == "0x7480\n"
    assert (dev / "class").read_text() == "0x030000\n"
    assert (dev / "revision").read_text() == "0xc0\n"
    assert (dev / "boot_vga").read_text() == "0\n"
    assert (dev / "board_info").read_text() == "type : cem\n"
    gc = [
        (dev / f"ip_discovery/die/0/GC/0/{k}").read_text() for k in ("major", "minor", "revision")
    ]
    assert gc == ["11\n", "0\n", "2\n"]
    assert (dev / "mem_info_vram_total").read_text() == f"{8 * 1024**3}\n"
    igpu = laptop / LAPTOP_IGPU
    assert not (igpu / "board_info").exists()
    assert (igpu / "boot_vga").read_text() == "1\n"
    assert (igpu / "revision").read_text() == "0xc1\n"
    assert read(laptop, "sys/bus/pci/devices/0000:07:00.1/class") == "0x040300\n"
    assert not (laptop / "sys/bus/pci/devices/0000:07:00.1/boot_vga").exists()
    assert "PCI_SLOT_NAME=0000:07:00.0\n" in (dev / "uevent").read_text()


def test_laptop_driver_links(laptop: Path) -> None:
    dev = laptop / LAPTOP_DGPU
    assert os.readlink(dev / "driver") == "../../../../../../bus/pci/drivers/amdgpu"
    assert os.readlink(laptop / LAPTOP_IGPU / "driver") == "../../../../bus/pci/drivers/amdgpu"
    assert os.path.realpath(dev / "driver") == os.path.realpath(
        laptop / "sys/bus/pci/drivers/amdgpu"
    )
    back = laptop / "sys/bus/pci/drivers/amdgpu/0000:07:00.0"
    assert os.path.realpath(back) == os.path.realpath(dev)
    module_link = laptop / "sys/module/amdgpu/drivers/pci:amdgpu"
    assert os.readlink(module_link) == "../../../bus/pci/drivers/amdgpu"
    # the AMD Container Toolkit's glob
    drm = sorted(p.name for p in (module_link / "0000:07:00.0/drm").iterdir())
    assert drm == ["card1", "renderD128"]
    audio = laptop / "sys/bus/pci/devices/0000:07:00.1/driver"
    assert os.path.basename(os.path.realpath(audio)) == "snd_hda_intel"


def test_laptop_drm_class_links(laptop: Path) -> None:
    link = laptop / "sys/class/drm/renderD128"
    text = os.readlink(link)
    assert text.startswith("../../devices/pci0000:00/")
    assert text.endswith("/0000:07:00.0/drm/renderD128")
    assert os.path.realpath(link / "device") == os.path.realpath(laptop / LAPTOP_DGPU)
    assert os.readlink(laptop / LAPTOP_DGPU / "drm/renderD128/device") == "../../../0000:07:00.0"
    assert read(laptop, "sys/class/drm/card2/dev") == "226:2\n"
    assert os.path.realpath(laptop / "sys/class/drm/card2/device") == os.path.realpath(
        laptop / LAPTOP_IGPU
    )
    assert os.path.realpath(laptop / "sys/dev/char/226:129") == os.path.realpath(
        laptop / LAPTOP_IGPU / "drm/renderD129"
    )
    # connectors are class entries too: a card* glob must not take them for cards
    assert (laptop / "sys/class/drm/card2-eDP-1").is_symlink()


def test_laptop_has_no_card0(laptop: Path) -> None:
    assert not (laptop / "dev/dri/card0").exists()
    assert not (laptop / "sys/class/drm/card0").exists()
    assert "/dev/dri/card0" not in host_json(laptop)["device_nodes"]


def test_laptop_by_path_links_resolve_to_the_right_nodes(laptop: Path) -> None:
    by_path = laptop / "dev/dri/by-path"
    expected = {
        "pci-0000:07:00.0-card": "card1",
        "pci-0000:07:00.0-render": "renderD128",
        "pci-0000:c8:00.0-card": "card2",
        "pci-0000:c8:00.0-render": "renderD129",
    }
    assert sorted(p.name for p in by_path.iterdir()) == sorted(expected)
    for name, node in expected.items():
        assert os.readlink(by_path / name) == f"../{node}"
        assert os.path.realpath(by_path / name) == os.path.realpath(laptop / "dev/dri" / node)


def test_laptop_device_nodes_and_groups(laptop: Path) -> None:
    nodes = host_json(laptop)["device_nodes"]
    assert nodes["/dev/kfd"] == {
        "type": "char", "major": 235, "minor": 0, "mode": "0660", "uid": 0, "gid": 110
    }  # fmt: skip
    assert nodes["/dev/dri/renderD128"]["gid"] == 110
    assert nodes["/dev/dri/renderD128"]["minor"] == 128
    assert nodes["/dev/dri/renderD129"]["gid"] == 110
    assert nodes["/dev/dri/card1"]["gid"] == 44 and nodes["/dev/dri/card1"]["major"] == 226
    assert "render:x:110:alice" in read(laptop, "etc/group").splitlines()
    assert 110 in host_json(laptop)["user"]["groups"]
    assert read(laptop, "sys/class/kfd/kfd/dev") == "235:0\n"
    assert "235 kfd" in read(laptop, "proc/devices")


def test_laptop_kfd_topology(laptop: Path) -> None:
    nodes = kfd_nodes(laptop)
    assert len(nodes) == 3
    lines = read(laptop, f"{KFD_NODES}/1/properties").splitlines()
    assert [line.split()[0] for line in lines][: len(KERNEL_NODE_KEYS)] == KERNEL_NODE_KEYS
    assert lines[-1].startswith("max_engine_clk_ccompute ")
    cpu, dgpu, igpu = nodes
    assert cpu["cpu_cores_count"] == 16 and cpu["gfx_target_version"] == 0
    assert dgpu["drm_render_minor"] == 128 and igpu["drm_render_minor"] == 129
    assert bdf_from_location(dgpu["domain"], dgpu["location_id"]) == "0000:07:00.0"
    assert bdf_from_location(igpu["domain"], igpu["location_id"]) == "0000:c8:00.0"
    assert dgpu["gfx_target_version"] == 110002 and igpu["gfx_target_version"] == 110003
    assert dgpu["vendor_id"] == 0x1002 and dgpu["device_id"] == 0x7480
    assert dgpu["gpu_id"] != 0 and igpu["gpu_id"] not in (0, dgpu["gpu_id"])
    assert read(laptop, f"{KFD_NODES}/1/name") == "ip discovery\n"


def test_laptop_modules_and_kernel(laptop: Path) -> None:
    modules = {line.split()[0]: line.split() for line in read(laptop, "proc/modules").splitlines()}
    assert modules["amdgpu"][4] == "Live" and modules["amdgpu"][3] == "-"
    assert read(laptop, "sys/module/amdgpu/initstate") == "live\n"
    assert not (laptop / "sys/module/amdgpu/version").exists()  # in-tree amdgpu has none
    assert read(laptop, "proc/sys/kernel/osrelease") == "6.8.0-45-generic\n"


def test_laptop_pci_ids(laptop: Path) -> None:
    path = laptop / "usr/share/misc/pci.ids"
    lines = path.read_text().splitlines()
    assert "#\tVersion: 2025.06.21" in lines
    assert "#\tDate:    2025-06-21 17:54:14" in lines
    assert "1002  Advanced Micro Devices, Inc. [AMD/ATI]" in lines
    assert "\t7480  Navi 33 [Radeon RX 7600/7600 XT/7600M XT/7600S/7700S / PRO W7600]" in lines
    assert "\t15bf  Phoenix1" in lines and "\tab30  Navi 31 HDMI/DP Audio" in lines
    first_class = lines.index("C 00  Unclassified device")
    assert all(not re.match(r"^[0-9a-f]{4}  ", line) for line in lines[first_class:])
    assert lines[-1] == "C ff  Unassigned class"
    assert int(path.stat().st_mtime) == 1750528454  # 2025-06-21 17:54:14 UTC


def test_pci_ids_cover_every_gpu_in_fresh_scenarios(roots: dict[str, Path]) -> None:
    for name, root in roots.items():
        if name in ("pciids_2023", "vm_no_gpu"):
            continue
        ids = read(root, "usr/share/misc/pci.ids")
        for dev in (root / "sys/bus/pci/devices").iterdir():
            pci_class = int((dev / "class").read_text(), 16)
            if pci_class >> 16 not in (0x03, 0x12):
                continue
            vendor = (dev / "vendor").read_text()[2:6]
            device = (dev / "device").read_text()[2:6]
            section = ids.split(f"\n{vendor}  ", 1)[1].split("\n\n", 1)[0]
            vendor_block = re.split(r"\n[0-9a-f]{4}  ", section, maxsplit=1)[0]
            assert f"\n\t{device}  " in vendor_block, f"{name}: {vendor}:{device} unnamed"


# --------------------------------------------------------------------------- AMD others
def test_desktop_igpu_probed_first(roots: dict[str, Path]) -> None:
    root = roots["amd_desktop_two_7900xtx_igpu"]
    by_path = root / "dev/dri/by-path"
    assert os.readlink(by_path / "pci-0000:12:00.0-render") == "../renderD128"
    assert os.readlink(by_path / "pci-0000:03:00.0-render") == "../renderD129"
    assert os.readlink(by_path / "pci-0000:08:00.0-render") == "../renderD130"
    assert not (root / "sys/bus/pci/devices/0000:12:00.0/board_info").exists()
    assert read(root, "sys/bus/pci/devices/0000:08:00.0/board_info") == "type : cem\n"
    minors = [n["drm_render_minor"] for n in kfd_nodes(root)[1:]]
    assert minors == [128, 129, 130]
    nodes = host_json(root)["device_nodes"]
    assert {nodes[f"/dev/dri/renderD{m}"]["gid"] for m in (128, 129, 130)} == {992}
    assert nodes["/dev/kfd"]["major"] == 509


def test_strix_halo_is_a_display_controller_without_board_info(roots: dict[str, Path]) -> None:
    dev = roots["amd_apu_only_strix_halo"] / "sys/bus/pci/devices/0000:c5:00.0"
    assert (dev / "class").read_text() == "0x038000\n"
    assert not (dev / "boot_vga").exists()  # the PCI core shows it on VGA class only
    assert not (dev / "board_info").exists()
    assert not (dev / "mem_info_vram_vendor").exists()
    assert (dev / "mem_info_vram_total").read_text() == f"{96 * 1024**3}\n"
    (node,) = kfd_nodes(roots["amd_apu_only_strix_halo"])[1:]
    assert node["gfx_target_version"] == 110501 and node["drm_render_minor"] == 128
    assert host_json(roots["amd_apu_only_strix_halo"])["device_nodes"]["/dev/kfd"]["gid"] == 993


def test_kfd_and_render_owned_by_different_groups(roots: dict[str, Path]) -> None:
    root = roots["amd_kfd_render_different_groups"]
    nodes = host_json(root)["device_nodes"]
    assert nodes["/dev/kfd"]["gid"] == 44
    assert nodes["/dev/dri/renderD128"]["gid"] == 105
    assert "ID=debian" in read(root, "etc/os-release")


def test_mi300x_spx_uses_eight_minors_per_gpu(roots: dict[str, Path]) -> None:
    root = roots["amd_mi300x_8"]
    gpu_nodes = [n for n in kfd_nodes(root) if n["gpu_id"]]
    assert [n["drm_render_minor"] for n in gpu_nodes] == list(range(128, 192, 8))
    assert all(n["gfx_target_version"] == 90402 for n in gpu_nodes)
    assert len(render_nodes(root)) == 64
    assert len(list((root / "sys/devices/platform").glob("amdgpu_xcp_*"))) == 56
    dev = root / "sys/bus/pci/devices/0000:26:00.0"
    assert (dev / "class").read_text() == "0x120000\n"
    assert (dev / "board_info").read_text() == "type : oam\n"
    assert (dev / "current_compute_partition").read_text() == "SPX\n"
    assert read(root, "sys/module/amdgpu/version") == "6.12.12\n"
    assert os.path.basename(os.path.realpath(root / "sys/class/drm/renderD136/device")) == (
        "0000:26:00.0"
    )


def test_mi300x_cpx_partitions(roots: dict[str, Path]) -> None:
    root = roots["amd_mi300x_partitioned"]
    nodes = kfd_nodes(root)
    cpu = [n for n in nodes if not n["gpu_id"]]
    gpu = [n for n in nodes if n["gpu_id"]]
    assert len(cpu) == 2 and len(gpu) == 64
    assert sorted(n["drm_render_minor"] for n in gpu) == list(range(128, 192))
    assert len(render_nodes(root)) == 64
    by_unique: dict[int, list[dict[str, int]]] = {}
    for node in gpu:
        by_unique.setdefault(node["unique_id"], []).append(node)
    assert len(by_unique) == 8 and all(len(group) == 8 for group in by_unique.values())
    for group in by_unique.values():
        functions = sorted(n["location_id"] & 7 for n in group)
        assert functions == list(range(8))
        assert len({n["location_id"] >> 3 for n in group}) == 1
    xcp = root / "sys/devices/platform/amdgpu_xcp_0"
    assert sorted(p.name for p in (xcp / "drm").iterdir()) == ["card1", "renderD129"]
    assert os.readlink(root / "sys/class/drm/renderD129") == (
        "../../devices/platform/amdgpu_xcp_0/drm/renderD129"
    )
    assert os.readlink(xcp / "drm/renderD129/device") == "../../../amdgpu_xcp_0"
    assert gpu[1]["simd_count"] == 152 and gpu[1]["num_xcc"] == 1


def test_pciids_2023_is_debian_12s(roots: dict[str, Path]) -> None:
    root = roots["pciids_2023"]
    lines = read(root, "usr/share/misc/pci.ids").splitlines()
    assert "#\tVersion: 2023.04.10" in lines
    assert "#\tDate:    2023-04-10 20:08:02" in lines
    assert "\t7480  Navi 33 [Radeon RX 7700S/7600S]" in lines
    assert "\t15bf  Phoenix1" in lines
    assert not any(line.startswith("\t7550  ") for line in lines)
    assert os.readlink(root / "dev/dri/by-path/pci-0000:66:00.0-render") == "../renderD130"
    assert read(root, "sys/bus/pci/devices/0000:66:00.0/device") == "0x7550\n"


# --------------------------------------------------------------------------- NVIDIA and others
def test_nvidia_laptop(roots: dict[str, Path]) -> None:
    root = roots["nvidia_laptop_intel_igpu"]
    intel = root / "sys/devices/pci0000:00/0000:00:02.0"
    assert os.readlink(intel / "driver") == "../../../bus/pci/drivers/i915"
    assert os.readlink(root / "sys/bus/pci/devices/0000:00:02.0") == (
        "../../../devices/pci0000:00/0000:00:02.0"
    )
    info = read(root, "proc/driver/nvidia/gpus/0000:01:00.0/information")
    fields = dict(line.split(":", 1) for line in info.splitlines())
    assert fields["Model"].strip() == "NVIDIA GeForce RTX 4070 Laptop GPU"
    assert fields["Bus Location"].strip() == "0000:01:00.0"
    assert fields["Device Minor"].strip() == "0"
    assert info.splitlines()[0].startswith("Model:           ")
    version = read(root, "proc/driver/nvidia/version").splitlines()
    assert len(version) == 2 and version[1].startswith("GCC version:")
    assert re.findall(r"\d{3,}\.\d+(?:\.\d+)?", version[0]) == ["550.120"]
    assert read(root, "sys/module/nvidia/version") == "550.120\n"
    modules = {line.split()[0]: line.split() for line in read(root, "proc/modules").splitlines()}
    assert modules["nvidia"][3] == "nvidia_uvm,nvidia_modeset,"
    assert modules["nvidia"][-1] == "(POE)"
    assert {"nvidia_uvm", "nvidia_modeset", "nvidia_drm", "i915"} <= set(modules)
    nodes = host_json(root)["device_nodes"]
    assert nodes["/dev/nvidia-uvm"] == {
        "type": "char", "major": 509, "minor": 0, "mode": "0666", "uid": 0, "gid": 0
    }  # fmt: skip
    assert nodes["/dev/nvidia-uvm-tools"]["minor"] == 1
    assert (nodes["/dev/nvidiactl"]["major"], nodes["/dev/nvidiactl"]["minor"]) == (195, 255)
    assert nodes["/dev/nvidia-modeset"]["minor"] == 254
    assert nodes["/dev/nvidia0"]["minor"] == 0
    assert os.readlink(root / "dev/dri/by-path/pci-0000:01:00.0-render") == "../renderD129"


def test_nvidia_nouveau(roots: dict[str, Path]) -> None:
    root = roots["nvidia_nouveau"]
    driver = root / "sys/bus/pci/devices/0000:01:00.0/driver"
    assert os.path.basename(os.path.realpath(driver)) == "nouveau"
    modules = read(root, "proc/modules")
    assert "nouveau " in modules and "\nnvidia " not in "\n" + modules
    assert (root / "lib/modules/6.8.0-45-generic/updates/dkms/nvidia.ko").is_file()
    assert not list((root / "dev").glob("nvidia*"))


def test_nvidia_secure_boot_blocked(roots: dict[str, Path]) -> None:
    root = roots["nvidia_secure_boot_blocked"]
    data = (root / SECURE_BOOT_VAR.lstrip("/")).read_bytes()
    assert data == b"\x06\x00\x00\x00\x01"
    assert not (root / "sys/bus/pci/devices/0000:01:00.0/driver").exists()
    assert not (root / "sys/module/nvidia").exists()
    assert "nvidia" not in read(root, "proc/modules")
    assert (root / "lib/modules/6.8.0-45-generic/updates/dkms/nvidia.ko").is_file()
    card0 = os.path.realpath(root / "sys/class/drm/card0")
    assert "/sys/devices/platform/simple-framebuffer.0/drm/card0" in card0
    assert render_nodes(root) == []


def test_server_gpus_sit_on_their_own_root_buses(roots: dict[str, Path]) -> None:
    root = roots["server_8gpu_bmc"]
    buses = set()
    for minor, bus in enumerate(("18", "2a", "3a", "5d", "9a", "ab", "ba", "db")):
        link = root / f"sys/bus/pci/devices/0000:{bus}:00.0"
        real = os.path.realpath(link)
        buses.add(real.split("/sys/devices/")[1].split("/")[0])
        assert read(root, f"sys/bus/pci/devices/0000:{bus}:00.0/class") == "0x030200\n"
        assert os.path.basename(os.path.realpath(link / "driver")) == "nvidia"
        info = read(root, f"proc/driver/nvidia/gpus/0000:{bus}:00.0/information")
        assert f"Device Minor:    {minor}\n" in info
    assert len(buses) == 8 and "pci0000:15" in buses
    bmc = root / "sys/bus/pci/devices/0000:03:00.0"
    assert os.path.basename(os.path.realpath(bmc / "driver")) == "ast"
    assert sorted(p.name for p in (bmc / "drm").iterdir()) == ["card0"]
    assert "Open Kernel Module" in read(root, "proc/driver/nvidia/version")
    assert sorted(host_json(root)["device_nodes"]) == sorted(
        [f"/dev/nvidia{i}" for i in range(8)]
        + ["/dev/dri/card0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
    )


def test_vm_has_no_gpu_for_containers(roots: dict[str, Path]) -> None:
    root = roots["vm_no_gpu"]
    assert render_nodes(root) == []
    assert not (root / "dev/kfd").exists()
    vga = root / "sys/bus/pci/devices/0000:00:02.0"
    assert os.path.basename(os.path.realpath(vga / "driver")) == "bochs-drm"
    assert os.path.basename(os.path.realpath(vga / "driver/module")) == "bochs"
    modules = read(root, "proc/modules")
    for gpu_module in ("amdgpu", "nvidia", "i915", "nouveau"):
        assert gpu_module not in modules


# --------------------------------------------------------------------------- builder API
def test_builder_api_round_trip(tmp_path: Path) -> None:
    b = HostRootBuilder(tmp_path / "root")
    written = b.write("/etc/docker/daemon.json", "{}\n", mode=0o600, mtime=1700000000.0)
    assert written == b.root / "etc/docker/daemon.json"
    assert written.stat().st_mode & 0o777 == 0o600 and written.stat().st_mtime == 1700000000.0
    b.symlink("/usr/bin/docker", "/usr/libexec/docker/cli")
    assert os.readlink(b.root / "usr/bin/docker") == "/usr/libexec/docker/cli"
    # `..` never climbs above the root, as under chroot
    assert b.write("../../escape", "x") == b.root / "escape"
    with pytest.raises(ValueError):
        b.write("/", "x")
    b.set_secure_boot(False)
    assert (b.root / SECURE_BOOT_VAR.lstrip("/")).read_bytes() == b"\x06\x00\x00\x00\x00"
    b.set_docker(error="Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
    b.add_process(1423, "dockerd", "/usr/bin/dockerd", ["/usr/bin/dockerd", "-H", "fd://"])
    b.add_command("nvidia-smi", ["nvidia-smi", "-q", "-x"], stdout="<xml/>")
    b.set_host_json(extra={"a": 1})
    b.finish()
    doc = host_json(b.root)
    assert doc["docker"] == {
        "error": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    }
    assert doc["processes"][0]["create_time"] == 1795000000.0
    assert doc["processes"][0]["env_path"].startswith("/usr/local/sbin:")
    assert doc["commands"]["nvidia-smi"]["argv"] == ["nvidia-smi", "-q", "-x"]
    assert doc["extra"] == {"a": 1}
    assert "user" not in doc and "device_nodes" not in doc  # not captured: keys absent
    assert not (b.root / "etc/group").exists()
    b.set_docker(info={"ServerVersion": "28.5.1"}, version={"Version": "28.5.1"})
    b.finish()  # finish may run again after more changes
    assert host_json(b.root)["docker"]["info"]["ServerVersion"] == "28.5.1"


def test_populate_functions_leave_room_for_more_facts(tmp_path: Path) -> None:
    b = HostRootBuilder(tmp_path)
    sc.SCENARIOS["amd_laptop_field_guide"](b)
    b.add_process(2001, "dockerd", "/usr/bin/dockerd", ["/usr/bin/dockerd"])
    doc = host_json(b.finish())
    assert doc["processes"][0]["name"] == "dockerd"
    assert doc["device_nodes"]["/dev/dri/renderD128"]["gid"] == 110


def test_add_module_holders_and_builtin(tmp_path: Path) -> None:
    b = HostRootBuilder(tmp_path)
    b.add_module("nvidia", version="580.95.05", refcnt=1, used_by=["nvidia_uvm"], taint="OE")
    b.add_module("nvidia_uvm", version="580.95.05", refcnt=0, taint="OE", live=False)
    b.add_builtin_module_dir("pcieport")
    b.add_module_file("6.8.0-45-generic", "updates/dkms/nvidia.ko")
    b.finish()
    lines = read(b.root, "proc/modules").splitlines()
    assert lines[0].startswith("nvidia_uvm ") and "Loading" in lines[0]  # newest first
    assert lines[1].endswith(" Live 0x0000000000000000 (OE)")
    assert os.readlink(b.root / "sys/module/nvidia/holders/nvidia_uvm") == "../../nvidia_uvm"
    assert read(b.root, "sys/module/nvidia_uvm/initstate") == "coming\n"
    assert not (b.root / "sys/module/pcieport/initstate").exists()
    assert (b.root / "lib/modules/6.8.0-45-generic/updates/dkms/nvidia.ko").is_file()


def test_drm_minor_allocation_follows_the_kernel() -> None:
    pairs = sc.drm_minor_pairs(66)
    assert pairs[0] == (0, 128) and pairs[63] == (63, 191)
    assert pairs[64] == (193, 192) and pairs[65] == (195, 194)


# --------------------------------------------------------------------------- benchmarks
@pytest.mark.parametrize("vendor", ["amd", "nvidia"])
@pytest.mark.machine  # a wall-clock bound: no other test's load beside it
def test_generated_64_builds_fast(tmp_path: Path, vendor: str) -> None:
    # About 0.2 s on an idle 2-core machine; the bound only catches accidental quadratic work
    # without failing on a CI machine busy with the docker tests.
    start = time.perf_counter()
    root = sc.generated(tmp_path, 64, vendor)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"generated(64, {vendor}) took {elapsed:.2f}s"
    gpus = [
        d for d in (root / "sys/bus/pci/devices").iterdir()
        if (d / "class").read_text() in ("0x120000\n", "0x030200\n")
    ]  # fmt: skip
    assert len(gpus) == 64
    if vendor == "amd":
        assert len(render_nodes(root)) == 64
        assert len([n for n in kfd_nodes(root) if n["gpu_id"]]) == 64
    else:
        assert len(list((root / "proc/driver/nvidia/gpus").iterdir())) == 64
