"""Named host roots that tests of several issues share.

Each public function `NAME(root) -> Path` builds and finishes a root. To add facts (a Docker
daemon, processes, recorded commands) before host.json is written, call the populate function
instead: `b = HostRootBuilder(root); SCENARIOS[NAME](b); b.set_docker(...); b.finish()`.

Common to all: kernel release, os-release (etc/os-release -> ../usr/lib/os-release),
etc/group and etc/passwd with the usual Debian/Ubuntu system groups (root 0, adm 4, cdrom 24,
sudo 27, dip 30, video 44, plugdev 46, users 100, systemd groups 994-999), a `render` group,
`docker` 988, user "alice" uid/gid 1000, and host.json `user` = alice with groups
[1000, then supplementary GIDs ascending]. alice is in video, render and docker unless stated.
pci.ids is the fresh 2025.06.21 subset at usr/share/misc/pci.ids unless stated. No `docker`,
`processes` or `commands` keys: tests add them. Device nodes are empty files plus host.json
entries; `--group-add` expectations list GIDs in node order (kfd first, then render nodes in
the order of the selected GPUs), each once.

Per scenario (GIDs also in `RENDER_GID`):

amd_laptop_field_guide -- the seed's laptop; 6.8.0-45-generic, Ubuntu 24.04.1
    0000:07:00.0 1002:7480 RX 7700S, class 0x030000, amdgpu, card1 + renderD128, board_info,
        GC 11.0.2, KFD node 1, behind 00:01.1 -> 05:00.0 (1002:1478) -> 06:00.0 (1002:1479)
    0000:07:00.1 1002:ab30 HDMI audio, snd_hda_intel (not a GPU)
    0000:c8:00.0 1002:15bf Phoenix1 iGPU, class 0x030000, amdgpu, card2 + renderD129, no
        board_info, GC 11.0.1, KFD node 2, boot_vga 1, behind 00:08.1; c8:00.1 1002:1640 audio
    no card0 (simpledrm's, gone); /dev/kfd 235:0; render 110 owns kfd + renderD*, video 44 card*
    expect: selected [0000:07:00.0];
        --device=/dev/kfd --device=/dev/dri/renderD128 --group-add=110

amd_desktop_two_7900xtx_igpu -- 6.8.0-45-generic, Ubuntu 24.04.1
    0000:12:00.0 1002:164e Raphael iGPU, probed first: card0 + renderD128, GC 10.3.6, no
        board_info, KFD node 1
    0000:03:00.0 1002:744c RX 7900 XTX: card1 + renderD129, KFD node 2
    0000:08:00.0 1002:744c RX 7900 XTX: card2 + renderD130, KFD node 3 (both GC 11.0.0,
        board_info, each behind root port -> 1002:1478 -> 1002:1479); audio on .1
    /dev/kfd 509:0; render 992
    expect: selected [03:00.0, 08:00.0]; --device=/dev/kfd --device=/dev/dri/renderD129
        --device=/dev/dri/renderD130 --group-add=992

amd_apu_only_strix_halo -- 6.14.0-29-generic, Ubuntu 24.04.3
    0000:c5:00.0 1002:1586 Strix Halo, class 0x038000 (Display controller, as real Strix
        parts report; so no boot_vga file), card0 + renderD128, GC 11.5.1, gfx 110501, no
        board_info, VRAM 96 GiB carve-out, GTT 15 GiB, KFD node 1; c5:00.1 audio
    /dev/kfd 238:0; render 993
    expect: integrated and selected; --device=/dev/kfd --device=/dev/dri/renderD128
        --group-add=993

amd_kfd_render_different_groups -- 6.12.12+bpo-amd64, Debian 12
    0000:03:00.0 1002:744c RX 7900 XTX, card0 + renderD128, KFD node 1
    /dev/kfd 234:0 owned by video 44 (old ROCm rule, etc/udev/rules.d/70-kfd.rules);
        renderD128 owned by render 105
    expect: --device=/dev/kfd --device=/dev/dri/renderD128 --group-add=44 --group-add=105
        (GIDs in node order: kfd first)

nvidia_laptop_intel_igpu -- 6.8.0-45-generic, Ubuntu 24.04.1
    0000:00:02.0 8086:a7a0 Iris Xe, i915, card0 + renderD128, integrated, boot_vga 1
    0000:01:00.0 10de:2860 RTX 4070 Laptop, nvidia, card1 + renderD129 (nvidia-drm
        modeset=Y), minor 0, behind 00:01.0
    modules nvidia, nvidia_modeset, nvidia_uvm, nvidia_drm 550.120 (POE); proprietary
        proc/driver/nvidia/version; /dev/nvidia0 195:0, nvidiactl 195:255, nvidia-modeset
        195:254, nvidia-uvm 509:0, nvidia-uvm-tools 509:1, all 0666 root:root; render 992
    expect: selected [01:00.0]

nvidia_nouveau -- 6.8.0-45-generic, Ubuntu 24.04.1
    0000:01:00.0 10de:2684 RTX 4090 bound to nouveau, card0 + renderD128; 01:00.1 audio
    nouveau loaded, nvidia not; lib/modules/<rel>/updates/dkms/nvidia{,-uvm,-modeset,-drm}.ko
        present; no /dev/nvidia*; render 992
    expect: kernel.driver fails (nouveau holds the GPU)

nvidia_secure_boot_blocked -- 6.8.0-45-generic, Ubuntu 24.04.1
    0000:01:00.0 10de:2684 RTX 4090, no driver bound; 01:00.1 audio
    DKMS nvidia*.ko built, not loaded; nouveau blacklisted (etc/modprobe.d); simpledrm's card0
        on platform simple-framebuffer.0 (no render node, not a GPU); Secure Boot on (efivar
        bytes 06 00 00 00 01); render 992
    expect: kernel.driver fails; Secure Boot is the likely cause

server_8gpu_bmc -- 6.8.0-45-generic, Ubuntu 22.04.5
    8 x 10de:2330 H100, class 0x030200, nvidia, minors 0-7 at 0000:{18,2a,3a,5d,9a,ab,ba,db}:00.0,
        each on its own root bus (pci0000:15, ...) behind a 1000:c030 switch; no DRM nodes
    0000:03:00.0 1a03:2000 ASPEED BMC VGA, ast, card0 (no render node), boot_vga 1
    modules nvidia, nvidia_uvm 580.95.05 (OE), open-module version file; /dev/nvidia0-7,
        nvidiactl, nvidia-uvm 510:0, nvidia-uvm-tools 510:1; render 991
    expect: the 8 H100s selected, the BMC not a GPU

amd_mi300x_8 -- 6.8.0-45-generic + amdgpu-dkms 6.12.12 (OE), Ubuntu 22.04.5
    8 x 1002:74a1 MI300X, class 0x120000, board_info "type : oam", GC 9.4.3, gfx 90402, SPX,
        at 0000:{05,26,46,65,85,a6,c6,e5}:00.0 (root port -> 1000:c030 -> 1000:c030)
    GPU g: card 8g + renderD 128+8g (renderD128, 136, ..., 184), KFD node 2+g
    plus 7 partition devices per GPU that the kernel always creates:
        /sys/devices/platform/amdgpu_xcp_{7g..7g+6}/drm/{card 8g+1.., renderD 129+8g..},
        with /dev/dri nodes but no KFD nodes (invalid in SPX)
    2 CPU KFD nodes; /dev/kfd 511:0; render 110
    expect: the 8 PCI GPUs selected; --device=/dev/kfd --device=/dev/dri/renderD128
        --device=/dev/dri/renderD136 ... --device=/dev/dri/renderD184 --group-add=110

amd_mi300x_partitioned(partitions_per_gpu=8) -- as amd_mi300x_8, compute mode CPX
    every partition valid: 64 KFD GPU nodes after the 2 CPU nodes, GPU by GPU; partition k of
    GPU g: renderD 128+8g+k, location_id = pci_dev_id | k (so it decodes to function .k),
    unique_id = the GPU's; 64 render nodes in all; render 110

pciids_2023 -- 6.12.38+deb12-amd64, Debian 12
    amd_laptop_field_guide's hardware, plus an RX 9070 XT eGPU 0000:66:00.0 1002:7550
        (USB4 tunnel 00:04.1 -> 64:00.0 -> 65:00.0), hot-plugged after boot: card3 +
        renderD130, GC 12.0.1, KFD node 3
    pci.ids: Debian 12's 2023.04.10 excerpt: has 15bf "Phoenix1", names 7480 "Navi 33
        [Radeon RX 7700S/7600S]", lacks 7550 and ab30; render 110
    expect: selected [07:00.0, 66:00.0]; pciids.fresh warns (old, 7550 unnamed)

vm_no_gpu -- 6.8.0-45-generic, Ubuntu 24.04.1, QEMU i440FX
    0000:00:02.0 1234:1111 Bochs VGA, bochs-drm, card0, no render node (vendor 1234 is absent
        from pci.ids, as in reality); virtio-net 00:03.0, virtio-blk 00:04.0 (virtio-pci)
    modules bochs, virtio_net; no GPU modules; no /dev/kfd; render 992
    expect: no GPU for containers; empty docker_run_args

generated(n_gpus, vendor="amd"|"nvidia") -- 6.8.0-45-generic, Ubuntu 22.04.5; for benchmarks
    n MI300X-like GPUs (74a1, KFD nodes, one card + render each, no partition devices) or
    H100-like ones (2330, nvidia minors 0..n-1); GPU i at <i//128>:<i%128+1>:00.0 behind its
    own root port; DRM minors as drm_minor_alloc hands them out (`drm_minor_pairs`); render 992
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tests.support.hostroot import HostRootBuilder
from tests.support.pciids_sample import (
    PCI_IDS_2023_DEBIAN12,
    PCI_IDS_2023_VERSION,
    PCI_IDS_2025,
    PCI_IDS_2025_VERSION,
)

GiB = 1024**3
ALICE_UID = 1000
VIDEO_GID = 44
DOCKER_GID = 988

# GIDs of the render group per scenario, for tests that assert --group-add.
RENDER_GID = {
    "amd_laptop_field_guide": 110,
    "amd_desktop_two_7900xtx_igpu": 992,
    "amd_apu_only_strix_halo": 993,
    "amd_kfd_render_different_groups": 105,
    "nvidia_laptop_intel_igpu": 992,
    "nvidia_nouveau": 992,
    "nvidia_secure_boot_blocked": 992,
    "server_8gpu_bmc": 991,
    "amd_mi300x_8": 110,
    "amd_mi300x_partitioned": 110,
    "pciids_2023": 110,
    "vm_no_gpu": 992,
    "generated": 992,
}

_SYSTEM_GROUPS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("root", 0, ()), ("daemon", 1, ()), ("bin", 2, ()), ("sys", 3, ()),
    ("adm", 4, ("syslog", "alice")), ("tty", 5, ()), ("disk", 6, ()), ("lp", 7, ()),
    ("mail", 8, ()), ("news", 9, ()), ("uucp", 10, ()), ("man", 12, ()), ("proxy", 13, ()),
    ("kmem", 15, ()), ("dialout", 20, ()), ("fax", 21, ()), ("voice", 22, ()),
    ("cdrom", 24, ("alice",)), ("floppy", 25, ()), ("tape", 26, ()), ("sudo", 27, ("alice",)),
    ("audio", 29, ()), ("dip", 30, ("alice",)), ("www-data", 33, ()), ("backup", 34, ()),
    ("operator", 37, ()), ("list", 38, ()), ("irc", 39, ()), ("src", 40, ()),
    ("shadow", 42, ()), ("utmp", 43, ()), ("video", VIDEO_GID, ()), ("sasl", 45, ()),
    ("plugdev", 46, ("alice",)), ("staff", 50, ()), ("games", 60, ()), ("users", 100, ("alice",)),
    ("nogroup", 65534, ()), ("systemd-journal", 999, ()), ("systemd-network", 998, ()),
    ("systemd-timesync", 997, ()), ("input", 996, ()), ("sgx", 995, ()), ("kvm", 994, ()),
)  # fmt: skip


def _base(
    b: HostRootBuilder,
    *,
    render_gid: int,
    kernel: str = "6.8.0-45-generic",
    pretty: str = "Ubuntu 24.04.1 LTS",
    os_id: str = "ubuntu",
    version_id: str = "24.04",
    alice_in: Sequence[str] = ("video", "render", "docker"),
    pci_ids: str = "2025",
    cmdline: str | None = None,
) -> None:
    """Identity every scenario shares: kernel, OS, groups, users, the diagnosed user, pci.ids."""
    b.set_kernel(
        kernel, cmdline or f"BOOT_IMAGE=/boot/vmlinuz-{kernel} root=/dev/nvme0n1p2 ro quiet splash"
    )
    b.set_os_release(pretty, os_id, version_id)
    supplementary: list[int] = []
    for name, gid, members in _SYSTEM_GROUPS:
        wanted = list(members)
        if name in alice_in:
            wanted.append("alice")
        b.add_group(name, gid, wanted)
        if "alice" in wanted:
            supplementary.append(gid)
    for name, gid in (("render", render_gid), ("docker", DOCKER_GID)):
        member = name in alice_in
        b.add_group(name, gid, ["alice"] if member else [])
        if member:
            supplementary.append(gid)
    b.add_group("alice", ALICE_UID)
    b.add_user("root", 0, 0)
    b.add_user("daemon", 1, 1, "/usr/sbin")
    b.add_user("nobody", 65534, 65534, "/nonexistent")
    b.add_user("syslog", 104, 4, "/nonexistent")
    b.add_user("alice", ALICE_UID, ALICE_UID)
    b.set_user("alice", ALICE_UID, ALICE_UID, [ALICE_UID, *sorted(supplementary)])
    if pci_ids == "2025":
        b.write_pci_ids(
            version=PCI_IDS_2025_VERSION[0], date=PCI_IDS_2025_VERSION[1], entries=PCI_IDS_2025
        )
    elif pci_ids == "2023":
        b.write_pci_ids(
            version=PCI_IDS_2023_VERSION[0],
            date=PCI_IDS_2023_VERSION[1],
            entries=PCI_IDS_2023_DEBIAN12,
        )


def drm_minor_pairs(
    count: int, first_card: int = 0, first_render: int = 128
) -> list[tuple[int, int]]:
    """(card, render) minors for `count` DRM devices probed in order, as drm_minor_alloc does.

    Cards take 0-63 and render nodes 128-191 first; past those both draw from one shared
    extended range starting at 192, render before card for each device.
    """
    pairs: list[tuple[int, int]] = []
    card, render, extended = first_card, first_render, 192
    for _ in range(count):
        if render <= 191:
            r, render = render, render + 1
        else:
            r, extended = extended, extended + 1
        if card <= 63:
            c, card = card, card + 1
        else:
            c, extended = extended, extended + 1
        pairs.append((c, r))
    return pairs


# ------------------------------------------------------------------------ AMD
def _laptop_hardware(b: HostRootBuilder) -> None:
    """The field guide's laptop: RX 7700S behind a PCIe switch, Phoenix1 iGPU, no card0."""
    b.add_module("amdgpu", size=19578880, refcnt=31)
    b.add_module("snd_hda_intel", size=61440, refcnt=4)
    b.add_kfd_device(major=235)
    b.add_kfd_cpu_node(cpu_cores=16, clk_mhz=5263)
    b.add_pci_bridge("0000:00:01.1", vendor=0x1022, device=0x14ED)
    b.add_pci_bridge("0000:05:00.0", parent="0000:00:01.1", vendor=0x1002, device=0x1478)
    b.add_pci_bridge("0000:06:00.0", parent="0000:05:00.0", vendor=0x1002, device=0x1479)
    b.add_gpu(
        "0000:07:00.0", 0x1002, 0x7480, 0x030000, parent="0000:06:00.0", card=1, render=128,
        subsystem_vendor=0xF111, subsystem_device=0x0006, revision=0xC0, board_info=True,
        gc_version=(11, 0, 2), vram_bytes=8 * GiB, gtt_bytes=15 * GiB, kfd_node=True,
        connectors=("DP-1", "DP-2"),
    )  # fmt: skip
    b.add_pci_device(
        "0000:07:00.1", 0x1002, 0xAB30, 0x040300, parent="0000:06:00.0", driver="snd_hda_intel",
        subsystem_vendor=0x1002, subsystem_device=0xAB30,
    )  # fmt: skip
    b.add_pci_bridge("0000:00:08.1", vendor=0x1022, device=0x14EB)
    b.add_gpu(
        "0000:c8:00.0", 0x1002, 0x15BF, 0x030000, parent="0000:00:08.1", card=2, render=129,
        subsystem_vendor=0xF111, subsystem_device=0x0006, revision=0xC1, board_info=False,
        gc_version=(11, 0, 1), vram_bytes=512 * 1024**2, gtt_bytes=15 * GiB, kfd_node=True,
        boot_vga=1, connectors=("eDP-1",),
    )  # fmt: skip
    b.add_pci_device(
        "0000:c8:00.1", 0x1002, 0x1640, 0x040300, parent="0000:00:08.1", driver="snd_hda_intel",
        subsystem_vendor=0xF111, subsystem_device=0x0006,
    )  # fmt: skip


def populate_amd_laptop_field_guide(b: HostRootBuilder) -> None:
    """The seed's laptop exactly as its `lspci` and `ls -l /dev/dri/by-path` show it."""
    _base(b, render_gid=RENDER_GID["amd_laptop_field_guide"])
    _laptop_hardware(b)


def populate_amd_desktop_two_7900xtx_igpu(b: HostRootBuilder) -> None:
    """Two RX 7900 XTX plus a Raphael iGPU that amdgpu probed first (card0/renderD128)."""
    _base(b, render_gid=RENDER_GID["amd_desktop_two_7900xtx_igpu"])
    b.add_module("amdgpu", size=19578880, refcnt=40)
    b.add_module("snd_hda_intel", size=61440, refcnt=6)
    b.add_kfd_device(major=509)
    b.add_kfd_cpu_node(cpu_cores=32, clk_mhz=5756)
    b.add_pci_bridge("0000:00:08.1", vendor=0x1022, device=0x14DD)
    b.add_gpu(
        "0000:12:00.0", 0x1002, 0x164E, 0x030000, parent="0000:00:08.1", card=0, render=128,
        subsystem_vendor=0x1462, subsystem_device=0x7E12, revision=0xC1, board_info=False,
        gc_version=(10, 3, 6), vram_bytes=512 * 1024**2, gtt_bytes=31 * GiB, kfd_node=True,
    )  # fmt: skip
    b.add_pci_device(
        "0000:12:00.1", 0x1002, 0x1640, 0x040300, parent="0000:00:08.1", driver="snd_hda_intel"
    )
    for root_port, up, down, gpu, card, render, vga in (
        ("0000:00:01.1", "0000:01:00.0", "0000:02:00.0", "0000:03:00.0", 1, 129, 1),
        ("0000:00:01.2", "0000:06:00.0", "0000:07:00.0", "0000:08:00.0", 2, 130, 0),
    ):
        b.add_pci_bridge(root_port, vendor=0x1022, device=0x14DB)
        b.add_pci_bridge(up, parent=root_port, vendor=0x1002, device=0x1478)
        b.add_pci_bridge(down, parent=up, vendor=0x1002, device=0x1479)
        b.add_gpu(
            gpu, 0x1002, 0x744C, 0x030000, parent=down, card=card, render=render,
            subsystem_vendor=0x1DA2, subsystem_device=0x471E, revision=0xC8, board_info=True,
            gc_version=(11, 0, 0), vram_bytes=24 * GiB, gtt_bytes=31 * GiB, kfd_node=True,
            boot_vga=vga, connectors=("DP-1", "HDMI-A-1"),
        )  # fmt: skip
        b.add_pci_device(
            gpu[:-1] + "1", 0x1002, 0xAB30, 0x040300, parent=down, driver="snd_hda_intel"
        )


def populate_amd_apu_only_strix_halo(b: HostRootBuilder) -> None:
    """A Ryzen AI Max+ 395 box: the APU is the only GPU, so it must be selected."""
    _base(
        b, render_gid=RENDER_GID["amd_apu_only_strix_halo"], kernel="6.14.0-29-generic",
        pretty="Ubuntu 24.04.3 LTS",
    )  # fmt: skip
    b.add_module("amdgpu", size=20037632, refcnt=12)
    b.add_module("snd_hda_intel", size=61440, refcnt=2)
    b.add_kfd_device(major=238)
    b.add_kfd_cpu_node(cpu_cores=32, clk_mhz=5187)
    b.add_pci_bridge("0000:00:08.1", vendor=0x1022, device=0x150C)
    b.add_gpu(
        "0000:c5:00.0", 0x1002, 0x1586, 0x038000, parent="0000:00:08.1", card=0, render=128,
        subsystem_vendor=0x1D05, subsystem_device=0x5006, revision=0xC1, board_info=False,
        gc_version=(11, 5, 1), gfx_target_version=110501, vram_bytes=96 * GiB,
        gtt_bytes=15 * GiB, kfd_node=True, connectors=("DP-1", "HDMI-A-1"),
    )  # fmt: skip
    b.add_pci_device(
        "0000:c5:00.1", 0x1002, 0x1640, 0x040300, parent="0000:00:08.1", driver="snd_hda_intel"
    )


def populate_amd_kfd_render_different_groups(b: HostRootBuilder) -> None:
    """/dev/kfd left to video by an old ROCm udev rule while renderD128 belongs to render."""
    _base(
        b, render_gid=RENDER_GID["amd_kfd_render_different_groups"],
        kernel="6.12.12+bpo-amd64", pretty="Debian GNU/Linux 12 (bookworm)", os_id="debian",
        version_id="12",
    )  # fmt: skip
    b.write(
        "/etc/udev/rules.d/70-kfd.rules",
        'SUBSYSTEM=="kfd", KERNEL=="kfd", TAG+="uaccess", GROUP="video"\n',
    )
    b.add_module("amdgpu", size=19578880, refcnt=20)
    b.add_kfd_device(major=234, gid=VIDEO_GID)
    b.add_kfd_cpu_node(cpu_cores=24)
    b.add_pci_bridge("0000:00:01.1", vendor=0x1022, device=0x14DB)
    b.add_pci_bridge("0000:01:00.0", parent="0000:00:01.1", vendor=0x1002, device=0x1478)
    b.add_pci_bridge("0000:02:00.0", parent="0000:01:00.0", vendor=0x1002, device=0x1479)
    b.add_gpu(
        "0000:03:00.0", 0x1002, 0x744C, 0x030000, parent="0000:02:00.0", card=0, render=128,
        revision=0xC8, board_info=True, gc_version=(11, 0, 0), vram_bytes=24 * GiB,
        gtt_bytes=31 * GiB, kfd_node=True, boot_vga=1,
    )  # fmt: skip


def _mi300x_hardware(b: HostRootBuilder, partitions_per_gpu: int) -> None:
    """8 MI300X as an AMD-CPU server shows them, with the 7 amdgpu_xcp devices per GPU."""
    if partitions_per_gpu not in (1, 2, 4, 8):
        raise ValueError("MI300X compute partitions: 1 (SPX), 2 (DPX), 4 (QPX) or 8 (CPX)")
    mode = {1: "SPX", 2: "DPX", 4: "QPX", 8: "CPX"}[partitions_per_gpu]
    for name, size in (("amdkcl", 40960), ("amdttm", 110592), ("amddrm_buddy", 20480),
                       ("amd_sched", 61440), ("amdxcp", 12288)):  # fmt: skip
        b.add_module(name, size=size, refcnt=1, used_by=("amdgpu",), taint="OE")
    b.add_module("amdgpu", version="6.12.12", size=19841024, refcnt=4, taint="OE")
    b.add_kfd_device(major=511)
    b.add_kfd_cpu_node(cpu_cores=96, core_id_base=0, clk_mhz=3700)
    b.add_kfd_cpu_node(cpu_cores=96, core_id_base=96, clk_mhz=3700)
    per_part = {
        "simd_count": 1216 // partitions_per_gpu,
        "array_count": 32 // partitions_per_gpu,
        "num_xcc": 8 // partitions_per_gpu,
        "caches_count": 512 // partitions_per_gpu,
        "hive_id": 10641993829461432373,  # one XGMI hive for all eight
    }
    for g, bus in enumerate((0x05, 0x26, 0x46, 0x65, 0x85, 0xA6, 0xC6, 0xE5)):
        root_port = f"0000:{bus & 0xE0:02x}:01.1"
        up, down, bdf = (
            f"0000:{bus - 2:02x}:00.0",
            f"0000:{bus - 1:02x}:00.0",
            f"0000:{bus:02x}:00.0",
        )
        b.add_pci_bridge(root_port, vendor=0x1022, device=0x14AB)
        b.add_pci_bridge(up, parent=root_port, vendor=0x1000, device=0xC030)
        b.add_pci_bridge(down, parent=up, vendor=0x1000, device=0xC030)
        path = b.add_gpu(
            bdf, 0x1002, 0x74A1, 0x120000, parent=down, card=8 * g, render=128 + 8 * g,
            subsystem_vendor=0x1002, subsystem_device=0x74A1, revision=0x00, board_info=True,
            board_type="oam", gc_version=(9, 4, 3), gfx_target_version=90402,
            vram_bytes=192 * GiB, gtt_bytes=1024 * GiB, kfd_node=True,
            numa_node=0 if g < 4 else 1, vram_vendor="hynix", kfd_props=per_part,
        )  # fmt: skip
        b.write(f"{path}/current_compute_partition", f"{mode}\n")
        b.write(f"{path}/available_compute_partition", "SPX, DPX, QPX, CPX\n")
        b.write(f"{path}/current_memory_partition", "NPS1\n")
        b.write(f"{path}/available_memory_partition", "NPS1, NPS4\n")
        for k in range(1, 8):
            b.add_amdgpu_xcp(
                bdf, xcp_index=7 * g + k - 1, partition=k, card=8 * g + k,
                render=128 + 8 * g + k, kfd_node=k < partitions_per_gpu,
            )  # fmt: skip


def populate_amd_mi300x_8(b: HostRootBuilder) -> None:
    """8 MI300X in SPX mode: render nodes 128, 136, ..., 184 (8 minors per GPU)."""
    _base(b, render_gid=RENDER_GID["amd_mi300x_8"], pretty="Ubuntu 22.04.5 LTS", version_id="22.04")
    _mi300x_hardware(b, 1)


def populate_amd_mi300x_partitioned(b: HostRootBuilder, partitions_per_gpu: int = 8) -> None:
    """8 MI300X split into compute partitions (CPX by default): 64 render nodes in KFD."""
    _base(
        b, render_gid=RENDER_GID["amd_mi300x_partitioned"], pretty="Ubuntu 22.04.5 LTS",
        version_id="22.04",
    )  # fmt: skip
    _mi300x_hardware(b, partitions_per_gpu)


def populate_pciids_2023(b: HostRootBuilder) -> None:
    """The field guide's laptop on Debian 12 with its stale pci.ids, plus an RX 9070 XT eGPU."""
    _base(
        b, render_gid=RENDER_GID["pciids_2023"], kernel="6.12.38+deb12-amd64",
        pretty="Debian GNU/Linux 12 (bookworm)", os_id="debian", version_id="12", pci_ids="2023",
    )  # fmt: skip
    _laptop_hardware(b)
    b.add_pci_bridge("0000:00:04.1", vendor=0x1022, device=0x14EF)
    b.add_pci_bridge("0000:64:00.0", parent="0000:00:04.1", vendor=0x1002, device=0x1478)
    b.add_pci_bridge("0000:65:00.0", parent="0000:64:00.0", vendor=0x1002, device=0x1479)
    b.add_gpu(
        "0000:66:00.0", 0x1002, 0x7550, 0x030000, parent="0000:65:00.0", card=3, render=130,
        subsystem_vendor=0x1DA2, subsystem_device=0xE490, revision=0xC0, board_info=True,
        gc_version=(12, 0, 1), vram_bytes=16 * GiB, gtt_bytes=15 * GiB, kfd_node=True,
    )  # fmt: skip


# ------------------------------------------------------------------------ NVIDIA
def _nvidia_modules(b: HostRootBuilder, version: str, taint: str, drm: bool) -> None:
    """The NVIDIA module stack in load order, with holders as the kernel links them."""
    b.add_module("nvidia", version=version, size=54321152, refcnt=2 + (1 if drm else 0),
                 used_by=("nvidia_uvm", "nvidia_modeset") if drm else ("nvidia_uvm",),
                 taint=taint)  # fmt: skip
    if drm:
        b.add_module("nvidia_modeset", version=version, size=1560576, refcnt=1,
                     used_by=("nvidia_drm",), taint=taint)  # fmt: skip
    b.add_module("nvidia_uvm", version=version, size=4927488, refcnt=0, taint=taint)
    if drm:
        b.add_module("nvidia_drm", version=version, size=122880, refcnt=4, taint=taint)
        b.write("/sys/module/nvidia_drm/parameters/modeset", "Y\n")


def populate_nvidia_laptop_intel_igpu(b: HostRootBuilder) -> None:
    """Intel Raptor Lake iGPU plus an RTX 4070 Laptop on the proprietary 550 driver."""
    _base(b, render_gid=RENDER_GID["nvidia_laptop_intel_igpu"])
    b.add_module("i915", size=4349952, refcnt=45)
    _nvidia_modules(b, "550.120", "POE", drm=True)
    b.set_nvidia_driver("550.120")
    b.write("/etc/modprobe.d/nvidia-graphics-drivers-kms.conf", "options nvidia-drm modeset=1\n")
    b.add_gpu(
        "0000:00:02.0", 0x8086, 0xA7A0, 0x030000, driver="i915", card=0, render=128,
        subsystem_vendor=0x1043, subsystem_device=0x1A13, revision=0x04, boot_vga=1,
        connectors=("eDP-1",),
    )  # fmt: skip
    b.add_pci_bridge("0000:00:01.0", vendor=0x8086, device=0xA70D)
    b.add_gpu(
        "0000:01:00.0", 0x10DE, 0x2860, 0x030000, parent="0000:00:01.0", driver="nvidia",
        card=1, render=129, subsystem_vendor=0x1043, subsystem_device=0x1A13, revision=0xA1,
        nvidia_minor=0, nvidia_model="NVIDIA GeForce RTX 4070 Laptop GPU",
        connectors=("HDMI-A-1",),
    )  # fmt: skip
    b.add_nvidia_device_nodes([0], uvm_major=509, modeset=True)


def _rtx4090_desktop(b: HostRootBuilder, driver: str | None, card: int | None) -> None:
    b.add_pci_bridge("0000:00:01.0", vendor=0x8086, device=0xA70D)
    b.add_gpu(
        "0000:01:00.0", 0x10DE, 0x2684, 0x030000, parent="0000:00:01.0", driver=driver,
        card=card, render=None if card is None else 128, subsystem_vendor=0x1458,
        subsystem_device=0x40BF, revision=0xA1, boot_vga=1,
    )  # fmt: skip
    b.add_pci_device(
        "0000:01:00.1", 0x10DE, 0x22BA, 0x040300, parent="0000:00:01.0", driver="snd_hda_intel",
        subsystem_vendor=0x1458, subsystem_device=0x40BF, revision=0xA1,
    )  # fmt: skip
    release = b.kernel_release or "6.8.0-45-generic"
    for name in ("nvidia", "nvidia-uvm", "nvidia-modeset", "nvidia-drm"):
        b.add_module_file(release, f"updates/dkms/{name}.ko")


def populate_nvidia_nouveau(b: HostRootBuilder) -> None:
    """nvidia-dkms built, but nouveau still holds the RTX 4090 (no reboot since install)."""
    _base(b, render_gid=RENDER_GID["nvidia_nouveau"])
    b.add_module("nouveau", size=3096576, refcnt=3)
    b.add_module("snd_hda_intel", size=61440, refcnt=4)
    _rtx4090_desktop(b, "nouveau", card=0)


def populate_nvidia_secure_boot_blocked(b: HostRootBuilder) -> None:
    """nvidia-dkms built but unsigned for this MOK: Secure Boot keeps it out, nothing bound."""
    _base(b, render_gid=RENDER_GID["nvidia_secure_boot_blocked"])
    b.add_module("snd_hda_intel", size=61440, refcnt=4)
    b.write(
        "/etc/modprobe.d/blacklist-nouveau.conf", "blacklist nouveau\noptions nouveau modeset=0\n"
    )
    b.set_secure_boot(True)
    _rtx4090_desktop(b, None, card=None)
    b.add_platform_drm("simple-framebuffer.0", card=0)


def populate_server_8gpu_bmc(b: HostRootBuilder) -> None:
    """An HGX H100 server on the open 580 driver, with an ASPEED BMC VGA as card0."""
    _base(
        b, render_gid=RENDER_GID["server_8gpu_bmc"], pretty="Ubuntu 22.04.5 LTS",
        version_id="22.04",
    )  # fmt: skip
    b.add_module("ast", size=110592, refcnt=0)
    _nvidia_modules(b, "580.95.05", "OE", drm=False)
    b.set_nvidia_driver(
        "580.95.05", open_module=True, gcc="gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04.2) "
    )
    b.add_pci_bridge("0000:00:1c.0", vendor=0x8086, device=0x1BBC)
    b.add_pci_bridge("0000:02:00.0", parent="0000:00:1c.0", vendor=0x1A03, device=0x1150)
    b.add_gpu(
        "0000:03:00.0", 0x1A03, 0x2000, 0x030000, parent="0000:02:00.0", driver="ast", card=0,
        subsystem_vendor=0x15D9, subsystem_device=0x1B95, revision=0x52, boot_vga=1,
        connectors=("VGA-1",),
    )  # fmt: skip
    for minor, bus in enumerate((0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB)):
        root_port = f"0000:{bus - 3:02x}:01.0"
        up, down = f"0000:{bus - 2:02x}:00.0", f"0000:{bus - 1:02x}:00.0"
        b.add_pci_bridge(root_port, vendor=0x8086, device=0x352A)
        b.add_pci_bridge(up, parent=root_port, vendor=0x1000, device=0xC030)
        b.add_pci_bridge(down, parent=up, vendor=0x1000, device=0xC030)
        b.add_gpu(
            f"0000:{bus:02x}:00.0", 0x10DE, 0x2330, 0x030200, parent=down, driver="nvidia",
            subsystem_vendor=0x10DE, subsystem_device=0x16C1, revision=0xA1,
            nvidia_minor=minor, nvidia_model="NVIDIA H100 80GB HBM3",
            numa_node=0 if bus < 0x80 else 1,
        )  # fmt: skip
    b.add_nvidia_device_nodes(range(8), uvm_major=510, modeset=False)


# ------------------------------------------------------------------------ others
def populate_vm_no_gpu(b: HostRootBuilder) -> None:
    """A QEMU i440FX guest: Bochs VGA and virtio devices, nothing a container could use."""
    _base(
        b, render_gid=RENDER_GID["vm_no_gpu"],
        cmdline="BOOT_IMAGE=/vmlinuz-6.8.0-45-generic root=/dev/vda1 ro console=tty1 console=ttyS0",
    )  # fmt: skip
    b.add_module("bochs", size=16384, refcnt=0)
    b.add_module("virtio_net", size=77824, refcnt=0, used_by=())
    b.add_pci_device("0000:00:00.0", 0x8086, 0x1237, 0x060000, subsystem_vendor=0x1AF4,
                     subsystem_device=0x1100, revision=0x02)  # fmt: skip
    b.add_pci_device("0000:00:01.0", 0x8086, 0x7000, 0x060100, subsystem_vendor=0x1AF4,
                     subsystem_device=0x1100)  # fmt: skip
    b.add_gpu(
        "0000:00:02.0", 0x1234, 0x1111, 0x030000, driver="bochs-drm", card=0,
        subsystem_vendor=0x1AF4, subsystem_device=0x1100, revision=0x02, boot_vga=1,
        connectors=("Virtual-1",),
    )  # fmt: skip
    b.add_pci_device("0000:00:03.0", 0x1AF4, 0x1000, 0x020000, driver="virtio-pci",
                     subsystem_vendor=0x1AF4, subsystem_device=0x0001)  # fmt: skip
    b.add_pci_device("0000:00:04.0", 0x1AF4, 0x1001, 0x010000, driver="virtio-pci",
                     subsystem_vendor=0x1AF4, subsystem_device=0x0002)  # fmt: skip


def populate_generated(b: HostRootBuilder, n_gpus: int, vendor: str = "amd") -> None:
    """n discrete GPUs, each behind its own root port, for benchmarks."""
    if vendor not in ("amd", "nvidia"):
        raise ValueError("vendor must be 'amd' or 'nvidia'")
    _base(b, render_gid=RENDER_GID["generated"], pretty="Ubuntu 22.04.5 LTS", version_id="22.04")
    if vendor == "amd":
        b.add_module("amdgpu", version="6.12.12", size=19841024, refcnt=0, taint="OE")
        b.add_kfd_device(major=511)
        b.add_kfd_cpu_node(cpu_cores=96, core_id_base=0)
        b.add_kfd_cpu_node(cpu_cores=96, core_id_base=96)
    else:
        _nvidia_modules(b, "580.95.05", "OE", drm=False)
        b.set_nvidia_driver("580.95.05", open_module=True)
    minors = drm_minor_pairs(n_gpus)
    for i in range(n_gpus):
        domain, local = divmod(i, 128)
        root_port = f"{domain:04x}:00:{1 + local // 8:02x}.{local % 8}"
        bdf = f"{domain:04x}:{local + 1:02x}:00.0"
        b.add_pci_bridge(root_port, vendor=0x1022, device=0x14AB)
        if vendor == "amd":
            card, render = minors[i]
            b.add_gpu(
                bdf, 0x1002, 0x74A1, 0x120000, parent=root_port, card=card, render=render,
                revision=0x00, board_info=True, board_type="oam", gc_version=(9, 4, 3),
                gfx_target_version=90402, vram_bytes=192 * GiB, gtt_bytes=1024 * GiB,
                kfd_node=True, numa_node=0 if i < n_gpus // 2 else 1,
            )  # fmt: skip
        else:
            b.add_gpu(
                bdf, 0x10DE, 0x2330, 0x030200, parent=root_port, driver="nvidia",
                revision=0xA1, nvidia_minor=i, nvidia_model="NVIDIA H100 80GB HBM3",
            )  # fmt: skip
    if vendor == "nvidia":
        b.add_nvidia_device_nodes(range(n_gpus), uvm_major=510, modeset=False)


SCENARIOS: dict[str, Callable[..., None]] = {
    "amd_laptop_field_guide": populate_amd_laptop_field_guide,
    "amd_desktop_two_7900xtx_igpu": populate_amd_desktop_two_7900xtx_igpu,
    "amd_apu_only_strix_halo": populate_amd_apu_only_strix_halo,
    "amd_kfd_render_different_groups": populate_amd_kfd_render_different_groups,
    "nvidia_laptop_intel_igpu": populate_nvidia_laptop_intel_igpu,
    "nvidia_nouveau": populate_nvidia_nouveau,
    "nvidia_secure_boot_blocked": populate_nvidia_secure_boot_blocked,
    "server_8gpu_bmc": populate_server_8gpu_bmc,
    "amd_mi300x_8": populate_amd_mi300x_8,
    "amd_mi300x_partitioned": populate_amd_mi300x_partitioned,
    "pciids_2023": populate_pciids_2023,
    "vm_no_gpu": populate_vm_no_gpu,
}


def build(name: str, root: Path, **kwargs: object) -> Path:
    """Build and finish scenario `name` (or "generated") under `root`."""
    b = HostRootBuilder(root)
    (populate_generated if name == "generated" else SCENARIOS[name])(b, **kwargs)
    return b.finish()


def amd_laptop_field_guide(root: Path) -> Path:
    """The field guide's laptop; expected args: kfd, renderD128, --group-add=110."""
    return build("amd_laptop_field_guide", root)


def amd_desktop_two_7900xtx_igpu(root: Path) -> Path:
    """Two 7900 XTX + Raphael iGPU; expected args: kfd, renderD129, renderD130, 992."""
    return build("amd_desktop_two_7900xtx_igpu", root)


def amd_apu_only_strix_halo(root: Path) -> Path:
    """Strix Halo only: integrated and selected; kfd, renderD128, 993."""
    return build("amd_apu_only_strix_halo", root)


def amd_kfd_render_different_groups(root: Path) -> Path:
    """kfd owned by video 44, renderD128 by render 105: --group-add=44 --group-add=105."""
    return build("amd_kfd_render_different_groups", root)


def nvidia_laptop_intel_igpu(root: Path) -> Path:
    """Intel iGPU + RTX 4070 Laptop on nvidia 550.120 with nvidia-drm modeset."""
    return build("nvidia_laptop_intel_igpu", root)


def nvidia_nouveau(root: Path) -> Path:
    """RTX 4090 held by nouveau while nvidia.ko is built but not loaded."""
    return build("nvidia_nouveau", root)


def nvidia_secure_boot_blocked(root: Path) -> Path:
    """RTX 4090 with no driver: DKMS nvidia.ko unloaded, Secure Boot enabled."""
    return build("nvidia_secure_boot_blocked", root)


def server_8gpu_bmc(root: Path) -> Path:
    """8 x H100 on the open 580.95.05 driver plus an ASPEED BMC VGA (card0)."""
    return build("server_8gpu_bmc", root)


def amd_mi300x_8(root: Path) -> Path:
    """8 x MI300X in SPX mode: renderD128, 136, ..., 184 (partition devices present)."""
    return build("amd_mi300x_8", root)


def amd_mi300x_partitioned(root: Path, partitions_per_gpu: int = 8) -> Path:
    """8 x MI300X in CPX (default): 64 render nodes, 64 KFD GPU nodes."""
    return build("amd_mi300x_partitioned", root, partitions_per_gpu=partitions_per_gpu)


def pciids_2023(root: Path) -> Path:
    """The laptop on Debian 12 with pci.ids 2023.04.10 and an RX 9070 XT eGPU it cannot name."""
    return build("pciids_2023", root)


def vm_no_gpu(root: Path) -> Path:
    """A QEMU VM with Bochs VGA and virtio: no GPU for containers."""
    return build("vm_no_gpu", root)


def generated(root: Path, n_gpus: int, vendor: str = "amd") -> Path:
    """n MI300X-like (amd) or H100-like (nvidia) GPUs, fast to build, for benchmarks."""
    return build("generated", root, n_gpus=n_gpus, vendor=vendor)
