"""The kernel log of the current boot, read once per run and shared by every vendor's checks.

Why one fact: amdgpu, i915/xe and NVIDIA all explain their failures only in the kernel log
(`not supported in kfd`, `force_probe`, firmware loads, ring timeouts, Xid). The journal is
asked first (`journalctl -k -b`, this boot only); `dmesg` is the fallback where there is no
journal or the person cannot read it. Both are recorded as named commands, so a snapshot of a
broken host replays the same lines. Vendors keep their patterns in their own modules.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

#: The same recorded names and argv as the NVIDIA platform facts use, so one snapshot entry
#: serves every vendor.
JOURNAL = ("journalctl-kernel", ["journalctl", "-k", "-b", "-q", "--no-pager", "-o", "short-iso",
                                 "-n", "20000"])
DMESG = ("dmesg", ["dmesg"])
TIMEOUT = 15.0
#: Lines kept (the newest): a long uptime fills the journal with lines no check needs.
MAX_LINES = 20000


@record
class KernelLog:
    """This boot's kernel log lines, and where they came from."""

    lines: list[str] = field(default_factory=list)
    #: the command name the lines came from; None when neither could be read
    source: str | None = None
    #: why no log could be read (shown as evidence)
    problem: str = ""


def read_kernel_log(facts: Facts) -> KernelLog:
    """The current boot's kernel messages (cached for the run)."""
    return facts.memo("kernel_log", lambda: _read(facts))


def kernel_log(facts: Facts) -> list[str]:
    """The kernel log's lines, oldest first; empty when it cannot be read."""
    return read_kernel_log(facts).lines


def _read(facts: Facts) -> KernelLog:
    problems = []
    for name, argv in (JOURNAL, DMESG):
        result = facts.host.run(name, list(argv), TIMEOUT)
        if result is None:
            problems.append(f"`{' '.join(argv)}` was not recorded")
            continue
        if result.ok and result.stdout.strip():
            lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
            if name == JOURNAL[0] and lines and lines[0].startswith("-- No entries --"):
                problems.append("the journal has no kernel messages for this boot")
                continue
            return KernelLog(lines[-MAX_LINES:], name)
        if result.ok:
            problems.append(f"`{' '.join(argv[:3])} ...` printed no kernel messages (outside "
                            "the systemd-journal or adm group the journal shows none)"
                            if name == JOURNAL[0] else f"`{argv[0]}` printed nothing")
        else:
            problems.append(result.describe_failure())
    return KernelLog([], None, "; ".join(problems))
