"""nvidia.device_files: the owner and mode the nvidia driver gives /dev/nvidia*.

The driver (through nvidia-modprobe) creates /dev/nvidiaN, /dev/nvidiactl and /dev/nvidia-uvm
with the mode, group and owner in its module parameters, shown in /proc/driver/nvidia/params as
`DeviceFileUID`, `DeviceFileGID` and `DeviceFileMode` (decimal: 438 is 0666). The defaults let
everyone open them. Some distributions and hardening guides set 0660 and a group (`video`):
then a container whose user is not root and not in that group cannot open the GPU
("Failed to initialize NVML: Insufficient Permissions"), just as with AMD's render group.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_driver import DEFAULT_FILE_MODE, not_an_nvidia_host
from gpudoctor.plugin import Area, Check, Findings, Result, Status

ID = "nvidia.device_files"


class NvidiaDeviceFiles(Check):
    id = ID
    title = "Who may open /dev/nvidia* (the driver's DeviceFile parameters)"
    area = Area.DEVICES
    order = 55

    def applies(self, facts: Facts) -> str | None:
        reason = not_an_nvidia_host(facts)
        if reason:
            return reason
        if not facts.nvidia_driver.params:
            return "/proc/driver/nvidia/params is not there (the nvidia module is not loaded)"
        return None

    def run(self, facts: Facts) -> Result:
        driver = facts.nvidia_driver
        found = Findings()
        ev = found.evidence
        mode = driver.param_int("DeviceFileMode")
        gid = driver.param_int("DeviceFileGID")
        uid = driver.param_int("DeviceFileUID")
        for key in ("DeviceFileUID", "DeviceFileGID", "DeviceFileMode", "ModifyDeviceFiles"):
            if key in driver.params:
                shown = driver.params[key]
                if key == "DeviceFileMode" and mode is not None:
                    shown += f" (0{mode:o})"
                if key == "ModifyDeviceFiles" and shown == "0":
                    shown += " (the driver leaves existing /dev/nvidia* as they are)"
                ev.append(f"/proc/driver/nvidia/params: {key}: {shown}")
        why = ("nvidia-modprobe creates /dev/nvidia* with these values; the container toolkit "
               "passes the files into containers unchanged, so they decide which container "
               "users may open the GPU.")
        if mode is None:
            return Result.skip("/proc/driver/nvidia/params has no DeviceFileMode", evidence=ev)
        if mode & 0o006 == 0o006:
            summary = f"/dev/nvidia* are read-write for everyone (mode 0{mode:o})"
            if mode == DEFAULT_FILE_MODE and (gid in (0, None)) and (uid in (0, None)):
                summary += ", the driver's default"
            return found.result(summary, why)
        group = facts.groups.name_of(gid) if gid is not None else None
        label = f"{group} (GID {gid})" if group else f"GID {gid}"
        user = facts.user
        member = user is not None and gid is not None and (gid == user.gid or gid in user.groups)
        if gid in (0, None):
            found.add(Status.WARN, f"/dev/nvidia* have mode 0{mode:o} and group root: only "
                      "root can open the GPU",
                      why + " A container running as a non-root user gets \"Failed to "
                      "initialize NVML: Insufficient Permissions\".",
                      "Run GPU containers as root, or set a group the driver should use: "
                      "`options nvidia NVreg_DeviceFileGID=<gid> NVreg_DeviceFileMode=0660` in "
                      "/etc/modprobe.d/nvidia.conf, then reload the module or reboot.",
                      id=f"{ID}.root_only")
            return found.result("", "")
        if mode & 0o060 != 0o060:
            found.add(Status.WARN, f"/dev/nvidia* have mode 0{mode:o}: even group {label} "
                      "cannot read and write them", why,
                      "Set NVreg_DeviceFileMode=0660 (or 0666) in /etc/modprobe.d/nvidia.conf "
                      "and reload the module.", id=f"{ID}.group_cannot_write")
            return found.result("", "")
        add = f"--group-add {gid}"
        ev.append(f"{user.name} is {'in' if member else 'not in'} {label}" if user else
                  "the person diagnosed for is not known")
        found.add(Status.WARN,
                  f"/dev/nvidia* are mode 0{mode:o}, group {label}: a non-root container "
                  f"user needs `{add}`",
                  why + f" The driver is set to mode 0{mode:o} and group {label} instead of "
                  "the default 0666. Root in a container opens them anyway; any other "
                  "container user must carry the group by number (the image's /etc/group "
                  "does not know the host's names), or it gets \"Failed to initialize NVML: "
                  "Insufficient Permissions\"."
                  + ("" if member or user is None else
                     f" {user.name} is not in {label} either, so rootless engines and "
                     "nvidia-smi on the host fail for them too."),
                  f"Give non-root containers the group: `docker run --gpus all {add} ...`"
                  + ("" if member or user is None else
                     f"; on the host: `sudo usermod -aG {group or gid} {user.name}` "
                     "(takes effect at the next login)") + ".",
                  id=f"{ID}.group_restricted", commands=(f"docker run --gpus all {add} IMAGE",))
        result = found.result("", "")
        return result
