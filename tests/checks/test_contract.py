"""The plugin contract across every host root the tests build: checks and fixes agree.

For each scenario (hardware roots of tests/support/scenarios.py, container-stack roots of
tests/support/container_roots.py), in process through Facts(RootHost(root)):
- every fix a check offers exists in the registry;
- every problem a built-in check reports carries finding ids, each `<check id>.<what>`, and
  each is a row of the check's sentence table (so docs/findings.md lists it);
- planning the offered fixes from the same facts never says "nothing to do" for a fix the
  check says is needed (the check and the fix read the same facts and decide once).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gpudoctor import fixer, registry
from gpudoctor.facts import Options
from gpudoctor.host import open_host
from gpudoctor.registry import BUILTIN
from gpudoctor.report import Doctor
from tests.support import container_roots as cr
from tests.support import scenarios

ROOTS: dict[str, Callable[[Path], Path]] = {
    **{name: (lambda root, n=name: scenarios.build(n, root))
       for name in scenarios.SCENARIOS if name != "generated"},
    "nvidia_all_good": cr.nvidia_all_good,
    "toolkit_installed_after_daemon": cr.toolkit_installed_after_daemon,
    "toolkit_versions_mismatched": cr.toolkit_versions_mismatched,
    "toolkit_missing": cr.toolkit_missing,
    "snap_docker_etc_edited": cr.snap_docker_etc_edited,
    "rootless_docker": cr.rootless_docker,
    "docker_desktop": cr.docker_desktop,
    "daemon_json_trailing_comma": cr.daemon_json_trailing_comma,
    "stale_cdi_spec": cr.stale_cdi_spec,
    "cdi_only": cr.cdi_only,
    "not_captured": cr.not_captured,
    "amd_containers_reused": cr.amd_containers_reused,
}


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.load()


@pytest.mark.parametrize("name", sorted(ROOTS))
def test_checks_and_fixes_agree(name: str, tmp_path: Path, reg: registry.Registry) -> None:
    root = ROOTS[name](tmp_path / "root")
    doctor = Doctor(open_host(str(root)), Options(), registry=reg)
    outcomes = doctor.run()
    builtin = {c.id for c in reg.checks.values() if reg.sources.get(c.id) == BUILTIN}
    for outcome in outcomes:
        result = outcome.result
        unknown = [f for f in result.fixes if f not in reg.fixes]
        assert not unknown, f"{outcome.id} offers fixes that do not exist: {unknown}"
        if outcome.id in builtin and result.status.is_problem and result.status.value != "error":
            assert result.findings, f"{outcome.id} reported {result.status.value} without ids"
        table = reg.checks[outcome.id].sentences if outcome.id in reg.checks else None
        if table is not None:
            untabled = set(result.findings) - set(table.finding_ids())
            assert not untabled, f"{outcome.id} found {untabled}, which its table lacks"
        for finding in result.findings:
            assert finding.startswith(outcome.id + "."), (outcome.id, finding)
    offered = fixer.offered_fixes(doctor)
    if not offered:
        return
    plans = fixer.plan_fixes(doctor, None, {})
    noop = [p.fix_id for p in plans if p.noop and p.fix_id in offered]
    assert not noop, f"{name}: checks offer {noop}, whose plans say there is nothing to do: " \
        + "; ".join(p.reason for p in plans if p.fix_id in noop)
