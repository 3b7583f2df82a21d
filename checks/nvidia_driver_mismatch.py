"""nvidia.driver_mismatch: the loaded nvidia module and the user-space driver are one version.

An upgrade (often unattended-upgrades at night) replaces libnvidia-ml and libcuda on disk while
the old kernel module stays loaded until the next reboot. From then on every NVML user fails with
"Failed to initialize NVML: Driver/library version mismatch": nvidia-smi, the container
toolkit's hook (`nvml error: driver/library version mismatch`), CUDA in every container. The
kernel log says `NVRM: API mismatch`. Nothing is broken on disk: the running module is old.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_driver import NvidiaDriver, loaded_driver_skip_reason
from gpudoctor.plugin import Area, Check, Findings, Result, Status

ID = "nvidia.driver_mismatch"


def user_space_version(driver: NvidiaDriver) -> tuple[str | None, str]:
    """The driver version user space will load (libnvidia-ml.so.1 first), and from where."""
    for name in ("libnvidia-ml", "libcuda"):
        for lib in driver.libs:
            if lib.name == name:
                return lib.version, lib.path
    versions = driver.package_versions
    if len(versions) == 1:
        version, where = next(iter(versions.items()))
        return version, "package " + ", ".join(where)
    return None, ""


def mismatch(driver: NvidiaDriver) -> tuple[str, str, str] | None:
    """(module version, user-space version, where) when they differ; the one place this is
    decided (nvidia.gpu_count and kernel.log point here)."""
    if not driver.loaded or not driver.module_version:
        return None
    user, where = user_space_version(driver)
    if user is None or user == driver.module_version:
        return None
    return driver.module_version, user, where


def hold_command(driver: NvidiaDriver) -> str:
    names = sorted(p.name for p in driver.installed_packages)
    return "sudo apt-mark hold " + " ".join(names) if names else ""


class NvidiaDriverMismatch(Check):
    id = ID
    title = "The nvidia kernel module and the user-space driver are the same version"
    area = Area.KERNEL
    order = 40

    def applies(self, facts: Facts) -> str | None:
        return loaded_driver_skip_reason(facts)

    def run(self, facts: Facts) -> Result:
        driver = facts.nvidia_driver
        found = Findings()
        ev = found.evidence
        flavour = f" ({driver.flavour} kernel module)" if driver.flavour else ""
        ev.append(f"loaded module: nvidia {driver.module_version or 'version unknown'}{flavour}"
                  + (f", from {driver.module_source}" if driver.module_source else ""))
        if driver.proc_version_line:
            ev.append(f"/proc/driver/nvidia/version: {driver.proc_version_line}")
        ev += [f"user space: {lib.path}" for lib in driver.libs]
        ev += [f"package: {p.name} {p.version}" + (" (held)" if p.held else "")
               for p in driver.installed_packages]
        if driver.last_upgrade:
            ev.append(f"/var/log/dpkg.log: {driver.last_upgrade}")
        unattended = driver.unattended
        covered = [p.name for p in driver.installed_packages
                   if not p.held and unattended.covers(p.name)]
        if covered:
            ev.append(f"unattended-upgrades is on ({unattended.enabled_by}) and would upgrade "
                      + ", ".join(covered))
        if not driver.module_version:
            return Result.warn(
                "the loaded nvidia module's version cannot be read", evidence=ev,
                details="Neither /sys/module/nvidia/version nor /proc/driver/nvidia/version "
                        "gives a version, so it cannot be compared with the libraries.")
        if not driver.libs and not driver.package_versions and not driver.libs_known:
            return Result.skip("this host root recorded neither /etc/ld.so.conf nor driver "
                               "packages: nothing to compare the module with", evidence=ev)
        if not driver.libs and not driver.package_versions:
            found.add(Status.FAIL, "no user-space NVIDIA driver (libnvidia-ml.so.1) is installed",
                      "The kernel module is loaded but no libnvidia-ml.so.1 or libcuda.so.1 is "
                      "in the folders the dynamic loader searches ("
                      + ", ".join(driver.lib_dirs[:6]) + ", ...). The container toolkit fails "
                      "with `load library failed: libnvidia-ml.so.1: cannot open shared object "
                      "file`.",
                      "Install the driver's user-space part of the same version as the module "
                      f"({driver.module_version}) and run `sudo ldconfig`.",
                      id=f"{ID}.no_user_space", commands=("sudo ldconfig",))
            return found.result("", "")
        bad = mismatch(driver)
        if bad is None:
            return found.result(
                f"nvidia {driver.module_version} is loaded and user space is "
                f"{driver.module_version} too",
                "NVML (nvidia-smi, the container toolkit, CUDA) refuses to work when the kernel "
                "module and libnvidia-ml differ in version; they match."
                + (" unattended-upgrades may upgrade the driver packages: after such an "
                   "upgrade the host needs a reboot before GPUs work again." if covered else ""))
        module, user, where = bad
        when = (f" dpkg.log shows the upgrade: `{driver.last_upgrade}`."
                if driver.last_upgrade else "")
        details = (f"The kernel has nvidia {module} loaded, but user space is {user} ({where})."
                   f"{when} Every NVML user fails with `Failed to initialize NVML: "
                   "Driver/library version mismatch` (the toolkit's hook: `nvml error: "
                   "driver/library version mismatch`), so no container gets a GPU. The kernel "
                   "log shows `NVRM: API mismatch`. The driver on disk is fine; the module in "
                   "memory is the old one.")
        remedy = ("Reboot: `sudo reboot`. Without a reboot, when no process uses the GPU "
                  "(`sudo lsof /dev/nvidia*` and `nvidia-smi` show none; stop "
                  "nvidia-persistenced and the display manager first), reload the modules: "
                  "`sudo modprobe -r nvidia_uvm nvidia_drm nvidia_modeset nvidia && "
                  "sudo modprobe nvidia nvidia_uvm`. gpudoctor never reboots by itself.")
        commands = ["sudo reboot"]
        if covered:
            hold = hold_command(driver)
            listed = ", ".join(covered)
            remedy += (f" unattended-upgrades can upgrade the driver again ({listed}"
                       f"): hold the packages until a planned reboot: `{hold}` (undo with "
                       "`sudo apt-mark unhold ...`), or add \"nvidia-\" and \"libnvidia-\" to "
                       "Unattended-Upgrade::Package-Blacklist in "
                       "/etc/apt/apt.conf.d/50unattended-upgrades.")
            commands.append(hold)
        found.add(Status.FAIL, f"nvidia {module} is loaded but user space is {user}: "
                  "NVML fails with \"Driver/library version mismatch\"", details, remedy,
                  id=f"{ID}.versions_differ", commands=tuple(commands))
        result = found.result("", "")
        return result
