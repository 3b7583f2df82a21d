"""groups.render: who may open /dev/kfd and the render nodes, by numeric GID.

Docker copies each device file into the container with the host's numbers for owner and
group. A non-root process in the container can open it only if it holds that numeric group,
which `--group-add=GID` gives it. The group *name* does not travel: AMD's ROCm images define
`render` as GID 109 while hosts use 105, 110, 992, 993..., so `--group-add render` silently
means the wrong group. kfd and the render nodes can belong to different groups (old ROCm udev
rules gave kfd to `video`): each GID goes into the arguments. Root in a container needs none
of this; the person needs the groups only to run ROCm on the host itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpudoctor.facts import Facts
from gpudoctor.facts.runargs import KFD, device_nodes, mode_string
from gpudoctor.facts.system import udev_rules_mentioning
from gpudoctor.pasteable import quoted_commands
from gpudoctor.plugin import Area, Check, Result, Status

#: AMD's ROCm images create `render` with this GID (ROCm/ROCm-docker PR #93).
IMAGE_RENDER_GID = 109


@dataclass
class GroupUse:
    gid: int
    name: str | None
    nodes: list[str] = field(default_factory=list)
    members: tuple[str, ...] = ()


class GroupsRender(Check):
    id = "groups.render"
    title = "Groups that own the GPU device files"
    area = Area.DEVICES
    order = 50
    requires = ("gpu.present",)

    def applies(self, facts: Facts) -> str | None:
        if not device_nodes(facts):
            if facts.gpus.by_vendor("nvidia"):
                return ("the selected NVIDIA GPUs are handed over by the container toolkit "
                        "(--gpus), not by --device with group ownership")
            return "no device file is passed with --device for the selected GPUs"
        return None

    def run(self, facts: Facts) -> Result:
        nodes = device_nodes(facts)
        known = [n for n in nodes if n.stat is not None and n.stat.kind in ("char", "block")]
        evidence: list[str] = []
        warnings: list[str] = []
        remedies: list[str] = []
        uses: dict[int, GroupUse] = {}
        for node in nodes:
            st = node.stat
            if st is None:
                evidence.append(f"{node.path}: does not exist (see devices.nodes)")
                continue
            if st.kind not in ("char", "block"):
                evidence.append(f"{node.path}: no device record (type {st.kind}); its owner "
                                "is unknown")
                continue
            group = facts.groups.by_gid.get(st.gid)
            name = group.name if group else None
            use = uses.setdefault(st.gid, GroupUse(st.gid, name, [],
                                                   group.members if group else ()))
            use.nodes.append(node.path)
            access = self._access(st.mode)
            label = f"{name} (GID {st.gid})" if name else f"GID {st.gid} (no name in /etc/group)"
            evidence.append(f"{node.path}: {mode_string(st.kind, st.mode)} owner UID {st.uid}, "
                            f"group {label}: {access}")
            if (st.mode & 0o066) == 0:
                warnings.append(f"{node.path} is {st.mode_octal}: only root can open it")
                remedies.append(self._udev_remedy(node.path))
            elif st.gid == 0 and (st.mode & 0o006) != 0o006:
                warnings.append(f"{node.path} belongs to group root: only root can open it")
                remedies.append(self._udev_remedy(node.path))
            elif (st.mode & 0o060) != 0o060 and (st.mode & 0o006) != 0o006:
                warnings.append(f"{node.path} does not grant its group read-write "
                                f"({st.mode_octal})")
                remedies.append(self._udev_remedy(node.path))
        if not known:
            return Result.skip("the owners of the device files are unknown (missing, or not "
                               "captured in this root)", evidence=evidence)
        groups = [u for u in uses.values() if u.gid != 0]
        gid_text = ", ".join(f"{u.name or '?'} {u.gid}" for u in groups)
        if len(groups) > 1:
            evidence.append("the device files belong to different groups ("
                            + "; ".join(f"{u.name or u.gid}: {', '.join(u.nodes)}"
                                        for u in groups)
                            + "): each GID needs its own --group-add")
            kfd_group = next((u for u in groups if KFD in u.nodes), None)
            if kfd_group is not None:
                rules = udev_rules_mentioning(facts.host, "kfd", ("kfd", "rocm", "amd",
                                                                  "50-udev-default"))
                evidence += [f"udev rule for /dev/kfd: {path}: {line}" for path, line in rules]
                if kfd_group.name == "video":
                    evidence.append("/dev/kfd in `video` is what old ROCm udev rules did; "
                                    "systemd's own rule gives it to `render`")
        render = next((u for u in groups if u.name == "render"), None)
        if render is not None and render.gid != IMAGE_RENDER_GID:
            evidence.append(f"the host's render group is GID {render.gid}; AMD's ROCm images "
                            f"call GID {IMAGE_RENDER_GID} render, so `--group-add render` would "
                            f"add {IMAGE_RENDER_GID}: use --group-add={render.gid}")
        fixes: list[str] = []
        if any("udevadm" in r for r in remedies):
            fixes.append("devices.udev_rule")  # the rule below, previewed and applied
        missing = self._membership(facts, groups, evidence)
        if missing:
            user = facts.user
            names = ",".join(u.name or str(u.gid) for u in missing)
            warnings.append(f"{user.name if user else 'the person'} is not in "
                            + ", ".join(f"{u.name or '?'} ({u.gid})" for u in missing)
                            + ": fine for containers, but ROCm on the host will be refused")
            if user is not None:
                remedies.append(f"To use the GPU outside containers: `sudo usermod -aG {names} "
                                f"{user.name}`, then log out and back in (or `newgrp "
                                f"{missing[0].name or missing[0].gid}`) for it to take effect.")
            fixes.append("groups.add_user_render")
        details = ("Docker gives the container the device files with the host's numeric owner "
                   "and group. A non-root user in the container can open them only through "
                   "that numeric group, so the arguments carry "
                   + (", ".join(f"--group-add={u.gid}" for u in groups) or "no --group-add")
                   + ". Group names do not carry over: images define their own groups (AMD's "
                   f"ROCm images use {IMAGE_RENDER_GID} for render). Root in a container needs "
                   "no group.")
        if warnings:
            return Result(Status.WARN, "; ".join(warnings), details=details, evidence=evidence,
                          remedy="\n".join(dict.fromkeys(remedies)), fixes=fixes,
                          commands=list(quoted_commands("\n".join(remedies))),
                          findings=["groups.render.user_not_in_group"])
        who = facts.user.name if facts.user else None
        summary = (f"the device files belong to {gid_text}, read-write for the group"
                   if groups else "the device files are open to every user (mode 0666)")
        if who and groups and not (facts.user and facts.user.is_root):
            summary += f"; {who} is a member"
        return Result.passed(summary, details=details, evidence=evidence)

    @staticmethod
    def _access(mode: int) -> str:
        if (mode & 0o006) == 0o006:
            return "read-write for every user (mode 0666: a choice, not needed with --group-add)"
        if (mode & 0o060) == 0o060:
            return "read-write for the group"
        if mode & 0o040:
            return "read-only for the group"
        return "no access for the group"

    @staticmethod
    def _udev_remedy(path: str) -> str:
        if path == "/dev/kfd":
            return ('Give /dev/kfd to the render group: write /etc/udev/rules.d/70-kfd.rules '
                    'with `SUBSYSTEM=="kfd", KERNEL=="kfd", GROUP="render", MODE="0660"`, then '
                    '`sudo udevadm control --reload && sudo udevadm trigger`.')
        return ('Give render nodes to the render group: write /etc/udev/rules.d/70-render.rules '
                'with `SUBSYSTEM=="drm", KERNEL=="renderD*", GROUP="render", MODE="0660"`, then '
                '`sudo udevadm control --reload && sudo udevadm trigger`.')

    @staticmethod
    def _membership(facts: Facts, groups: list[GroupUse], evidence: list[str]) -> list[GroupUse]:
        """Groups the person lacks (for ROCm on the host), with what was seen."""
        user = facts.user
        if user is None:
            evidence.append("the person's groups were not captured; membership not checked")
            return []
        if user.is_root:
            evidence.append(f"{user.name} is root: no group needed")
            return []
        missing = []
        for use in groups:
            in_session = use.gid in user.groups or use.gid == user.gid
            in_file = user.name in use.members
            label = f"{use.name or '?'} ({use.gid})"
            if in_session:
                evidence.append(f"{user.name} holds {label}")
            elif in_file:
                evidence.append(f"{user.name} is listed in {label} in /etc/group but the session "
                                "does not hold it yet (log out and back in)")
            else:
                evidence.append(f"{user.name} is not in {label}")
                missing.append(use)
        return missing
