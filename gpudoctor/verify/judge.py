"""Judging what the probe saw against what the host's facts expect."""

from __future__ import annotations

import re

from gpudoctor.verify.args import RunArgs
from gpudoctor.verify.causes import Cause, _cause, map_error
from gpudoctor.verify.constants import SMI_TIMEOUT_S
from gpudoctor.verify.expect import Expectations, ExpectedDevice
from gpudoctor.verify.probe import DeviceSeen, ProbeOutput
from gpudoctor.verify.results import Item, VerifyResult


def judge(result: VerifyResult, expect: Expectations, run_args: RunArgs,
          passes: list[ProbeOutput]) -> None:
    """Turn the probe passes into items, each failing one with its cause."""
    for dev in expect.devices:
        for output in passes:
            seen = output.devices.get(dev.path)
            result.items.append(_device_item(dev, seen, output, expect))
    nonroot = next((p for p in passes if p.user != "root"), None)
    if nonroot is not None and (expect.group_ids or run_args.group_add):
        result.items.append(_groups_item(nonroot, expect, run_args))
    root = next((p for p in passes if p.user == "root"), None)
    if root is not None:
        rocm = _rocm_item(root, expect)
        if rocm:
            result.items.append(rocm)
        leak = _integrated_item(root, expect)
        if leak:
            result.items.append(leak)
    nvidia_expected = expect.nvidia_requested and (
        bool(run_args.gpus) or any(d.startswith("nvidia.com/") for d in run_args.cdi_devices)
        or any(_visible(p.nvidia_env) for p in passes))
    for output in passes:
        if output.smi_state is not None and (nvidia_expected or output.smi_state != "absent"):
            result.items.append(_smi_item(output, expect, nvidia_expected))
    if expect.nvidia_requested and not nvidia_expected and passes:
        result.items.append(Item(
            "gpu-request", "warn", f"`--runtime={run_args.runtime or 'nvidia'}` is in use but "
            "the container's NVIDIA_VISIBLE_DEVICES is unset, so the runtime gives it no GPU",
            evidence=[f"NVIDIA_VISIBLE_DEVICES in the container: "
                      f"{passes[0].nvidia_env or 'unset'}"],
            cause=_cause("no-gpu-requested", "the nvidia runtime was given no GPU to inject",
                         "The nvidia runtime injects the GPUs NVIDIA_VISIBLE_DEVICES names; CUDA "
                         "images set it, other images do not.",
                         "Add `--gpus=all` (or `-e NVIDIA_VISIBLE_DEVICES=all`).",
                         ("docker.nvidia_runtime",))))
    asked_for_gpu = bool(expect.devices or run_args.gpus or run_args.cdi_devices or
                         run_args.privileged or expect.nvidia_requested)
    if not asked_for_gpu and passes:
        result.items.append(Item(
            "gpu-request", "warn", "these arguments give the container no GPU: no --device, "
            "--gpus or nvidia runtime", cause=_cause(
                "no-gpu-requested", "the arguments request no GPU",
                remedy="Use the arguments `gpudoctor devices` prints, or pass your own after "
                       "`--`.", checks=("gpu.present",))))


def _visible(env: str | None) -> bool:
    return bool(env) and env not in ("void", "none", "")


def _device_item(dev: ExpectedDevice, seen: DeviceSeen | None, output: ProbeOutput,
                 expect: Expectations) -> Item:
    user = output.user
    evidence = [dev.describe_host(), f"from {dev.source}"]
    if seen is None or seen.state == "missing":
        return Item("device", "fail", f"{dev.path} is not in the container", target=dev.path,
                    user=user, evidence=evidence, cause=_cause(
                        "device-not-in-container", f"{dev.path} is not in the container",
                        "Docker did not create the node: it is not among the passed devices.",
                        f"Pass it with `--device={dev.host_path}`.", ("devices.nodes",)))
    if seen.state == "notchar":
        return Item("device", "fail", f"{dev.path} in the container is not a character device",
                    target=dev.path, user=user, evidence=[*evidence, seen.error],
                    cause=_cause("device-not-char", f"{dev.path} is not a character device",
                                 remedy="Pass the real device node with --device.",
                                 checks=("devices.nodes",)))
    evidence.insert(0, f"in the container: {seen.describe()}")
    if user != "root":
        evidence.append(f"{user} holds groups {' '.join(map(str, output.gids)) or 'none'}")
    if seen.state == "rw":
        return Item("device", "pass", f"{dev.path} opened read-write as {user}", target=dev.path,
                    user=user, evidence=evidence)
    evidence.append(f"open: {seen.error}")
    return Item("device", "fail", f"{dev.path} cannot be opened read-write as {user}: "
                f"{_errno_text(seen.error)}", target=dev.path, user=user, evidence=evidence,
                cause=_open_cause(dev, seen, output))


def _errno_text(error: str) -> str:
    for text in ("Permission denied", "Operation not permitted", "No such device or address",
                 "No such device", "Read-only file system", "No such file or directory"):
        if text.lower() in error.lower():
            return text
    return error or "failed"


def _open_cause(dev: ExpectedDevice, seen: DeviceSeen, output: ProbeOutput) -> Cause:
    error = _errno_text(seen.error)
    root = output.user == "root"
    checks_dev = ("devices.nodes",)
    if error == "Operation not permitted":
        return _cause(
            "device-cgroup-denied", f"the container's device cgroup does not allow {dev.path}",
            "EPERM on open means the device cgroup does not list this device: it was not "
            "passed with --device (a bind mount of /dev is not enough), or an outer container "
            "denies it.", f"Pass it with `--device={dev.host_path}`.", checks_dev)
    if error in ("No such device or address", "No such device"):
        return _cause(
            "device-driver-missing", f"no driver answers behind {dev.path} "
            f"({seen.major}:{seen.minor})",
            "The node exists but the kernel has no driver bound to that device number: the GPU "
            "driver is not loaded or the GPU is gone.",
            "Look at `lsmod | grep -E 'amdgpu|nvidia'` and `dmesg` on the host.",
            ("kernel.driver", "devices.nodes"))
    if error == "Permission denied" and not root and seen.gid is not None:
        mode = seen.mode or 0
        held = seen.gid in output.gids
        if not held and mode & 0o006 != 0o006:
            gid = seen.gid
            return _cause(
                "group-not-held", f"{output.user} in the container does not hold GID {gid}, "
                f"which owns {dev.path}",
                f"{dev.path} has mode {mode:04o} and group {gid} (Docker copies the host's "
                "numeric owner). Root in the container opens it anyway, so this shows only "
                "for a non-root container user, such as ROCm images' own users. A group name "
                "would be resolved in the image's /etc/group instead (ROCm images make `render` "
                "GID 109), so only the numeric GID works everywhere.",
                f"Add `--group-add={gid}` to the docker run arguments (compose: "
                f"`group_add: ['{gid}']`); `gpudoctor devices` prints the GIDs of every node.",
                ("groups.render",))
        if held and mode & 0o060 != 0o060:
            return _cause(
                "group-mode", f"{dev.path} has mode {mode:04o}: its group {seen.gid} cannot "
                "read and write it",
                "The udev rule that gives render nodes and /dev/kfd mode 0660 to the render "
                "group did not apply.",
                "Restore it (`SUBSYSTEM==\"kfd\", GROUP=\"render\", MODE=\"0660\"` and the same "
                "for renderD*) and run `sudo udevadm trigger`.", ("groups.render",
                                                                  "devices.nodes"))
    if error == "Permission denied":
        return _cause(
            "device-access-denied", f"access to {dev.path} is denied as {output.user} although "
            "its mode and groups allow it",
            "Root or the owning group is still refused: SELinux labels (container_use_devices), "
            "AppArmor, or a user-namespace-remapped daemon.",
            "On SELinux hosts: `sudo setsebool -P container_use_devices=1` or "
            "`--security-opt=label=disable`; for userns-remap daemons the device owner must map "
            "into the container.", ("devices.nodes",))
    return _cause("device-open-failed", f"opening {dev.path} failed: {seen.error}",
                  checks=checks_dev)


def _groups_item(output: ProbeOutput, expect: Expectations, run_args: RunArgs) -> Item:
    missing = [g for g in expect.group_ids if g not in output.gids]
    evidence = [f"id -G as {output.user}: {' '.join(map(str, output.gids))}",
                f"--group-add: {' '.join(run_args.group_add)}"]
    if missing:
        return Item("groups", "fail", f"{output.user} does not hold the added group(s) "
                    f"{' '.join(map(str, missing))}", user=output.user, evidence=evidence,
                    cause=_cause("group-add-lost", "the added groups did not reach the "
                                 "container's user", remedy="Check `--group-add` and the "
                                 "daemon's userns-remap setting.", checks=("groups.render",)))
    names = [g for g in run_args.group_add if not g.isdigit()]
    if names:
        return Item("groups", "warn", f"group(s) given by name ({', '.join(names)}) resolve in "
                    "the image's /etc/group, not the host's", user=output.user,
                    evidence=evidence, cause=_cause(
                        "group-by-name", "a group was added by name",
                        "Images define their own groups (ROCm images make render 109), so a "
                        "name can map to another GID than the host's.",
                        "Use the numeric GID: `--group-add=$(stat -c %g /dev/kfd)`.",
                        ("groups.render",)))
    return Item("groups", "pass", f"{output.user} holds {' '.join(map(str, output.gids))}",
                user=output.user, evidence=evidence)


def _rocm_item(root: ProbeOutput, expect: Expectations) -> Item | None:
    if "/dev/kfd" not in [d.path for d in expect.devices]:
        return None
    renders = [path for path, _, _ in root.dri if path.rsplit("/", 1)[-1].startswith("renderD")]
    if renders:
        return Item("rocm", "pass", f"/dev/kfd and {len(renders)} render node(s) are there: "
                    + ", ".join(renders), target="/dev/kfd")
    return Item("rocm", "fail", "/dev/kfd is there but no /dev/dri/renderD* node: ROCm will see "
                "no GPU", target="/dev/kfd", cause=_cause(
                    "rocm-render-missing", "no render node beside /dev/kfd",
                    "ROCm opens /dev/dri/renderD<minor> for every GPU it finds through "
                    "/dev/kfd and silently skips a GPU whose render node is absent.",
                    "Also pass the selected GPUs' render nodes, e.g. "
                    "`--device=/dev/dri/renderD128` (`gpudoctor devices` prints them).",
                    ("devices.nodes",)))


def _integrated_item(root: ProbeOutput, expect: Expectations) -> Item | None:
    if not expect.forbidden:
        return None
    by_number = {(f.major, f.minor): f for f in expect.forbidden}
    leaked = [(path, by_number[(major, minor)]) for path, major, minor in root.dri
              if (major, minor) in by_number]
    if not leaked:
        return Item("integrated", "pass", "no integrated GPU's render node is in the container",
                    evidence=[f"left out: {f.label} ({f.path})" for f in expect.forbidden])
    names = ", ".join(f"{path} ({node.label})" for path, node in leaked)
    return Item("integrated", "fail", f"an integrated GPU leaked into the container: {names}",
                evidence=[f"{path} is {node.major}:{node.minor}, the render node {node.path} of "
                          f"{node.pci}" for path, node in leaked],
                cause=_cause(
                    "integrated-gpu-leaked", "the integrated GPU is visible in the container",
                    "ROCm enumerates every render node it can open; beside a discrete card an "
                    "integrated GPU makes frameworks pick it or crash (`HIP error: invalid "
                    "device function`). Passing /dev/dri whole or --privileged passes it.",
                    "Pass only the selected GPUs' render nodes (`gpudoctor devices` prints "
                    "them) instead of /dev/dri, or add --include-integrated if you want it.",
                    ("gpu.present", "devices.nodes")))


def _smi_item(output: ProbeOutput, expect: Expectations, expected: bool) -> Item:
    user = output.user
    text = "\n".join(output.smi_lines)
    evidence = [f"nvidia-smi -L as {user}: exit {output.smi_state}", *output.smi_lines[:16]]
    if output.nvidia_nodes:
        evidence.append("NVIDIA device files: " + " ".join(output.nvidia_nodes))
    evidence.append(f"NVIDIA_VISIBLE_DEVICES={output.nvidia_env or 'unset'}")
    if output.smi_state == "absent":
        return Item("nvidia-smi", "fail", "nvidia-smi is not in the container: the toolkit did "
                    "not inject the driver", user=user, evidence=evidence, cause=_cause(
                        "driver-not-injected", "the NVIDIA driver was not injected",
                        "nvidia-container-toolkit mounts the host driver's nvidia-smi and "
                        "libraries into any image when it handles the container; here nothing "
                        "was mounted, so the toolkit did not act on this container.",
                        "Check `docker info` for the nvidia runtime and that --gpus or "
                        "--runtime=nvidia is used; run `gpudoctor check` for the toolkit.",
                        ("nvidia.toolkit", "docker.nvidia_runtime")))
    gpus = [line for line in output.smi_lines if re.match(r"GPU \d+:", line)]
    if output.smi_state == "0" and gpus:
        want = expect.nvidia_count
        if want is not None and len(gpus) < want:
            return Item("nvidia-smi", "warn", f"nvidia-smi lists {len(gpus)} GPU(s), {want} "
                        "expected", user=user, evidence=evidence)
        return Item("nvidia-smi", "pass", f"nvidia-smi lists {len(gpus)} GPU(s) as {user}",
                    user=user, evidence=evidence)
    if output.smi_state in ("124", "143", "137"):
        return Item("nvidia-smi", "fail", f"nvidia-smi -L did not finish within {SMI_TIMEOUT_S} "
                    f"s as {user}: the GPU or its driver hangs", user=user, evidence=evidence,
                    cause=_cause("nvidia-smi-hung", "nvidia-smi hangs",
                                 "A GPU that fell off the bus or a wedged driver makes every "
                                 "NVML call block.", "Look at `dmesg | grep -i xid` and "
                                 "`nvidia-smi` on the host; a reboot usually clears it.",
                                 ("kernel.driver",)))
    if output.smi_state == "127":
        return Item("nvidia-smi", "fail", f"nvidia-smi is in the image at {output.smi_path} but "
                    "cannot run: the image has no glibc (busybox, alpine)", user=user,
                    evidence=evidence, cause=_cause(
                        "image-without-glibc", "the injected nvidia-smi cannot run in this image",
                        "The toolkit injects the host driver's nvidia-smi, linked against "
                        "glibc; busybox and alpine images do not have it.",
                        "Verify with a glibc image: `gpudoctor verify --image ubuntu`."))
    cause = map_error(text)
    status = "fail" if expected else "warn"
    return Item("nvidia-smi", status, f"nvidia-smi -L failed as {user}: "
                f"{(output.smi_lines or ['no output'])[-1]}", user=user, evidence=evidence,
                cause=cause)
