"""Planning: which fixes, in which order, shown how; host roots (shown, never applied); bad fix
ids. Rootless Docker's no-cgroups step: tests/fixes/test_nvidia_rootless_no_cgroups.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gpudoctor import fixer, registry
from gpudoctor.facts import Facts, Options
from gpudoctor.host import open_host
from gpudoctor.host.live import LiveHost
from gpudoctor.plugin import Area, Check, Fix, Plan, Result, Step, StepKind
from gpudoctor.report import Doctor
from tests.support import container_roots, debs
from tests.support.cli import run_gpudoctor

RUNTIME_FIXES = ["docker.configure_nvidia_runtime", "docker.reload"]


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


# ----- ordering and deferral ------------------------------------------------------------------
@pytest.mark.docker
def test_install_then_configure_then_restart_in_that_order(dockerd_factory, tmp_path):
    """Named in any order, the fixes run toolkit -> runtime -> daemon. Without nvidia-ctk yet,
    the runtime entry shown is nvidia-ctk's default and is asked again after the install."""
    tarball = debs.build_bundle_tarball(tmp_path / "bundle")
    d = dockerd_factory(config={"debug": False})
    run = run_gpudoctor("fix", "docker.reload", "docker.configure_nvidia_runtime",
                        "nvidia.install_toolkit", "--bundle", tarball, "--dry-run",
                        env={"DOCKER_HOST": d.host})
    out = run.stdout
    first = out.index("1. nvidia.install_toolkit")
    second = out.index("2. docker.configure_nvidia_runtime")
    third = out.index("3. docker.reload")
    assert first < second < third
    flat = " ".join(out.split())
    assert "it is asked again once nvidia.install_toolkit has run" in flat
    assert '+ "runtimes": {' in flat and '+ "path": "nvidia-container-runtime"' in flat
    assert "a restart is needed (a reload is not enough): nvidia.install_toolkit installs the " \
           "hook" in flat
    assert "cannot be restarted safely" in flat
    assert "Dry run: nothing was changed." in out
    assert d.config_file.read_text() == '{\n  "debug": false\n}\n'


def test_order_follows_after_declarations():
    class Late(Fix):
        id = "third.party"
        after = ("docker.reload",)

    class Cycle(Fix):
        id = "third.cycle"
        after = ("third.cycle2",)

    class Cycle2(Fix):
        id = "third.cycle2"
        after = ("third.cycle",)

    fixes = dict(registry.load().fixes)
    fixes.update({"third.party": Late, "third.cycle": Cycle, "third.cycle2": Cycle2})
    assert fixer.order_fixes(["third.party", "docker.reload", "pciids.update",
                              "docker.configure_nvidia_runtime", "nvidia.install_toolkit"],
                             fixes) == ["nvidia.install_toolkit", "docker.configure_nvidia_runtime",
                                        "docker.reload", "pciids.update", "third.party"]
    assert sorted(fixer.order_fixes(["third.cycle", "third.cycle2"], fixes)) == \
        ["third.cycle", "third.cycle2"]


def test_unknown_fix_id_is_a_command_line_error():
    run = run_gpudoctor("fix", "docker.relaod", "--dry-run")
    assert run.returncode == 2
    assert "unknown fix id docker.relaod" in run.stderr
    assert "docker.reload" in run.stderr


def test_without_ids_only_fixes_offered_by_checks_with_problems():
    class Broken(Check):
        id = "test.broken"
        title = "offers a fix and fails"
        area = Area.OTHER

        def run(self, facts: Facts) -> Result:
            return Result.fail("broken", fixes=["pciids.update"])

    class Fine(Check):
        id = "test.fine"
        title = "offers a fix and passes"
        area = Area.OTHER

        def run(self, facts: Facts) -> Result:
            return Result.passed("fine", fixes=["groups.add_user_render"])

    reg = registry.Registry(checks={"test.broken": Broken, "test.fine": Fine},
                            loaded_fixes=registry.load().fixes)
    doctor = Doctor(LiveHost(), Options(), registry=reg)
    plans = fixer.plan_fixes(doctor, None, {"pciids_path": "/nonexistent/pci.ids"})
    assert [p.fix_id for p in plans] == ["pciids.update"]
    assert fixer.offered_fixes(doctor) == ["pciids.update"]


# ----- how a plan reads -------------------------------------------------------------------------
def test_render_plan_shows_commands_diffs_interruptions_noops_and_blocks():
    write = fixer.write_step("/etc/x.json", b'{"a": 1}\n', b'{"a": 2}\n', "rewrite /etc/x.json")
    plans = [
        Plan("a.fix", "Write a file", steps=[write], notes=["a note"]),
        Plan("b.fix", "Restart something", interrupts_containers=True,
             steps=[Step(StepKind.COMMAND, "restart it", argv=["systemctl", "restart", "docker"])]),
        Plan("c.fix", "Nothing", noop=True, reason="already fine"),
        Plan("d.fix", "Blocked", blocked="cannot here: do X"),
    ]
    text = fixer.render_plan(plans)
    assert text.startswith("Plan: 4 fixes (2 to apply, 2 with nothing to do or blocked, "
                           "1 interrupting running containers)")
    assert "--- /etc/x.json\n" in text and '-{"a": 1}' in text and '+{"a": 2}' in text
    assert "systemctl restart docker" in text
    assert "interrupts running containers: yes" in text
    assert "interrupts running containers: no" in text
    assert "nothing to do: already fine" in text
    assert "blocked: cannot here: do X" in text
    assert "note: a note" in text
    coloured = fixer.render_plan(plans, colour=True)
    assert '\x1b[32m+{"a": 2}\x1b[0m' in coloured and "\x1b[31m" in coloured
    assert fixer.render_plan([]).startswith("No fixes to plan")


# ----- host roots: the plan is shown, never applied ---------------------------------------------
def test_a_host_root_shows_the_restart_and_applies_nothing(tmp_path):
    root = container_roots.toolkit_installed_after_daemon(tmp_path / "root")
    before = tree_digest(root)
    run = run_gpudoctor("fix", "--root", root, "--yes")
    flat = " ".join(run.stdout.split())
    assert "docker.reload" in flat
    assert "a restart is needed" in flat and "appeared at" in flat
    assert "is not run by systemd, snap or an init script" in flat
    assert "Not applied:" in flat and "is not the machine gpudoctor runs on" in flat
    assert tree_digest(root) == before
    doctor = Doctor(open_host(str(root)), Options())
    doctor.run()
    assert fixer.root_problem(doctor).startswith(f"the host root {root}")

    # With docker's systemd unit installed, the plan restarts through systemd.
    unit = root / "lib/systemd/system/docker.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/dockerd -H fd://\n")
    flat = " ".join(run_gpudoctor("fix", "docker.reload", "--root", root).stdout.split())
    assert "systemctl restart docker" in flat
    assert "interrupts running containers: yes" in flat


def test_a_fix_written_for_the_options_dict_contract_still_plans_and_applies(tmp_path):
    """Transition: `options.get(...)`, `fixer.earlier_plan` and `plan.data["reason"]` of the
    old contract still work; the engine moves the data keys into the Plan fields."""
    applied: list[str] = []

    class OldStyle(Fix):
        id = "old.style"
        title = "Written against the options dict"

        def plan(self, facts, options):
            plan = Plan(self.id, self.title)
            assert fixer.earlier_plan(options, "nothing.before") is None
            if options.get("dry_run"):
                plan.noop = True
                plan.data["reason"] = "asked for a dry run"
            else:
                plan.steps.append(Step("note", "do nothing, loudly"))
                plan.data["suggests"] = ["other.fix"]
            return plan

        def apply(self, plan, facts, options, log):
            applied.append(plan.steps[0].kind.value)
            plan.data["outcome"] = "unchanged"

    ctx = fixer.as_context({"dry_run": True})
    noop = fixer._plan_one(OldStyle, None, ctx)
    assert noop.noop and noop.reason == "asked for a dry run" and "reason" not in noop.data
    real = fixer._plan_one(OldStyle, None, fixer.as_context({}))
    assert real.suggests == ["other.fix"] and real.steps[0].kind is StepKind.NOTE
    OldStyle().apply(real, None, fixer.as_context({}), print)
    from gpudoctor.plugin import Outcome, adopt_legacy_keys

    adopt_legacy_keys(real)
    assert applied == ["note"] and real.outcome is Outcome.UNCHANGED
