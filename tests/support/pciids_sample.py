"""Subsets of real pci.ids files, for host roots that need a believable ID database.

Why: `pciids.fresh` must tell a current file from a stale distribution one, and lookups must
work on the real format (tab-indented devices, two-tab subsystems, a trailing class section).
Shipping whole files (1.3 MB each) would bloat the repository, so these are excerpts with the
real header and the real names of every GPU, GPU function and most bridges the scenarios use.

- `PCI_IDS_2025`: names as in pciutils' bundled pci.ids 2025.06.21 (current at capture time).
- `PCI_IDS_2023_DEBIAN12`: lines copied from Debian 12's package `pci.ids 0.0~2023.04.11-1`
  (header `Version: 2023.04.10`). It really lacks 1002:ab30, 1002:1586, 1002:74a1, 1002:7550,
  1022:14eb/14ed/150c and 8086:a70d, and names 1002:7480 "Navi 33 [Radeon RX 7700S/7600S]".
  It does have 1002:15bf "Phoenix1".

QEMU's 1234:1111 VGA is in neither: the real database has no vendor 1234 (lspci prints
"Device 1234:1111"), so the VM scenario keeps that gap on purpose.
"""

from __future__ import annotations

# (device_id, name) or (device_id, name, ((subvendor, subdevice, name), ...))
DeviceEntry = tuple[int, str] | tuple[int, str, tuple[tuple[int, int, str], ...]]
VendorEntry = tuple[int, str, tuple[DeviceEntry, ...]]

PCI_IDS_2025: tuple[VendorEntry, ...] = (
    (0x1000, "Broadcom / LSI", ((0xC030, "PEX890xx PCIe Gen 5 Switch"),)),
    (
        0x1002,
        "Advanced Micro Devices, Inc. [AMD/ATI]",
        (
            (0x1478, "Navi 10 XL Upstream Port of PCI Express Switch"),
            (0x1479, "Navi 10 XL Downstream Port of PCI Express Switch"),
            (
                0x1586,
                "Strix Halo [Radeon Graphics / Radeon 8050S Graphics / Radeon 8060S Graphics]",
            ),
            (0x15BF, "Phoenix1"),
            (0x1640, "Radeon High Definition Audio Controller [Rembrandt/Strix]"),
            (0x164E, "Raphael"),
            (
                0x744C,
                "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]",
                ((0x1DA2, 0x471E, "NITRO+ Radeon RX 7900 XTX Vapor-X"),),
            ),
            (0x7480, "Navi 33 [Radeon RX 7600/7600 XT/7600M XT/7600S/7700S / PRO W7600]"),
            (0x74A1, "Aqua Vanjaram [Instinct MI300X]"),
            (0x7550, "Navi 48 [Radeon RX 9070/9070 XT/9070 GRE]"),
            (0xAB30, "Navi 31 HDMI/DP Audio"),
        ),
    ),
    (0x1013, "Cirrus Logic", ((0x00B8, "GD 5446"),)),
    (
        0x1022,
        "Advanced Micro Devices, Inc. [AMD]",
        (
            (0x14DB, "Raphael/Granite Ridge GPP Bridge"),
            (0x14DD, "Raphael/Granite Ridge Internal GPP Bridge to Bus [C:A]"),
            (0x14EB, "Phoenix Internal GPP Bridge to Bus [C:A]"),
            (0x14ED, "Phoenix GPP Bridge"),
            (0x14EE, "Phoenix GPP Bridge"),
            (0x150C, "Strix/Strix Halo Internal GPP Bridge to Bus [C:A]"),
            (0x15E3, "Family 17h/19h/1ah HD Audio Controller"),
        ),
    ),
    (
        0x10DE,
        "NVIDIA Corporation",
        (
            (0x22BA, "AD102 High Definition Audio Controller"),
            (0x2330, "GH100[H100 SXM5 80GB]"),
            (0x2684, "AD102 [GeForce RTX 4090]"),
            (0x2860, "AD106M [GeForce RTX 4070 Max-Q / Mobile]"),
        ),
    ),
    (
        0x1A03,
        "ASPEED Technology, Inc.",
        (
            (0x1150, "AST1150 PCI-to-PCI Bridge"),
            (0x2000, "ASPEED Graphics Family", ((0x15D9, 0x1B95, "H12SSL-i"),)),
        ),
    ),
    (
        0x1AF4,
        "Red Hat, Inc.",
        (
            (0x1000, "Virtio network device"),
            (0x1001, "Virtio block device"),
            (0x1041, "Virtio 1.0 network device"),
            (0x1042, "Virtio 1.0 block device"),
            (0x1050, "Virtio 1.0 GPU"),
        ),
    ),
    (
        0x1B36,
        "Red Hat, Inc.",
        ((0x000C, "QEMU PCIe Root port"), (0x0100, "QXL paravirtual graphic card")),
    ),
    (
        0x8086,
        "Intel Corporation",
        (
            (0x1237, "440FX - 82441FX PMC [Natoma]"),
            (0x7000, "82371SB PIIX3 ISA [Natoma/Triton II]"),
            (0xA70D, "Raptor Lake PCI Express 5.0 Graphics Port (PEG010)"),
            (0xA7A0, "Raptor Lake-P [Iris Xe Graphics]"),
        ),
    ),
)

PCI_IDS_2023_DEBIAN12: tuple[VendorEntry, ...] = (
    (0x1000, "Broadcom / LSI", ((0xC030, "PEX890xx PCIe Gen 5 Switch"),)),
    (
        0x1002,
        "Advanced Micro Devices, Inc. [AMD/ATI]",
        (
            (0x1478, "Navi 10 XL Upstream Port of PCI Express Switch"),
            (0x1479, "Navi 10 XL Downstream Port of PCI Express Switch"),
            (0x15BF, "Phoenix1"),
            (0x1640, "Rembrandt Radeon High Definition Audio Controller"),
            (0x164E, "Raphael"),
            (0x744C, "Navi 31 [Radeon RX 7900 XT/7900 XTX]"),
            (0x7480, "Navi 33 [Radeon RX 7700S/7600S]"),
        ),
    ),
    (0x1013, "Cirrus Logic", ((0x00B8, "GD 5446"),)),
    (
        0x1022,
        "Advanced Micro Devices, Inc. [AMD]",
        ((0x15E3, "Family 17h/19h HD Audio Controller"),),
    ),
    (
        0x10DE,
        "NVIDIA Corporation",
        (
            (0x22BA, "AD102 High Definition Audio Controller"),
            (0x2330, "GH100[H100 SXM5 80GB]"),
            (0x2684, "AD102 [GeForce RTX 4090]"),
            (0x2860, "AD106M [GeForce RTX 4070 Max-Q / Mobile]"),
        ),
    ),
    (
        0x1A03,
        "ASPEED Technology, Inc.",
        ((0x1150, "AST1150 PCI-to-PCI Bridge"), (0x2000, "ASPEED Graphics Family")),
    ),
    (
        0x1AF4,
        "Red Hat, Inc.",
        (
            (0x1000, "Virtio network device"),
            (0x1001, "Virtio block device"),
            (0x1041, "Virtio 1.0 network device"),
            (0x1042, "Virtio 1.0 block device"),
            (0x1050, "Virtio 1.0 GPU"),
        ),
    ),
    (
        0x1B36,
        "Red Hat, Inc.",
        ((0x000C, "QEMU PCIe Root port"), (0x0100, "QXL paravirtual graphic card")),
    ),
    (
        0x8086,
        "Intel Corporation",
        (
            (0x1237, "440FX - 82441FX PMC [Natoma]"),
            (0x7000, "82371SB PIIX3 ISA [Natoma/Triton II]"),
            (0xA7A0, "Raptor Lake-P [Iris Xe Graphics]"),
        ),
    ),
)

PCI_IDS_2023_VERSION = ("2023.04.10", "2023-04-10 20:08:02")
PCI_IDS_2025_VERSION = ("2025.06.21", "2025-06-21 17:54:14")

# The class section as pci.ids ends with it (subclasses kept for the classes GPUs, bridges,
# audio and accelerators use). update-pciids rejects a file without "^C " lines.
PCI_IDS_CLASS_SECTION = """\
# List of known device classes, subclasses and programming interfaces

# Syntax:
# C class\tclass_name
#\tsubclass\tsubclass_name  \t\t<-- single tab
#\t\tprog-if  prog-if_name  \t<-- two tabs

C 00  Unclassified device
\t00  Non-VGA unclassified device
\t01  VGA compatible unclassified device
\t05  Image coprocessor
C 01  Mass storage controller
\t00  SCSI storage controller
\t01  IDE interface
\t06  SATA controller
\t08  Non-Volatile memory controller
\t80  Mass storage controller
C 02  Network controller
\t00  Ethernet controller
\t80  Network controller
C 03  Display controller
\t00  VGA compatible controller
\t\t00  VGA controller
\t\t01  8514 controller
\t01  XGA compatible controller
\t02  3D controller
\t80  Display controller
C 04  Multimedia controller
\t00  Multimedia video controller
\t01  Multimedia audio controller
\t02  Computer telephony device
\t03  Audio device
\t80  Multimedia controller
C 05  Memory controller
C 06  Bridge
\t00  Host bridge
\t01  ISA bridge
\t04  PCI bridge
\t80  Bridge
C 07  Communication controller
C 08  Generic system peripheral
C 09  Input device controller
C 0a  Docking station
C 0b  Processor
C 0c  Serial bus controller
\t03  USB controller
\t05  SMBus
C 0d  Wireless controller
C 0e  Intelligent controller
C 0f  Satellite communications controller
C 10  Encryption controller
C 11  Signal processing controller
C 12  Processing accelerators
\t00  Processing accelerators
\t01  SNIA Smart Data Accelerator Interface (SDXI) controller
C 13  Non-Essential Instrumentation
C 40  Coprocessor
C ff  Unassigned class
"""
