"""nvidia.toolkit_security: the installed NVIDIA Container Toolkit against NVIDIA's advisories.

Old toolkits have container-escape CVEs (a crafted image reaches the host). The advisory table
ships as dated data (gpudoctor/data/nvidia_advisories.json) with each CVE's last affected and
first fixed version and the modes it does not affect; a report made more than a year after the
table's date says the table may be stale, since newer advisories cannot be in it.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ID = "nvidia.toolkit_security"
UPGRADE_APT = ("sudo apt-get update && sudo apt-get install -y --only-upgrade "
               "nvidia-container-toolkit nvidia-container-toolkit-base "
               "libnvidia-container-tools libnvidia-container1")
UPGRADE_DNF = "sudo dnf upgrade nvidia-container-toolkit"
#: Old data is gpudoctor's problem, not the host's: said in every summary, never a warning.
STALE = "; the table is dated {table_date}, more than a year ago, so newer advisories are not in it"
AFFECTED = Say(
    Status.WARN, "nvidia-container-toolkit {version} is affected by {cves}; {fixed} fixes them",
    "NVIDIA's security bulletins list {version} as affected ({lines}). These let a crafted or "
    "malicious image reach the host from inside a GPU container. Judged for the {mode} mode "
    "this host uses; some advisories do not apply to CDI.",
    f"Upgrade all four toolkit packages to {{fixed}} or newer: `{UPGRADE_APT}` (dnf/zypper: "
    f"`{UPGRADE_DNF}`); offline, `sudo gpudoctor fix nvidia.install_toolkit --bundle FILE` with "
    "a release bundle of {fixed} or newer. Then restart Docker.",
    ("nvidia.install_toolkit",), (UPGRADE_APT, UPGRADE_DNF))
OK = Say(Status.PASS, "nvidia-container-toolkit {version} is not affected by any advisory in "
         "gpudoctor's table (dated {table_date})",
         "The installed version is past every fixed version in the table, for the mode this "
         "host uses.")

SENTENCES = Sentences(ID, {
    "affected": AFFECTED,
    "affected_stale": Say(AFFECTED.status, AFFECTED.summary + STALE, AFFECTED.details,
                          AFFECTED.remedy, AFFECTED.fixes, AFFECTED.commands,
                          finding="affected"),
    "ok": OK,
    "ok_stale": Say(Status.PASS, OK.summary + STALE, OK.details),
    "no_version": Say(Status.SKIP, "the toolkit's version cannot be read (see nvidia.toolkit)"),
    "not_a_version": Say(Status.SKIP, "the toolkit's version `{version}` is not a version number"),
})


class NvidiaToolkitSecurity(Check):
    id = ID
    title = "NVIDIA Container Toolkit has no known security advisory"
    area = Area.CONTAINER
    order = 72
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import installed_toolkit_skip_reason

        return installed_toolkit_skip_reason(facts)

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.nvidia_advisories import judge_toolkit
        from gpudoctor.facts.nvidia_layer import mode_for

        tk = facts.toolkit
        mode = mode_for(facts)
        if not tk.version:
            return self.findings().verdict("no_version")
        verdict = judge_toolkit(tk.version, mode.mode, facts.host.now())
        if verdict is None:
            return self.findings().verdict("not_a_version", version=tk.version)
        found = self.findings([
            f"installed: nvidia-container-toolkit {tk.version} (from {tk.version_source})",
            f"mode: {mode.mode} ({mode.why})",
            f"advisory table: gpudoctor/data/nvidia_advisories.json, dated {verdict.table_date}",
        ])
        found.evidence += [f"{a.cve}: affected up to {a.last_affected}, fixed in {a.fixed} "
                           f"({a.source})" for a in verdict.affected]
        if verdict.stale:
            found.evidence.append(
                "advisory table may be stale: check NVIDIA's product security page "
                "(https://www.nvidia.com/en-us/security/) and update gpudoctor"
                + (f" (known to be missing: {verdict.known_missing})"
                   if verdict.known_missing else ""))
        stale = "_stale" if verdict.stale else ""
        values: dict[str, Any] = {"version": tk.version, "table_date": verdict.table_date,
                                  "mode": mode.mode}
        if verdict.affected:
            found.say("affected" + stale, **values, fixed=verdict.fixed_in,
                      cves=", ".join(a.cve for a in verdict.affected),
                      lines="; ".join(f"{a.cve}: {a.summary}" for a in verdict.affected))
        return found.verdict("ok" + stale, **values)
