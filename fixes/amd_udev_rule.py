"""devices.udev_rule: a udev rule that gives /dev/kfd and the render nodes to `render`, 0660.

Why: a container user that is not root opens /dev/kfd and /dev/dri/renderD* only through the
numeric group that owns them (`--group-add=GID`). Without any kfd rule the kernel leaves
/dev/kfd `crw------- root root` and nothing but root can use ROCm; rules copied from old guides
give it to root's group or make it 0600. systemd's own rules give both to `render`; this fix
writes that rule where it wins over earlier ones (udev applies rule files in name order and a
later GROUP= or MODE= replaces an earlier one), reloads udev and re-triggers the two
subsystems so the nodes change now, without a reboot. It never makes a node world-writable.
"""

from __future__ import annotations

from gpudoctor import fixer
from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.facts.runargs import KFD, device_nodes
from gpudoctor.fixer import Log
from gpudoctor.host import safefile
from gpudoctor.plugin import Fix, FixContext, FixFailed, Plan, Step, StepKind

RULES_FILE = "/etc/udev/rules.d/99-gpudoctor-render.rules"
GROUP = "render"
SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
RULES = f"""\
# Written by gpudoctor (fix devices.udev_rule). /dev/kfd (ROCm's compute interface) and the GPU
# render nodes belong to the {GROUP} group, read-write for it, as systemd's own rules set them:
# a container given --group-add=<{GROUP} GID> can open them as a non-root user.
SUBSYSTEM=="kfd", KERNEL=="kfd", GROUP="{GROUP}", MODE="0660"
SUBSYSTEM=="drm", KERNEL=="renderD*", GROUP="{GROUP}", MODE="0660"
"""


def node_problems(facts: Facts) -> list[str]:
    """Device files of the selected GPUs whose group cannot open them (what the rule fixes)."""
    problems = []
    stats = [(n.path, n.stat) for n in device_nodes(facts)]
    if KFD not in [path for path, _ in stats]:
        try:  # /dev/kfd exists whenever amdgpu does, selected GPU or not
            stats.append((KFD, facts.host.device_node(KFD)))
        except HostError:
            pass
    for path, st in stats:
        if st is None or st.kind != "char":
            continue
        if st.mode & 0o006 == 0o006:
            continue  # world read-write: a choice, and it works
        if st.gid == 0 or st.mode & 0o060 != 0o060:
            problems.append(f"{path} is {st.mode_octal}, group GID {st.gid}")
    return problems


class UdevRenderRule(Fix):
    id = "devices.udev_rule"
    title = "Give /dev/kfd and the render nodes to the render group with a udev rule"
    order = 55

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        host = facts.host
        problems = node_problems(facts)
        try:
            current = host.read_optional(RULES_FILE, 65536)
        except HostError as exc:
            plan.blocked = f"cannot read {RULES_FILE}: {exc.reason}"
            return plan
        if not problems:
            plan.noop = True
            plan.reason = (f"{KFD} and the render nodes of the selected GPUs (where "
                           "they exist) already give their group read-write access")
            return plan
        udevadm = host.which("udevadm", SBIN_PATH)
        if not udevadm:
            plan.blocked = ("udevadm is not installed: udev does not manage /dev here (a "
                            "container or a minimal system), so a rule would never apply")
            return plan
        group = facts.groups.by_name.get(GROUP)
        if group is None:
            plan.blocked = (f"this host has no `{GROUP}` group for the rule to name; create it "
                            f"first: `sudo groupadd --system {GROUP}`")
            return plan
        plan.notes += [f"now: {p}" for p in problems]
        new = RULES.encode()
        if current is not None and current.encode() == new:
            plan.notes.append(f"{RULES_FILE} is already in place: only udev is asked again")
        else:
            plan.steps.append(fixer.write_step(
                RULES_FILE, current.encode() if current is not None else None, new,
                f"write {RULES_FILE} (after every packaged rule, so its GROUP and MODE win)"))
        plan.steps.append(Step(StepKind.COMMAND, "make udev read the new rule",
                               argv=[udevadm, "control", "--reload-rules"]))
        plan.steps.append(Step(StepKind.COMMAND, f"apply it to {KFD} and the render nodes now",
                               argv=[udevadm, "trigger", "--action=change",
                                     "--subsystem-match=kfd", "--subsystem-match=drm"]))
        plan.steps.append(Step(StepKind.COMMAND, "wait until udev has finished",
                               argv=[udevadm, "settle", "--timeout=30"]))
        plan.notes.append(f"containers started afterwards need --group-add={group.gid}; running "
                          "ones keep the device files they were given")
        plan.data.update({"old_sha": fixer.sha256(current.encode() if current else None),
                          "gid": group.gid})
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Log) -> None:
        written = None
        if fixer.sha256(safefile.read_current(RULES_FILE)) != plan.data["old_sha"]:
            raise fixer.PlanOutdated(f"{RULES_FILE} changed since the plan was made")
        for step in plan.steps:
            if step.kind == "write" and step.new_content is not None:
                written = safefile.atomic_write(step.path, step.new_content, backup=True)
                fixer.record_write(ctx, self.id, written, step.new_content)
                log(f"  wrote {step.path}")
                continue
            try:
                fixer.run_command(step.argv, log, timeout=60)
            except FixFailed:
                if written is not None:
                    safefile.restore(written.path, written.backup)
                    log(f"  put {RULES_FILE} back as it was")
                raise
