"""nvidia.driver_mismatch: the loaded nvidia module and the user-space driver are one version.

An upgrade (often unattended-upgrades at night) replaces libnvidia-ml and libcuda on disk while
the old kernel module stays loaded until the next reboot. From then on every NVML user fails with
"Failed to initialize NVML: Driver/library version mismatch": nvidia-smi, the container
toolkit's hook (`nvml error: driver/library version mismatch`), CUDA in every container. The
kernel log says `NVRM: API mismatch`. Nothing is broken on disk: the running module is old.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.facts.nvidia_driver import NvidiaDriver

ID = "nvidia.driver_mismatch"
MATCH = ("NVML (nvidia-smi, the container toolkit, CUDA) refuses to work when the kernel "
         "module and libnvidia-ml differ in version; they match.")
DIFFER = ("The kernel has nvidia {module} loaded, but user space is {user} ({where}).{upgraded} "
          "Every NVML user fails with `Failed to initialize NVML: Driver/library version "
          "mismatch` (the toolkit's hook: `nvml error: driver/library version mismatch`), so no "
          "container gets a GPU. The kernel log shows `NVRM: API mismatch`. The driver on disk "
          "is fine; the module in memory is the old one.")
#: where dpkg.log shows the upgrade that put the new user space on disk
UPGRADED = " dpkg.log shows the upgrade: `{upgrade}`."
REBOOT = ("Reboot: `sudo reboot`. Without a reboot, when no process uses the GPU (`sudo lsof "
          "/dev/nvidia*` and `nvidia-smi` show none; stop nvidia-persistenced and the display "
          "manager first), reload the modules: `sudo modprobe -r nvidia_uvm nvidia_drm "
          "nvidia_modeset nvidia && sudo modprobe nvidia nvidia_uvm`. gpudoctor never reboots "
          "by itself.")
DIFFER_SUMMARY = ("nvidia {module} is loaded but user space is {user}: NVML fails with "
                  "\"Driver/library version mismatch\"")


def _differ(upgraded: bool, unattended: bool) -> Say:
    """The versions_differ row, with the dpkg.log upgrade and the unattended-upgrades advice
    where the host has them."""
    remedy = REBOOT + (" unattended-upgrades can upgrade the driver again ({covered}): hold the "
                       "packages until a planned reboot: `{hold}` (undo with `sudo apt-mark "
                       "unhold ...`), or add \"nvidia-\" and \"libnvidia-\" to "
                       "Unattended-Upgrade::Package-Blacklist in "
                       "/etc/apt/apt.conf.d/50unattended-upgrades." if unattended else "")
    return Say(Status.FAIL, DIFFER_SUMMARY,
               DIFFER.replace("{upgraded}", UPGRADED if upgraded else ""), remedy,
               commands=("sudo reboot", "{hold}") if unattended else ("sudo reboot",),
               finding="versions_differ")


SENTENCES = Sentences(ID, {
    "ok": Say(Status.PASS, "nvidia {module} is loaded and user space is {module} too", MATCH),
    "ok_unattended": Say(
        Status.PASS, "nvidia {module} is loaded and user space is {module} too",
        MATCH + " unattended-upgrades may upgrade the driver packages: after such an upgrade "
        "the host needs a reboot before GPUs work again."),
    "not_recorded": Say(Status.SKIP, "this host root recorded neither /etc/ld.so.conf nor "
                        "driver packages: nothing to compare the module with"),
    "module_version_unknown": Say(
        Status.WARN, "the loaded nvidia module's version cannot be read",
        "Neither /sys/module/nvidia/version nor /proc/driver/nvidia/version gives a version, "
        "so it cannot be compared with the libraries."),
    "no_user_space": Say(
        Status.FAIL, "no user-space NVIDIA driver (libnvidia-ml.so.1) is installed",
        "The kernel module is loaded but no libnvidia-ml.so.1 or libcuda.so.1 is in the "
        "folders the dynamic loader searches ({lib_dirs}, ...). The container toolkit fails "
        "with `load library failed: libnvidia-ml.so.1: cannot open shared object file`.",
        "Install the driver's user-space part of the same version as the module ({module}) "
        "and run `sudo ldconfig`.", commands=("sudo ldconfig",)),
    **{"versions_differ" + upgraded + unattended: _differ(bool(upgraded), bool(unattended))
       for upgraded in ("", "_upgraded") for unattended in ("", "_unattended")},
})


def hold_command(driver: NvidiaDriver) -> str:
    names = sorted(p.name for p in driver.installed_packages)
    return "sudo apt-mark hold " + " ".join(names) if names else ""


class NvidiaDriverMismatch(Check):
    id = ID
    title = "The nvidia kernel module and the user-space driver are the same version"
    area = Area.KERNEL
    order = 40
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import loaded_driver_skip_reason

        return loaded_driver_skip_reason(facts)

    def run(self, facts: Facts) -> Result:
        driver = facts.nvidia_driver
        found = self.findings()
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
        module = driver.module_version
        if not module:
            found.say("module_version_unknown")
            return found.verdict("ok", module="")
        if not driver.libs and not driver.package_versions and not driver.libs_known:
            return found.verdict("not_recorded")
        if not driver.libs and not driver.package_versions:
            found.say("no_user_space", module=module, lib_dirs=", ".join(driver.lib_dirs[:6]))
            return found.verdict("ok", module=module)
        from gpudoctor.facts.nvidia_driver import version_mismatch

        bad = version_mismatch(driver)
        if bad is None:
            return found.verdict("ok_unattended" if covered else "ok", module=module)
        _, user, where = bad
        key = ("versions_differ" + ("_upgraded" if driver.last_upgrade else "")
               + ("_unattended" if covered else ""))
        found.say(key, module=module, user=user, where=where, upgrade=driver.last_upgrade,
                  covered=", ".join(covered), hold=hold_command(driver))
        return found.verdict("ok", module=module)
