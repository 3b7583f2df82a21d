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

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status, field, record

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ID = "groups.render"
UDEV_FIX = "devices.udev_rule"
JOIN_FIX = "groups.add_user_render"
#: AMD's ROCm images create `render` with this GID (ROCm/ROCm-docker PR #93).
IMAGE_RENDER_GID = 109
KFD = "/dev/kfd"
RELOAD = "sudo udevadm control --reload && sudo udevadm trigger"
DETAILS = ("Docker gives the container the device files with the host's numeric owner and "
           "group. A non-root user in the container can open them only through that numeric "
           "group, so the arguments carry {group_adds}. Group names do not carry over: images "
           f"define their own groups (AMD's ROCm images use {IMAGE_RENDER_GID} for render). Root "
           "in a container needs no group.")
UDEV_REMEDY = ("Give {nodes} to the render group: write {rules_file} with `{rule}`, then "
               f"`{RELOAD}`.")
#: The udev rule that gives each kind of node to render, by the node it is for.
UDEV_RULES = {
    KFD: ("/dev/kfd", "/etc/udev/rules.d/70-kfd.rules",
          'SUBSYSTEM=="kfd", KERNEL=="kfd", GROUP="render", MODE="0660"'),
    "render": ("render nodes", "/etc/udev/rules.d/70-render.rules",
               'SUBSYSTEM=="drm", KERNEL=="renderD*", GROUP="render", MODE="0660"'),
}


def _udev(summary: str) -> Say:
    return Say(Status.WARN, summary, DETAILS, UDEV_REMEDY, (UDEV_FIX,), (RELOAD,))


SENTENCES = Sentences(ID, {
    "root_only": _udev("{path} is {mode}: only root can open it"),
    "root_group": _udev("{path} belongs to group root: only root can open it"),
    "group_not_rw": _udev("{path} does not grant its group read-write ({mode})"),
    "user_not_in_group": Say(
        Status.WARN, "{user} is not in {groups}: fine for containers, but ROCm on the host will "
        "be refused", DETAILS,
        "To use the GPU outside containers: `sudo usermod -aG {names} {user}`, then log out and "
        "back in (or `newgrp {first}`) for it to take effect.", (JOIN_FIX,),
        ("sudo usermod -aG {names} {user}", "newgrp {first}")),
    "not_captured": Say(Status.SKIP, "the owners of the device files are unknown (missing, or "
                        "not captured in this root)"),
    "ok": Say(Status.PASS, "the device files belong to {gids}, read-write for the group",
              DETAILS),
    "ok_member": Say(Status.PASS, "the device files belong to {gids}, read-write for the "
                     "group; {user} is a member", DETAILS),
    "ok_open": Say(Status.PASS, "the device files are open to every user (mode 0666)", DETAILS),
})


@record
class GroupUse:
    gid: int
    name: str | None
    nodes: list[str] = field(default_factory=list)
    members: tuple[str, ...] = ()


class GroupsRender(Check):
    id = ID
    title = "Groups that own the GPU device files"
    area = Area.DEVICES
    order = 50
    requires = ("gpu.present",)
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.runargs import device_nodes

        if not device_nodes(facts):
            if facts.gpus.by_vendor("nvidia"):
                return ("the selected NVIDIA GPUs are handed over by the container toolkit "
                        "(--gpus), not by --device with group ownership")
            return "no device file is passed with --device for the selected GPUs"
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.runargs import device_nodes, mode_string
        from gpudoctor.facts.system import udev_rules_mentioning

        nodes = device_nodes(facts)
        known = [n for n in nodes if n.stat is not None and n.stat.kind in ("char", "block")]
        found = self.findings()
        evidence = found.evidence
        uses: dict[int, GroupUse] = {}
        #: (finding key, values) of each node only root can open
        closed: list[tuple[str, dict[str, Any]]] = []
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
            nodes_of, rules_file, rule = UDEV_RULES[KFD if node.path == KFD else "render"]
            udev: dict[str, Any] = {"path": node.path, "mode": st.mode_octal, "nodes": nodes_of,
                    "rules_file": rules_file, "rule": rule}
            if (st.mode & 0o066) == 0:
                closed.append(("root_only", udev))
            elif st.gid == 0 and (st.mode & 0o006) != 0o006:
                closed.append(("root_group", udev))
            elif (st.mode & 0o060) != 0o060 and (st.mode & 0o006) != 0o006:
                closed.append(("group_not_rw", udev))
        if not known:
            return found.verdict("not_captured")
        groups = [u for u in uses.values() if u.gid != 0]
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
        values: dict[str, Any] = {"group_adds": ", ".join(f"--group-add={u.gid}" for u in groups)
                  or "no --group-add",
                  "gids": ", ".join(f"{u.name or '?'} {u.gid}" for u in groups)}
        for key, udev in closed:
            found.say(key, **values, **udev)
        missing = self._membership(facts, groups, evidence)
        user = facts.user
        if missing and user is not None:
            first = missing[0]
            found.say("user_not_in_group", **values, user=user.name,
                      groups=", ".join(f"{u.name or '?'} ({u.gid})" for u in missing),
                      names=",".join(u.name or str(u.gid) for u in missing),
                      first=first.name or first.gid)
        key = "ok_open" if not groups else (
            "ok_member" if user and not user.is_root else "ok")
        return found.verdict(key, **values, user=user.name if user else "")

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
