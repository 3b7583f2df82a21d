"""nvidia.toolkit_security: the installed NVIDIA Container Toolkit against NVIDIA's advisories.

Old toolkits have container-escape CVEs (a crafted image reaches the host). The advisory table
ships as dated data (gpudoctor/data/nvidia_advisories.json) with each CVE's last affected and
first fixed version and the modes it does not affect; a report made more than a year after the
table's date says the table may be stale, since newer advisories cannot be in it.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_advisories import judge_toolkit
from gpudoctor.facts.nvidia_layer import mode_for
from gpudoctor.facts.toolkit import installed_toolkit_skip_reason
from gpudoctor.plugin import Area, Check, Findings, Result, Status

UPGRADE_APT = ("sudo apt-get update && sudo apt-get install -y --only-upgrade "
               "nvidia-container-toolkit nvidia-container-toolkit-base "
               "libnvidia-container-tools libnvidia-container1")


class NvidiaToolkitSecurity(Check):
    id = "nvidia.toolkit_security"
    title = "NVIDIA Container Toolkit has no known security advisory"
    area = Area.CONTAINER
    order = 72

    def applies(self, facts: Facts) -> str | None:
        return installed_toolkit_skip_reason(facts)

    def run(self, facts: Facts) -> Result:
        tk = facts.toolkit
        mode = mode_for(facts)
        if not tk.version:
            return Result.skip("the toolkit's version cannot be read (see nvidia.toolkit)")
        verdict = judge_toolkit(tk.version, mode.mode, facts.host.now())
        if verdict is None:
            return Result.skip(f"the toolkit's version `{tk.version}` is not a version number")
        found = Findings(evidence=[
            f"installed: nvidia-container-toolkit {tk.version} (from {tk.version_source})",
            f"mode: {mode.mode} ({mode.why})",
            f"advisory table: gpudoctor/data/nvidia_advisories.json, dated {verdict.table_date}",
        ])
        found.evidence += [f"{a.cve}: affected up to {a.last_affected}, fixed in {a.fixed} "
                           f"({a.source})" for a in verdict.affected]
        if verdict.affected:
            ids = ", ".join(a.cve for a in verdict.affected)
            lines = "; ".join(f"{a.cve}: {a.summary}" for a in verdict.affected)
            fixed = verdict.fixed_in
            found.add(
                Status.WARN, f"nvidia-container-toolkit {tk.version} is affected by {ids}; "
                f"{fixed} fixes them",
                f"NVIDIA's security bulletins list {tk.version} as affected ({lines}). These "
                "let a crafted or malicious image reach the host from inside a GPU container. "
                + (f"Judged for the {mode.mode} mode this host uses; some advisories do not "
                   "apply to CDI." if mode.mode else ""),
                remedy=(f"Upgrade all four toolkit packages to {fixed} or newer: `{UPGRADE_APT}` "
                        "(dnf/zypper: `sudo dnf upgrade nvidia-container-toolkit`); offline, "
                        "`sudo gpudoctor fix nvidia.install_toolkit --bundle FILE` with a "
                        f"release bundle of {fixed} or newer. Then restart Docker."),
                fixes=("nvidia.install_toolkit",), id=f"{self.id}.affected",
                commands=(UPGRADE_APT, "sudo dnf upgrade nvidia-container-toolkit"))
        stale = ""
        if verdict.stale:
            # gpudoctor's data is old, not the host: said in every summary, never a warning
            stale = (f"; the table is dated {verdict.table_date}, more than a year ago, so newer "
                     "advisories are not in it")
            found.evidence.append(
                "advisory table may be stale: check NVIDIA's product security page "
                "(https://www.nvidia.com/en-us/security/) and update gpudoctor"
                + (f" (known to be missing: {verdict.known_missing})"
                   if verdict.known_missing else ""))
            for item in found.items:
                item.summary += stale
        return found.result(
            f"nvidia-container-toolkit {tk.version} is not affected by any advisory in "
            f"gpudoctor's table (dated {verdict.table_date})" + stale,
            "The installed version is past every fixed version in the table, for the mode "
            "this host uses.")
