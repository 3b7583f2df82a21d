"""Build an offline NVIDIA Container Toolkit bundle of real .deb packages, with dpkg-deb.

nvidia.install_toolkit installs "the four packages together, in dependency order, never the
-dev, -dbg or extension packages" from the release tarball NVIDIA publishes
(nvidia-container-toolkit_<ver>_deb_amd64.tar.gz, holding
release-v<ver>-stable/packages/ubuntu18.04/amd64/*.deb; nvidia-container-stack.md §6). The
tests build the same layout locally: real package names, versions and Depends/Breaks/Replaces
as in NVIDIA's packaging (libnvidia-container pkg/deb/control, NCT packaging/debian/control),
with the stand-in executables as their contents, and install them into a scratch root with
`dpkg --root`, which touches nothing outside it.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.standins import standin_dir

TOOLKIT_VERSION = "1.17.8"
LIB_DIR = "usr/lib/x86_64-linux-gnu"
#: The four packages the fix must install, in the order their Depends require.
NEEDED = ("libnvidia-container1", "libnvidia-container-tools", "nvidia-container-toolkit-base",
          "nvidia-container-toolkit")
#: Shipped in the release tarball but never to be installed by the fix.
EXTRAS = ("libnvidia-container-dev", "libnvidia-container1-dbg",
          "nvidia-container-toolkit-operator-extensions")


@dataclass(frozen=True)
class PackageSpec:
    name: str
    depends: str
    files: dict[str, str | Path]
    extra_fields: tuple[tuple[str, str], ...] = ()
    description: str = ""


def _specs(version: str) -> list[PackageSpec]:
    full = f"{version}-1"
    standins = standin_dir()
    return [
        PackageSpec("libnvidia-container1", "libc6 (>= 2.7)",
                    {f"{LIB_DIR}/libnvidia-container.so.1": "stand-in shared library\n"},
                    description="NVIDIA container runtime library"),
        PackageSpec("libnvidia-container-tools",
                    f"libnvidia-container1 (>= {full}), libc6 (>= 2.7)",
                    {"usr/bin/nvidia-container-cli": "#!/bin/sh\necho 'cli-version: "
                     f"{version}'\n"},
                    description="NVIDIA container runtime library (command-line tools)"),
        PackageSpec("nvidia-container-toolkit-base", "",
                    {"usr/bin/nvidia-ctk": standins / "nvidia-ctk",
                     "usr/bin/nvidia-container-runtime": standins / "nvidia-container-runtime"},
                    (("Breaks", "nvidia-container-toolkit (<= 1.10.0-1)"),
                     ("Replaces", "nvidia-container-toolkit (<= 1.10.0-1)")),
                    description="NVIDIA Container Toolkit Base"),
        PackageSpec("nvidia-container-toolkit",
                    f"nvidia-container-toolkit-base (= {full}), libnvidia-container-tools "
                    f"(= {full}), libnvidia-container-tools (<< 2.0.0)",
                    {"usr/bin/nvidia-container-runtime-hook":
                     standins / "nvidia-container-runtime-hook"},
                    (("Breaks", "nvidia-container-runtime (<= 3.5.0-1), "
                      "nvidia-container-runtime-hook"),
                     ("Replaces", "nvidia-container-runtime (<= 3.5.0-1), "
                      "nvidia-container-runtime-hook")),
                    description="NVIDIA Container toolkit"),
        PackageSpec("libnvidia-container-dev", f"libnvidia-container1 (= {full})",
                    {"usr/include/nvc.h": "/* stand-in header */\n"},
                    description="NVIDIA container runtime library (development files)"),
        PackageSpec("libnvidia-container1-dbg", f"libnvidia-container1 (= {full})",
                    {f"usr/lib/debug/{LIB_DIR}/libnvidia-container.so.1.debug": "debug\n"},
                    description="NVIDIA container runtime library (debugging symbols)"),
        PackageSpec("nvidia-container-toolkit-operator-extensions",
                    f"nvidia-container-toolkit-base (= {full})",
                    {"usr/bin/nvidia-container-runtime.cdi": "#!/bin/sh\nexit 0\n"},
                    description="NVIDIA Container Toolkit Operator Extensions"),
    ]


def build_deb(spec: PackageSpec, version: str, arch: str, out_dir: Path, work: Path) -> Path:
    """One .deb named like NVIDIA's (`<name>_<version>-1_<arch>.deb`), built with dpkg-deb."""
    full = f"{version}-1"
    tree = work / spec.name
    if tree.exists():
        shutil.rmtree(tree)
    (tree / "DEBIAN").mkdir(parents=True)
    for rel, content in spec.files.items():
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content, encoding="utf-8")
        target.chmod(0o755 if rel.startswith("usr/bin/") else 0o644)
    fields = [("Package", spec.name), ("Version", full), ("Architecture", arch),
              ("Maintainer", "NVIDIA CORPORATION <cudatools@nvidia.com> (test rebuild)"),
              ("Section", "utils"), ("Priority", "optional")]
    if spec.depends:
        fields.append(("Depends", spec.depends))
    fields.extend(spec.extra_fields)
    fields.append(("Description", f"{spec.description}\n gpudoctor test package; the "
                   "executables are test stand-ins."))
    control = "".join(f"{k}: {v}\n" for k, v in fields)
    (tree / "DEBIAN" / "control").write_text(control, encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{spec.name}_{full}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(out)],
                   check=True, capture_output=True, timeout=60)
    return out


def build_bundle_dir(dest: Path, version: str = TOOLKIT_VERSION, arch: str = "amd64",
                     include_extras: bool = True, skip: tuple[str, ...] = ()) -> Path:
    """The release layout: dest/release-v<ver>-stable/packages/ubuntu18.04/<arch>/*.deb."""
    pkg_dir = dest / f"release-v{version}-stable" / "packages" / "ubuntu18.04" / arch
    work = dest / ".build"
    for spec in _specs(version):
        if spec.name in skip or (not include_extras and spec.name in EXTRAS):
            continue
        build_deb(spec, version, arch, pkg_dir, work)
    shutil.rmtree(work, ignore_errors=True)
    return dest


def build_bundle_tarball(dest_dir: Path, version: str = TOOLKIT_VERSION, arch: str = "amd64",
                         skip: tuple[str, ...] = ()) -> Path:
    """nvidia-container-toolkit_<ver>_deb_<arch>.tar.gz as NVIDIA publishes it."""
    tree = build_bundle_dir(dest_dir / "tree", version, arch, skip=skip)
    out = dest_dir / f"nvidia-container-toolkit_{version}_deb_{arch}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        tar.add(tree / f"release-v{version}-stable", arcname=f"release-v{version}-stable")
    shutil.rmtree(tree)
    return out


def seed_dpkg_root(root: Path) -> Path:
    """A scratch root with a dpkg database that already has libc6, as any real system does."""
    admin = root / "var" / "lib" / "dpkg"
    for sub in ("info", "updates", "triggers", "alternatives"):
        (admin / sub).mkdir(parents=True, exist_ok=True)
    (admin / "status").write_text(
        "Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
        "Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n"
        "Architecture: amd64\nMulti-Arch: same\nVersion: 2.36-9+deb12u4\n"
        "Description: GNU C Library: Shared libraries\n\n", encoding="utf-8")
    (admin / "info" / "libc6:amd64.list").write_text("", encoding="utf-8")
    (admin / "available").write_text("", encoding="utf-8")
    (admin / "arch").write_text("amd64\n", encoding="utf-8")
    return root


def installed_packages(root: Path) -> dict[str, tuple[str, str]]:
    """Package -> (Status, Version) from a root's dpkg status file."""
    status = (root / "var" / "lib" / "dpkg" / "status").read_text(encoding="utf-8")
    found: dict[str, tuple[str, str]] = {}
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                      if ": " in line and not line.startswith(" "))
        if "Package" in fields:
            found[fields["Package"]] = (fields.get("Status", ""), fields.get("Version", ""))
    return found
