#!/usr/bin/python
"""Ansible module gpudoctor.doctor.gpudoctor: run gpudoctor on a host, return its report."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpudoctor
short_description: Find out why GPU containers cannot work on a host, and fix what is safe
description:
  - Runs C(gpudoctor --json) on the host and returns its report (schema
    C(gpudoctor.report/1)) as the C(report) result and as the fact C(gpudoctor_report).
  - gpudoctor exits 1 when a check fails. That is the host having problems, not the module
    crashing; whether the task fails is decided by O(fail_on).
  - With O(fix), runs C(gpudoctor fix --yes --json); C(changed) is true only when a fix
    changed something. Check mode runs C(gpudoctor fix --dry-run) and reports what would
    change; diff mode returns gpudoctor's per-file diffs.
version_added: "0.1.0"
author: gpudoctor developers
options:
  executable:
    description: The gpudoctor command (e.g. the venv's C(/opt/gpudoctor/bin/gpudoctor)).
    type: path
    default: gpudoctor
  root:
    description:
      - Diagnose this host root or snapshot archive instead of the running host
        (C(gpudoctor --root)). Fixes are never applied to a root, only planned.
    type: path
  fix:
    description: Apply the fixes the failing checks offer (C(gpudoctor fix --yes)).
    type: bool
    default: false
  fix_ids:
    description: Apply exactly these fixes (implies O(fix)).
    type: list
    elements: str
    default: []
  bundle:
    description: Offline nvidia-container-toolkit bundle for C(nvidia.install_toolkit).
    type: path
  pciids_url:
    description: Where C(pciids.update) downloads pci.ids from.
    type: str
  fail_on:
    description:
      - When the task fails. C(any) (the default) when any check fails; C(never) never (the
        report is still returned); or a list of check ids that fail the task when one of
        them fails (an id gpudoctor does not have fails the task, so a typo cannot hide a
        failing host).
    type: raw
    default: any
  gpus:
    description: Select these GPUs by PCI address (C(--gpu)).
    type: list
    elements: str
    default: []
  include_integrated:
    description: Also give containers the integrated GPUs.
    type: bool
    default: false
  check_timeout:
    description: Give up on one check after this many seconds (C(--timeout)).
    type: float
    default: 20
  command_timeout:
    description: Give up on gpudoctor as a whole after this many seconds.
    type: float
    default: 900
notes:
  - Supports check mode and diff mode.
"""

EXAMPLES = r"""
- name: Diagnose; fail only when the driver or the toolkit is broken
  gpudoctor.doctor.gpudoctor:
    executable: /opt/gpudoctor/bin/gpudoctor
    fail_on: [kernel.driver, nvidia.toolkit]
  register: doctor

- name: Repair what is safe to repair (use --check --diff first to see the plan)
  gpudoctor.doctor.gpudoctor:
    executable: /opt/gpudoctor/bin/gpudoctor
    fix: true
"""

RETURN = r"""
report:
  description: The gpudoctor report (after the fixes, when fixes ran).
  type: dict
  returned: when gpudoctor ran
failing:
  description: Ids of the checks that failed.
  type: list
  elements: str
  returned: when gpudoctor ran
ready:
  description: Whether nothing known blocks GPU containers (no check failed).
  type: bool
  returned: when gpudoctor ran
exit_code:
  description:
    - gpudoctor's exit code (0 nothing failed, 1 a check or a fix failed). Not named C(rc),
      because Ansible fails any task whose C(rc) is not 0, and exit 1 is the host's problem
      that O(fail_on) judges.
  type: int
  returned: when gpudoctor ran
fix:
  description: The fix run (C(gpudoctor.fix/1) without its report) - plans, applied, unchanged,
    skipped, rolled_back, failed, error.
  type: dict
  returned: when fixes ran
"""

import json  # noqa: E402 - Ansible reads DOCUMENTATION first
import os  # noqa: E402 - Ansible reads DOCUMENTATION first
import subprocess  # noqa: E402 - Ansible reads DOCUMENTATION first

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - Ansible reads DOCUMENTATION first

FIX_FAILED = "a fix failed"


def _argv(params, check_mode):
    exe = params["executable"]
    fixing = params["fix"] or bool(params["fix_ids"])
    argv = [exe, "fix", "--json", "--yes"] if fixing else [exe, "check", "--json"]
    if fixing:
        argv += list(params["fix_ids"])
        if check_mode:
            argv.append("--dry-run")
        if params["bundle"]:
            argv += ["--bundle", params["bundle"]]
        if params["pciids_url"]:
            argv += ["--pciids-url", params["pciids_url"]]
    if params["root"]:
        argv += ["--root", params["root"]]
    for gpu in params["gpus"]:
        argv += ["--gpu", gpu]
    if params["include_integrated"]:
        argv.append("--include-integrated")
    argv += ["--timeout", str(params["check_timeout"])]
    return argv, fixing


def _policy(value):
    if value in ("any", "never"):
        return value
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _diffs(plans):
    """Ansible's diff format from gpudoctor's plans: a unified diff per file a fix writes, and
    the plan's other steps (commands, downloads) as text, so --diff shows the whole plan."""
    out = []
    for plan in plans:
        if plan.get("noop"):
            continue
        lines = []
        for step in plan.get("steps") or []:
            if step.get("diff"):
                path = step.get("path") or plan["id"]
                out.append({"before_header": path, "after_header": path,
                            "prepared": step["diff"]})
            else:
                lines.append(f"{plan['id']}: {step.get('description', '')}")
        if plan.get("blocked"):
            lines.append(f"{plan['id']}: blocked: {plan['blocked']}")
        if lines:
            out.append({"prepared": "\n".join(lines) + "\n"})
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            executable=dict(type="path", default="gpudoctor"),
            root=dict(type="path"),
            fix=dict(type="bool", default=False),
            fix_ids=dict(type="list", elements="str", default=[]),
            bundle=dict(type="path"),
            pciids_url=dict(type="str"),
            fail_on=dict(type="raw", default="any"),
            gpus=dict(type="list", elements="str", default=[]),
            include_integrated=dict(type="bool", default=False),
            check_timeout=dict(type="float", default=20),
            command_timeout=dict(type="float", default=900),
        ),
        supports_check_mode=True,
    )
    params = module.params
    policy = _policy(params["fail_on"])
    if policy is None:
        module.fail_json(msg="fail_on must be 'any', 'never' or a list of check ids")
    argv, fixing = _argv(params, module.check_mode)
    env = dict(os.environ, NO_COLOR="1")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False,
                              timeout=params["command_timeout"])
    except FileNotFoundError:
        module.fail_json(msg=f"gpudoctor is not installed here: {argv[0]} was not found",
                         cmd=argv)
    except subprocess.TimeoutExpired:
        module.fail_json(msg=f"gpudoctor did not finish in {params['command_timeout']:g} s",
                         cmd=argv)
    stderr = proc.stderr.strip()
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        # exit 2 (bad option or unreadable root) or 3 (gpudoctor broke): no JSON on stdout
        module.fail_json(msg=f"gpudoctor could not run (exit {proc.returncode}): "
                             f"{stderr or proc.stdout.strip()[:500]}", exit_code=proc.returncode,
                         cmd=argv, stderr=stderr)
    result = {"exit_code": proc.returncode, "cmd": argv, "changed": False}
    if fixing:
        report = doc.get("report") or {}
        fix = {k: v for k, v in doc.items() if k != "report"}
        result["fix"] = fix
        if module.check_mode:
            result["changed"] = any(not p.get("noop") and not p.get("blocked")
                                    for p in fix.get("plans") or [])
        else:
            result["changed"] = bool(fix.get("applied"))
        if module._diff:
            result["diff"] = _diffs(fix.get("plans") or [])
    else:
        report = doc
    failing = [c["id"] for c in report.get("checks") or [] if c.get("status") == "fail"]
    ready = report.get("ready")
    result.update(report=report, failing=failing,
                  ready=ready if isinstance(ready, bool) else not failing,
                  ansible_facts={"gpudoctor_report": report})
    if fixing and (fix.get("failed") or fix.get("error")):
        module.fail_json(msg=f"{FIX_FAILED}: {fix.get('failed') or ''} {fix.get('error') or ''}"
                         .strip(), **result)
    if fixing and proc.returncode == 2:
        module.fail_json(msg=f"gpudoctor fix refused to run: {doc.get('message') or stderr}",
                         **result)
    known = [c.get("id") for c in report.get("checks") or []]
    unknown = [i for i in policy if i not in known] if isinstance(policy, list) else []
    if unknown:  # a typo in the policy would otherwise never fail a host
        module.fail_json(msg=f"fail_on names checks gpudoctor does not have: "
                             f"{', '.join(unknown)} (it has: {', '.join(known)})", **result)
    if policy == "any":
        blocking = failing
    elif policy == "never":
        blocking = []
    else:
        blocking = [c for c in failing if c in policy]
    if blocking:
        module.fail_json(msg="gpudoctor: failing checks: " + ", ".join(blocking), **result)
    result["msg"] = ("no check failed" if not failing else
                     "failing checks (allowed by fail_on): " + ", ".join(failing))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
