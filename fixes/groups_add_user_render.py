"""groups.add_user_render: put the person in the groups that own /dev/kfd and the render nodes.

ROCm on the host (and rootless containers, which inherit the person's groups) need read-write
access to /dev/kfd and /dev/dri/renderD*. The two can belong to different groups (old ROCm
udev rules gave kfd to `video`, newer ones to `render`), so each node's owning group is read
rather than assumed. Group membership is read at login: the change takes effect at the next
login, which the plan says.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.fixer import Log
from gpudoctor.plugin import Fix, FixContext, FixFailed, Plan, Step, StepKind

if TYPE_CHECKING:
    from typing import Any

SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def gpu_nodes(facts: Facts) -> list[str]:
    """/dev/kfd and the selected GPUs' render nodes (every render node when none is selected)."""
    host = facts.host
    nodes: list[str] = []
    if host.device_node("/dev/kfd") is not None:
        nodes.append("/dev/kfd")
    try:
        selected = [n for g in facts.gpus.selected for n in g.render_nodes]
    except HostError:
        selected = []
    if not selected:
        selected = [f"/dev/dri/{e}" for e in host.listdir("/dev/dri") if e.startswith("renderD")]
    for node in selected:
        if node not in nodes and host.device_node(node) is not None:
            nodes.append(node)
    return nodes


class AddUserToRenderGroups(Fix):
    id = "groups.add_user_render"
    title = "Add the person to the groups that own /dev/kfd and the render nodes"
    order = 50

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        host = facts.host
        user = facts.user
        if user is None:
            plan.blocked = "the person to add is not known (no user recorded)"
            return plan
        if user.uid == 0:
            plan.blocked = ("gpudoctor runs as root without SUDO_USER, so it cannot tell whom to "
                            "add; run it with sudo from the person's account, or run "
                            "`usermod -aG GROUP USER` yourself")
            return plan
        nodes = gpu_nodes(facts)
        if not nodes:
            plan.noop = True
            plan.reason = "this host has neither /dev/kfd nor a render node"
            return plan
        groups = facts.groups
        to_add: dict[str, list[str]] = {}
        have: list[str] = []
        for node in nodes:
            st = host.device_node(node)
            if st is None:
                continue
            if st.mode & 0o006 == 0o006:
                plan.notes.append(f"{node} is read-write for everyone (mode {st.mode_octal}); "
                                  "no group is needed for it")
                continue
            if st.gid == 0:
                plan.notes.append(f"{node} belongs to group root (mode {st.mode_octal}); adding "
                                  "a person to root's group is not safe: fix the udev rule that "
                                  "creates it instead")
                continue
            if st.mode & 0o060 != 0o060:
                plan.notes.append(f"{node} has mode {st.mode_octal}: its group cannot read and "
                                  "write it, so joining the group would not help")
                continue
            group = groups.by_gid.get(st.gid)
            if group is None:
                plan.notes.append(f"{node} belongs to GID {st.gid}, which has no name in "
                                  "/etc/group; create the group or fix the udev rule")
                continue
            member = (st.gid in user.groups or st.gid == user.gid or user.name in group.members)
            label = f"{group.name} (GID {group.gid})"
            if member:
                if label not in have:
                    have.append(label)
                continue
            to_add.setdefault(group.name, []).append(node)
        if not to_add:
            if have:
                plan.noop = True
                plan.reason = (f"{user.name} is already in {', '.join(have)}, which "
                               "own(s) " + ", ".join(nodes))
            else:
                plan.blocked = ("no group of " + ", ".join(nodes) + " can be joined safely "
                                "(see the notes)")
            return plan
        names = sorted(to_add)
        usermod = host.which("usermod", SBIN_PATH)
        if usermod:
            argv = [usermod, "-aG", ",".join(names), user.name]
            plan.steps.append(Step(StepKind.COMMAND, f"add {user.name} to "
                                   + ", ".join(f"{g} (owns {', '.join(to_add[g])})" for g in names),
                                   argv=argv))
        else:
            gpasswd = host.which("gpasswd", SBIN_PATH)
            if not gpasswd:
                plan.blocked = "neither usermod nor gpasswd is installed"
                return plan
            for name in names:
                plan.steps.append(Step(StepKind.COMMAND, f"add {user.name} to {name} (owns "
                                       f"{', '.join(to_add[name])})",
                                       argv=[gpasswd, "-a", user.name, name]))
        plan.notes.append(f"group membership is read at login: {user.name} gets it at the next "
                          f"login (or in a shell started with `newgrp {names[0]}`)")
        plan.data.update({"user": user.name, "groups": names})
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Log) -> None:
        user, names = plan.data["user"], plan.data["groups"]
        added: list[str] = []
        try:
            for step in plan.steps:
                fixer.run_command(step.argv, log, timeout=30)
                added.extend(n for n in names if step.argv[-1] in (n, user))
        except FixFailed:
            self._undo(facts, user, [n for n in added if n in names], log)
            raise
        missing = [n for n in names if user not in self._members(facts, n)]
        if missing:
            raise FixFailed(f"{user} is still not listed in {', '.join(missing)} in /etc/group")
        log(f"  {user} is now in {', '.join(names)}; it takes effect at the next login")

    @staticmethod
    def _members(facts: Facts, name: str) -> tuple[str, ...]:
        from gpudoctor.facts.system import GroupDb

        group = GroupDb.load(facts.host).by_name.get(name)
        return group.members if group else ()

    @staticmethod
    def _undo(facts: Facts, user: str, names: list[str], log: Any) -> None:
        gpasswd = facts.host.which("gpasswd", SBIN_PATH)
        for name in names:
            if gpasswd:
                try:
                    fixer.run_command([gpasswd, "-d", user, name], log, timeout=30)
                except FixFailed as exc:
                    log(f"  could not take {user} out of {name} again: {exc}")
