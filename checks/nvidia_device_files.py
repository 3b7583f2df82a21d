"""nvidia.device_files: the owner and mode the nvidia driver gives /dev/nvidia*.

The driver (through nvidia-modprobe) creates /dev/nvidiaN, /dev/nvidiactl and /dev/nvidia-uvm
with the mode, group and owner in its module parameters, shown in /proc/driver/nvidia/params as
`DeviceFileUID`, `DeviceFileGID` and `DeviceFileMode` (decimal: 438 is 0666). The defaults let
everyone open them. Some distributions and hardening guides set 0660 and a group (`video`):
then a container whose user is not root and not in that group cannot open the GPU
("Failed to initialize NVML: Insufficient Permissions"), just as with AMD's render group.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ID = "nvidia.device_files"
WHY = ("nvidia-modprobe creates /dev/nvidia* with these values; the container toolkit passes "
       "the files into containers unchanged, so they decide which container users may open "
       "the GPU.")
RESTRICTED = (WHY + " The driver is set to mode {mode} and group {label} instead of the default "
              "0666. Root in a container opens them anyway; any other container user must carry "
              "the group by number (the image's /etc/group does not know the host's names), or "
              "it gets \"Failed to initialize NVML: Insufficient Permissions\".")
ADD = "Give non-root containers the group: `docker run --gpus all --group-add {gid} ...`"
RESTRICTED_SUMMARY = ("/dev/nvidia* are mode {mode}, group {label}: a non-root container user "
                      "needs `--group-add {gid}`")

SENTENCES = Sentences(ID, {
    "ok": Say(Status.PASS, "/dev/nvidia* are read-write for everyone (mode {mode})", WHY),
    "ok_default": Say(Status.PASS, "/dev/nvidia* are read-write for everyone (mode {mode}), "
                      "the driver's default", WHY),
    "no_mode": Say(Status.SKIP, "/proc/driver/nvidia/params has no DeviceFileMode"),
    "root_only": Say(
        Status.WARN, "/dev/nvidia* have mode {mode} and group root: only root can open the GPU",
        WHY + " A container running as a non-root user gets \"Failed to initialize NVML: "
        "Insufficient Permissions\".",
        "Run GPU containers as root, or set a group the driver should use: `options nvidia "
        "NVreg_DeviceFileGID=<gid> NVreg_DeviceFileMode=0660` in /etc/modprobe.d/nvidia.conf, "
        "then reload the module or reboot."),
    "group_cannot_write": Say(
        Status.WARN, "/dev/nvidia* have mode {mode}: even group {label} cannot read and write "
        "them", WHY,
        "Set NVreg_DeviceFileMode=0660 (or 0666) in /etc/modprobe.d/nvidia.conf and reload the "
        "module."),
    "group_restricted": Say(Status.WARN, RESTRICTED_SUMMARY, RESTRICTED, ADD + ".",
                            commands=("docker run --gpus all --group-add {gid} IMAGE",)),
    "group_restricted_outsider": Say(
        Status.WARN, RESTRICTED_SUMMARY,
        RESTRICTED + " {user} is not in {label} either, so rootless engines and nvidia-smi on "
        "the host fail for them too.",
        ADD + "; on the host: `sudo usermod -aG {group} {user}` (takes effect at the next "
        "login).", commands=("docker run --gpus all --group-add {gid} IMAGE",),
        finding="group_restricted"),
})


class NvidiaDeviceFiles(Check):
    id = ID
    title = "Who may open /dev/nvidia* (the driver's DeviceFile parameters)"
    area = Area.DEVICES
    order = 55
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import not_an_nvidia_host

        reason = not_an_nvidia_host(facts)
        if reason:
            return reason
        if not facts.nvidia_driver.params:
            return "/proc/driver/nvidia/params is not there (the nvidia module is not loaded)"
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.nvidia_driver import DEFAULT_FILE_MODE

        driver = facts.nvidia_driver
        found = self.findings()
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
        if mode is None:
            return found.verdict("no_mode")
        values: dict[str, Any] = {"mode": f"0{mode:o}", "gid": gid}
        if mode & 0o006 == 0o006:
            default = mode == DEFAULT_FILE_MODE and gid in (0, None) and uid in (0, None)
            return found.verdict("ok_default" if default else "ok", **values)
        group = facts.groups.name_of(gid) if gid is not None else None
        label = f"{group} (GID {gid})" if group else f"GID {gid}"
        values.update(label=label, group=group or gid)
        user = facts.user
        member = user is not None and gid is not None and (gid == user.gid or gid in user.groups)
        if gid in (0, None):
            found.say("root_only", **values)
            return found.verdict("ok", **values)
        if mode & 0o060 != 0o060:
            found.say("group_cannot_write", **values)
            return found.verdict("ok", **values)
        ev.append(f"{user.name} is {'in' if member else 'not in'} {label}" if user else
                  "the person diagnosed for is not known")
        if member or user is None:
            found.say("group_restricted", **values)
        else:
            found.say("group_restricted_outsider", user=user.name, **values)
        return found.verdict("ok", **values)
