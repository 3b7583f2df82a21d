"""Host roots for AMD and Intel depth (issue 14), laid out as amdgpu, KFD, i915 and xe do.

Each public function `NAME(root, **kw) -> Path` builds and finishes a root on the shared base of
tests/support/scenarios.py (Ubuntu 24.04, alice in video/render/docker, fresh pci.ids).

amd_rx6700xt -- RDNA2 consumer card outside every ROCm line: 1002:73df RX 6700 XT, GC 10.3.2,
    KFD gfx_target_version 100301 (gfx1031, as kfd_device.c sets it for IP 10.3.2), card0 +
    renderD128, KFD node 1; /dev/kfd 236:0; render 992. Override 10.3.0.
amd_rx7600 -- RDNA3 consumer card: 1002:7480 RX 7600, GC 11.0.2, gfx1102 (listed from ROCm
    7.0; outside 6.4: override 11.0.0), card0 + renderD128, KFD node 1; render 993.
amd_mixed_pair -- RX 6700 XT (03:00.0, card1/renderD129, KFD node 2) and RX 7600 (08:00.0,
    card0/renderD128, KFD node 1, probed first); render 992. Newest line: only node 2 needs
    10.3.0; ROCm 6.4: node 1 11.0.0 and node 2 10.3.0.
amd_phoenix_apu_only -- mini PC whose only GPU is a Phoenix iGPU (1002:15bf, GC 11.0.1,
    gfx1103), no board_info (6.8 kernel), KFD node 1, card0/renderD128; render 992.
amd_dkms(broken=True) -- RX 7900 XTX (gfx1100) on kernel 6.14.0-24-generic; amdgpu-dkms
    6.12.12-2147987.24.04 built only for 6.8.0-45-generic (/var/lib/dkms tree, `dkms status`
    recorded, make.log with a compiler error); the in-tree amdgpu is loaded (no
    /sys/module/amdgpu/version). broken=False: built for the running kernel and loaded
    (version file, taint OE).
intel_arc_b580_igpu -- Raptor Lake UHD 770 iGPU 8086:a780 at 00:02.0 (i915, card0/renderD128)
    and an Arc B580 8086:e20b at 03:00.0 behind its bridges (xe, card1/renderD129), kernel
    6.14.0-29-generic; render 993. Expect --device=/dev/dri/renderD129 --group-add=993.
intel_battlemage_on_i915 -- the same B580 bound to i915 from intel-i915-dkms backports on
    6.8.0-45-generic (taint OE), iGPU as above; render 993.
intel_alchemist_force_probe -- Debian 12, 6.1.0-26-amd64: Arc A770 8086:56a0 at 03:00.0 with
    no driver; the kernel log holds i915's force_probe line; iGPU on i915.
amd_ctk(...) -- the field guide's laptop with amd-ctk installed and /etc/cdi/amd.json as
    `amd-ctk cdi generate` writes it: device "0" = the RX 7700S, "1" = the iGPU, "all" = both.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.hostroot import HostRootBuilder, sample_docker_info, sample_docker_version
from tests.support.pciids_sample import PCI_IDS_2025, PCI_IDS_2025_VERSION
from tests.support.scenarios import GiB, _laptop_hardware
from tests.support.scenarios import _base as _scenario_base

#: pci.ids 2025.06.21 names of the GPUs and bridges these roots add (the shared sample lacks them).
EXTRA_NAMES = {
    0x1002: ((0x73DF, "Navi 22 [Radeon RX 6700/6700 XT/6750 XT / 6800M/6850M XT]"),),
    0x8086: ((0xA780, "Raptor Lake-S GT1 [UHD Graphics 770]"),
             (0xE20B, "Battlemage G21 [Arc B580]"),
             (0x56A0, "DG2 [Arc A770]"),
             (0xE2FF, "Battlemage G21 PCIe Switch Upstream Port"),
             (0xE2F0, "Battlemage G21 PCIe Switch Downstream Port")),
}
JOURNAL_ARGV = ["journalctl", "-k", "-b", "-q", "--no-pager", "-o", "short-iso", "-n", "20000"]
DKMS_VERSION = "6.12.12-2147987.24.04"


def _base(b: HostRootBuilder, **kw: object) -> None:
    """The shared scenario base, with pci.ids naming every device of these roots."""
    _scenario_base(b, **kw)  # type: ignore[arg-type]
    entries = [(vid, name, tuple(devs) + EXTRA_NAMES.get(vid, ()))
               for vid, name, devs in PCI_IDS_2025]
    b.write_pci_ids(version=PCI_IDS_2025_VERSION[0], date=PCI_IDS_2025_VERSION[1],
                    entries=entries)


def _journal(b: HostRootBuilder, lines: list[str]) -> None:
    stamp = "2026-02-13T09:3{}:0{}+0000 host kernel: "
    text = "".join(stamp.format(i // 10 % 10, i % 10) + line + "\n" for i, line in enumerate(lines))
    b.add_command("journalctl-kernel", JOURNAL_ARGV, stdout=text)


def _amd_base(b: HostRootBuilder, render_gid: int, kernel: str = "6.8.0-45-generic",
              kfd_major: int = 236) -> None:
    _base(b, render_gid=render_gid, kernel=kernel)
    b.add_module("amdgpu", size=19578880, refcnt=20)
    b.add_kfd_device(major=kfd_major)
    b.add_kfd_cpu_node(cpu_cores=16)


def _bridged(b: HostRootBuilder, port: str, up: str, down: str) -> str:
    b.add_pci_bridge(port, vendor=0x1022, device=0x14DB)
    b.add_pci_bridge(up, parent=port, vendor=0x1002, device=0x1478)
    b.add_pci_bridge(down, parent=up, vendor=0x1002, device=0x1479)
    return down


def _rx6700xt(b: HostRootBuilder, bdf: str, parent: str, card: int, render: int) -> None:
    b.add_gpu(bdf, 0x1002, 0x73DF, 0x030000, parent=parent, card=card, render=render,
              subsystem_vendor=0x1DA2, subsystem_device=0xE445, revision=0xC1, board_info=True,
              gc_version=(10, 3, 2), gfx_target_version=100301, vram_bytes=12 * GiB,
              gtt_bytes=15 * GiB, kfd_node=True)


def _rx7600(b: HostRootBuilder, bdf: str, parent: str, card: int, render: int) -> None:
    b.add_gpu(bdf, 0x1002, 0x7480, 0x030000, parent=parent, card=card, render=render,
              subsystem_vendor=0x1DA2, subsystem_device=0x0502, revision=0xCF, board_info=True,
              gc_version=(11, 0, 2), vram_bytes=8 * GiB, gtt_bytes=15 * GiB, kfd_node=True)


def amd_rx6700xt(root: Path) -> Path:
    b = HostRootBuilder(root)
    _amd_base(b, 992)
    _rx6700xt(b, "0000:03:00.0", _bridged(b, "0000:00:01.1", "0000:01:00.0", "0000:02:00.0"),
              0, 128)
    return b.finish()


def amd_rx7600(root: Path) -> Path:
    b = HostRootBuilder(root)
    _amd_base(b, 993)
    _rx7600(b, "0000:03:00.0", _bridged(b, "0000:00:01.1", "0000:01:00.0", "0000:02:00.0"),
            0, 128)
    return b.finish()


def amd_mixed_pair(root: Path) -> Path:
    b = HostRootBuilder(root)
    _amd_base(b, 992, kfd_major=509)
    # the RX 7600 is probed first (card0, KFD node 1) though it sits on the higher bus
    _rx7600(b, "0000:08:00.0", _bridged(b, "0000:00:01.2", "0000:06:00.0", "0000:07:00.0"),
            0, 128)
    _rx6700xt(b, "0000:03:00.0", _bridged(b, "0000:00:01.1", "0000:01:00.0", "0000:02:00.0"),
              1, 129)
    return b.finish()


def amd_phoenix_apu_only(root: Path) -> Path:
    b = HostRootBuilder(root)
    _amd_base(b, 992)
    b.add_pci_bridge("0000:00:08.1", vendor=0x1022, device=0x14EB)
    b.add_gpu("0000:c4:00.0", 0x1002, 0x15BF, 0x030000, parent="0000:00:08.1", card=0,
              render=128, revision=0xC5, board_info=False, gc_version=(11, 0, 1),
              vram_bytes=2 * GiB, gtt_bytes=30 * GiB, kfd_node=True, boot_vga=1)
    return b.finish()


def amd_dkms(root: Path, broken: bool = True) -> Path:
    """amdgpu-dkms built for an older kernel only (broken) or for the running one."""
    running = "6.14.0-24-generic" if broken else "6.8.0-45-generic"
    b = HostRootBuilder(root)
    _base(b, render_gid=992, kernel=running)
    if broken:
        b.add_module("amdgpu", size=15990784, refcnt=18)  # the kernel's own
    else:
        for name in ("amdkcl", "amdttm", "amddrm_buddy", "amd_sched", "amdxcp"):
            b.add_module(name, size=40960, used_by=("amdgpu",), taint="OE")
        b.add_module("amdgpu", version="6.12.12", size=19841024, refcnt=18, taint="OE")
    b.add_kfd_device(major=236)
    b.add_kfd_cpu_node(cpu_cores=16)
    b.add_gpu("0000:03:00.0", 0x1002, 0x744C, 0x030000,
              parent=_bridged(b, "0000:00:01.1", "0000:01:00.0", "0000:02:00.0"), card=0,
              render=128, revision=0xC8, board_info=True, gc_version=(11, 0, 0),
              vram_bytes=24 * GiB, gtt_bytes=31 * GiB, kfd_node=True, boot_vga=1)
    tree = f"/var/lib/dkms/amdgpu/{DKMS_VERSION}"
    b.write(f"{tree}/source/dkms.conf", 'PACKAGE_NAME="amdgpu"\n'
            f'PACKAGE_VERSION="{DKMS_VERSION}"\n')
    b.write(f"{tree}/6.8.0-45-generic/x86_64/module/amdgpu.ko.zst", b"\x28\xb5\x2f\xfd")
    b.symlink("/var/lib/dkms/amdgpu/kernel-6.8.0-45-generic-x86_64", f"{DKMS_VERSION}/"
              "6.8.0-45-generic/x86_64")
    b.add_module_file("6.8.0-45-generic", "updates/dkms/amdgpu.ko.zst")
    b.write(f"/usr/src/linux-headers-{running}/Makefile", "VERSION = 6\n")
    b.symlink(f"/lib/modules/{running}/build", f"/usr/src/linux-headers-{running}")
    status = f"amdgpu/{DKMS_VERSION}, 6.8.0-45-generic, x86_64: installed\n"
    if broken:
        b.write(f"{tree}/build/make.log",
                "DKMS make.log for amdgpu-6.12.12-2147987.24.04 for kernel 6.14.0-24-generic\n"
                "  CC [M]  /var/lib/dkms/amdgpu/6.12.12-2147987.24.04/build/amd/amdgpu/"
                "amdgpu_drv.o\n"
                "/var/lib/dkms/amdgpu/6.12.12-2147987.24.04/build/amd/amdkcl/kcl_drm_gem.c:45:"
                "9: error: implicit declaration of function 'drm_gem_object_put_locked'\n"
                "make[1]: *** [Makefile:1997: /var/lib/dkms/amdgpu/6.12.12-2147987.24.04/"
                "build] Error 2\n")
    else:
        b.add_module_file(running, "updates/dkms/amdgpu.ko.zst")
    b.add_command("dkms-status", ["dkms", "status", "amdgpu"], stdout=status)
    return b.finish()


def _intel_base(b: HostRootBuilder, kernel: str, **kw: object) -> None:
    _base(b, render_gid=993, kernel=kernel, **kw)  # type: ignore[arg-type]
    b.add_module("i915", size=4349952, refcnt=45)
    b.add_gpu("0000:00:02.0", 0x8086, 0xA780, 0x030000, driver="i915", card=0, render=128,
              subsystem_vendor=0x1043, subsystem_device=0x8882, revision=0x04, boot_vga=1,
              connectors=("HDMI-A-1",))
    b.write("/sys/class/drm/card0/gt_max_freq_mhz", "1650\n")
    b.write("/sys/class/drm/card0/gt/gt0/id", "0\n")
    b.add_builtin_module_dir("i915", {"force_probe": ""})
    b.add_pci_bridge("0000:00:01.0", vendor=0x8086, device=0xA70D)
    b.add_pci_bridge("0000:01:00.0", parent="0000:00:01.0", vendor=0x8086, device=0xE2FF)
    b.add_pci_bridge("0000:02:01.0", parent="0000:01:00.0", vendor=0x8086, device=0xE2F0)


def _arc(b: HostRootBuilder, device: int, driver: str | None, kernel: str) -> None:
    path = b.add_gpu("0000:03:00.0", 0x8086, device, 0x030000, parent="0000:02:01.0",
                     driver=driver, card=1 if driver else None,
                     render=129 if driver else None, subsystem_vendor=0x8086,
                     subsystem_device=0x1100, revision=0x00, connectors=("DP-1",))
    if driver == "xe":
        b.write(f"{path}/tile0/gt0/freq0/max_freq", "2850\n")
        b.write(f"{path}/tile0/gt0/gtidle/name", "gt0-rc\n")
        b.write(f"{path}/tile0/vram/used", "0\n")


def intel_arc_b580_igpu(root: Path) -> Path:
    b = HostRootBuilder(root)
    _intel_base(b, "6.14.0-29-generic", pretty="Ubuntu 24.04.3 LTS")
    b.add_module("xe", size=3514368, refcnt=12)
    b.add_builtin_module_dir("xe", {"force_probe": ""})
    _arc(b, 0xE20B, "xe", "6.14.0-29-generic")
    _journal(b, ["Linux version 6.14.0-29-generic (buildd@lcy02-amd64-059)",
                 "xe 0000:03:00.0: [drm] Found battlemage (device ID e20b) discrete display "
                 "version 14.01 stepping B0",
                 "[drm] Initialized xe 1.1.0 for 0000:03:00.0 on minor 1"])
    return b.finish()


def intel_battlemage_on_i915(root: Path) -> Path:
    b = HostRootBuilder(root)
    _intel_base(b, "6.8.0-45-generic")
    b.add_module("i915", size=4603904, refcnt=50, taint="OE")  # intel-i915-dkms
    _arc(b, 0xE20B, "i915", "6.8.0-45-generic")
    _journal(b, ["Linux version 6.8.0-45-generic (buildd@lcy02-amd64-075)",
                 "i915 0000:03:00.0: [drm] Incompatible option enable_guc=3 - GuC is not "
                 "supported!"])
    return b.finish()


def intel_alchemist_force_probe(root: Path) -> Path:
    b = HostRootBuilder(root)
    _intel_base(b, "6.1.0-26-amd64", pretty="Debian GNU/Linux 12 (bookworm)", os_id="debian",
                version_id="12")
    _arc(b, 0x56A0, None, "6.1.0-26-amd64")
    _journal(b, [
        "Linux version 6.1.0-26-amd64 (debian-kernel@lists.debian.org)",
        # one printk with embedded newlines: the journal shows its continuation lines indented
        "i915 0000:03:00.0: Your graphics device 56a0 is not properly supported by the driver "
        "in this\n                                kernel version. To force driver probe "
        "anyway, use i915.force_probe=56a0\n                                module parameter or "
        "CONFIG_DRM_I915_FORCE_PROBE=56a0 configuration option,\n                           "
        "     or (recommended) check for kernel updates.",
    ])
    return b.finish()


def intel_battlemage_xe_force_probe(root: Path) -> Path:
    """A B580 on 6.11, whose xe knows Battlemage only behind force_probe (default from 6.12)."""
    b = HostRootBuilder(root)
    _intel_base(b, "6.11.0-29-generic")
    b.add_module("xe", size=3309568, refcnt=0)
    _arc(b, 0xE20B, None, "6.11.0-29-generic")
    _journal(b, [
        "Linux version 6.11.0-29-generic (buildd@lcy02-amd64-050)",
        "xe 0000:03:00.0: Your graphics device e20b is not officially supported\n"
        "                by xe driver in this kernel version. To force Xe probe,\n"
        "                use xe.force_probe='e20b' and i915.force_probe='!e20b'\n"
        "                module parameters or CONFIG_DRM_XE_FORCE_PROBE='e20b' and\n"
        "                CONFIG_DRM_I915_FORCE_PROBE='!e20b' configuration options.",
    ])
    return b.finish()


def amd_kernel_log(root: Path, lines: list[str]) -> Path:
    """The RX 7900 XTX desktop of amd_dkms(broken=False) with these kernel log lines."""
    b = HostRootBuilder(root)
    _amd_base(b, 992)
    b.add_gpu("0000:03:00.0", 0x1002, 0x744C, 0x030000,
              parent=_bridged(b, "0000:00:01.1", "0000:01:00.0", "0000:02:00.0"), card=0,
              render=128, revision=0xC8, board_info=True, gc_version=(11, 0, 0),
              vram_bytes=24 * GiB, gtt_bytes=31 * GiB, kfd_node=True, boot_vga=1)
    _journal(b, lines)
    return b.finish()


def amd_ctk_spec(igpu_render: bool = True, renders: tuple[int, ...] = (128, 129)) -> str:
    """/etc/cdi/amd.json as `amd-ctk cdi generate` writes it (cdiVersion 0.6.0, kfd per GPU)."""
    devices = []
    for index, render in enumerate(renders):
        if index == 1 and not igpu_render:
            break
        card = render - 127
        devices.append({"name": str(index), "containerEdits": {"deviceNodes": [
            {"path": f"/dev/dri/card{card}", "hostPath": f"/dev/dri/card{card}",
             "type": "c", "major": 226, "minor": card, "fileMode": 8624, "gid": 44},
            {"path": f"/dev/dri/renderD{render}", "hostPath": f"/dev/dri/renderD{render}",
             "type": "c", "major": 226, "minor": render, "fileMode": 8624, "gid": 110},
            {"path": "/dev/kfd", "hostPath": "/dev/kfd", "type": "c", "major": 235, "minor": 0,
             "fileMode": 8624, "gid": 110}]}})
    every = [n for d in devices for n in d["containerEdits"]["deviceNodes"]]
    unique = list({n["path"]: n for n in every}.values())
    devices.append({"name": "all", "containerEdits": {"deviceNodes": unique}})
    return json.dumps({"cdiVersion": "0.6.0", "kind": "amd.com/gpu", "devices": devices},
                      indent=2) + "\n"


def amd_ctk(root: Path, docker_version: str = "28.5.1", spec: str | None = None,
            runtime: bool = False, loaded: bool = True) -> Path:
    """The field guide's laptop with the AMD Container Toolkit installed."""
    b = HostRootBuilder(root)
    _base(b, render_gid=110)
    _laptop_hardware(b)
    b.write("/usr/bin/amd-ctk", b"\x7fELF", mode=0o755)
    b.write("/usr/bin/amd-container-runtime", b"\x7fELF", mode=0o755)
    b.write("/etc/cdi/amd.json", amd_ctk_spec() if spec is None else spec)
    daemon: dict = {"features": {"cdi": True}}
    runtimes = ["io.containerd.runc.v2", "runc"]
    if runtime:
        daemon["runtimes"] = {"amd": {"path": "amd-container-runtime", "args": []}}
        if loaded:
            runtimes.append("amd")
    b.write("/etc/docker/daemon.json", json.dumps(daemon, indent=4) + "\n")
    b.add_process(812, "dockerd", "/usr/bin/dockerd",
                  ["/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/"
                   "containerd.sock"])
    b.set_docker(info=sample_docker_info(docker_version, runtimes=runtimes),
                 version=sample_docker_version(docker_version))
    return b.finish()


def amd_kfd_root_only(root: Path, udevadm: bool = True, rule: str | None = None) -> Path:
    """The RX 7900 XTX desktop with no kfd udev rule: /dev/kfd is crw------- root root, as the
    kernel leaves it; renderD128 belongs to render (992). udev's tools are installed."""
    b = HostRootBuilder(root)
    _base(b, render_gid=992)
    b.add_module("amdgpu", size=19578880, refcnt=20)
    b.add_kfd_device(major=236, mode="0600", gid=0)
    b.add_kfd_cpu_node(cpu_cores=16)
    b.add_gpu("0000:03:00.0", 0x1002, 0x744C, 0x030000,
              parent=_bridged(b, "0000:00:01.1", "0000:01:00.0", "0000:02:00.0"), card=0,
              render=128, revision=0xC8, board_info=True, gc_version=(11, 0, 0),
              vram_bytes=24 * GiB, gtt_bytes=31 * GiB, kfd_node=True, boot_vga=1)
    if udevadm:
        b.write("/usr/bin/udevadm", b"\x7fELF", mode=0o755)
    b.write("/usr/lib/udev/rules.d/50-udev-default.rules",
            'SUBSYSTEM=="drm", KERNEL=="renderD*", GROUP="render", MODE="0660"\n')
    if rule is not None:
        b.write("/etc/udev/rules.d/99-gpudoctor-render.rules", rule)
    return b.finish()
