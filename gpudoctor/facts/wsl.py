"""WSL2 detection, and what the Windows driver provides (/dev/dxg, /usr/lib/wsl/lib).

Its own small module because every host asks it: the NVIDIA checks' preconditions
(facts/applies.py) need to know whether this is WSL before they can say "not an NVIDIA host",
and an AMD or Intel host should not import the NVIDIA driver modules to learn that it is not.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

#: Where WSL2 mounts the Windows driver's user-space libraries and nvidia-smi.
WSL_LIB_DIR = "/usr/lib/wsl/lib"
WSL_LIBS = ("libcuda.so.1", "libnvidia-ml.so.1", "nvidia-smi")


@record
class Wsl:
    """What says this Linux runs under WSL, and what the Windows driver provides."""

    is_wsl: bool = False
    version: int | None = None  # 1 or 2
    evidence: list[str] = field(default_factory=list)
    dxg: bool = False
    libs: dict[str, bool] = field(default_factory=dict)
    linux_driver: list[str] = field(default_factory=list)


def inspect_wsl(facts: Facts) -> Wsl:
    host = facts.host
    wsl = Wsl()
    release = facts.kernel_release or ""
    proc_version = host.read_attr("/proc/version") or ""
    if "microsoft" in release.lower() or "microsoft" in proc_version.lower():
        wsl.is_wsl = True
        wsl.version = 2 if "wsl2" in (release + proc_version).lower() else 1
        wsl.evidence.append(f"kernel release {release}" if "microsoft" in release.lower()
                            else f"/proc/version: {proc_version.strip()[:120]}")
    try:
        wsl.dxg = host.device_node("/dev/dxg") is not None
    except HostError:
        wsl.dxg = False
    if wsl.dxg and not wsl.is_wsl:
        wsl.is_wsl, wsl.version = True, 2
    if wsl.is_wsl and wsl.dxg:
        wsl.version = 2
    if not wsl.is_wsl:
        return wsl
    wsl.evidence.append("/dev/dxg: present (the paravirtualised GPU)" if wsl.dxg
                        else "/dev/dxg: does not exist")
    for name in WSL_LIBS:
        wsl.libs[name] = host.exists(f"{WSL_LIB_DIR}/{name}")
    driver = facts.nvidia_driver
    for pkg in driver.installed_packages:
        if not pkg.name.startswith(("nvidia-fabric", "libnvidia-ml1", "libcuda1")):
            wsl.linux_driver.append(f"package {pkg.name} {pkg.version}")
    wsl.linux_driver += [f"library {lib.path}" for lib in driver.libs]
    if driver.loaded:
        wsl.linux_driver.append("the nvidia kernel module is loaded")
    return wsl
