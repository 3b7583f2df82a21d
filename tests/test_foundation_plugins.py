"""Plugins, the runner and the command line: third-party plugins found through entry points,
broken plugins reported as errors, hung checks timed out, and the --json path kept lean."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gpudoctor.facts import Facts, Options
from gpudoctor.host.rootfs import RootHost
from gpudoctor.plugin import Area, Check, Result, Status
from gpudoctor.runner import run_checks
from tests.support.cli import check_of, run_gpudoctor, validate_report
from tests.support.scenarios import generated

PLUGIN_SOURCE = '''
"""A third-party gpudoctor plugin, installed with pip for the tests."""
import time
from gpudoctor.plugin import Area, Check, Result


class RaisingCheck(Check):
    id = "acme.raises"
    title = "A check that raises"
    area = Area.OTHER

    def run(self, facts):
        raise RuntimeError("acme's sensor exploded")


class SleepyCheck(Check):
    id = "acme.sleepy"
    title = "A check that hangs"
    area = Area.OTHER
    timeout = 0.5

    def run(self, facts):
        time.sleep(30)
        return Result.passed("never")


class GoodCheck(Check):
    id = "acme.good"
    title = "Acme hardware is happy"
    area = Area.HARDWARE

    def run(self, facts):
        return Result.passed(f"kernel {facts.kernel_release}")
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install a real distribution exposing gpudoctor entry points into a target folder."""
    src = tmp_path_factory.mktemp("acme-src")
    (src / "acme_gpudoctor.py").write_text(PLUGIN_SOURCE)
    (src / "acme_broken.py").write_text("import does_not_exist_anywhere\n")
    (src / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "acme-gpudoctor"
        version = "1.0"
        [tool.setuptools]
        py-modules = ["acme_gpudoctor", "acme_broken"]
        [project.entry-points."gpudoctor.checks"]
        acme = "acme_gpudoctor"
        broken = "acme_broken:Nothing"
    '''))
    target = tmp_path_factory.mktemp("acme-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(src)],
                   check=True, timeout=240, capture_output=True)
    return target


def test_third_party_plugins_run_and_failures_are_errors(plugin_site: Path,
                                                         tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text("6.8.0-test\n")
    env = {"PYTHONPATH": str(plugin_site)}
    started = time.monotonic()
    run = run_gpudoctor("--json", "--root", root, env=env)
    elapsed = time.monotonic() - started
    report = validate_report(run.json)
    assert check_of(report, "acme.good")["status"] == "pass"
    assert check_of(report, "acme.good")["summary"] == "kernel 6.8.0-test"
    raises = check_of(report, "acme.raises")
    assert raises["status"] == "error"
    assert "acme's sensor exploded" in raises["summary"]
    assert check_of(report, "acme.sleepy")["summary"] == "timed out after 0.5 s"
    broken = check_of(report, "plugin.broken")
    assert broken["status"] == "error"
    assert "does_not_exist_anywhere" in broken["summary"]
    assert "acme-gpudoctor" in broken["source"] or "acme_gpudoctor" in broken["source"]
    assert check_of(report, "gpu.present")["status"] == "fail"  # built-ins still ran
    assert elapsed < 15  # the hung check did not hold gpudoctor up

    listing = run_gpudoctor("list", env=env)
    assert listing.returncode == 0
    line = next(ln for ln in listing.stdout.splitlines() if "acme.good" in ln)
    assert "entry point acme of acme_gpudoctor" in line
    assert "gpu.present" in listing.stdout and "built in" in listing.stdout


class _Fixed(Check):
    area = Area.OTHER
    verdict = Status.PASS

    def run(self, facts: Facts) -> Result:
        return Result(self.verdict, f"{self.id} said {self.verdict.value}")


def _check(cid: str, verdict: Status, requires: tuple[str, ...] = ()) -> type[Check]:
    return type(cid.replace(".", "_"), (_Fixed,), {"id": cid, "title": cid,
                                                   "verdict": verdict, "requires": requires})


def test_dependents_of_a_failed_check_are_skipped_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    facts = Facts(RootHost(str(tmp_path)), Options())
    checks = [_check("a.fails", Status.FAIL), _check("b.needs_a", Status.PASS, ("a.fails",)),
              _check("c.ok", Status.PASS), _check("d.needs_c", Status.PASS, ("c.ok",))]
    outcomes = run_checks(checks, facts, timeout=5)
    assert [o.id for o in outcomes] == ["a.fails", "b.needs_a", "c.ok", "d.needs_c"]
    by_id = {o.id: o.result for o in outcomes}
    assert by_id["b.needs_a"].status is Status.SKIP
    assert by_id["b.needs_a"].summary == "skipped because a.fails did not pass (fail)"
    assert by_id["d.needs_c"].status is Status.PASS


def test_checks_run_concurrently(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()

    class Slow(Check):
        area = Area.OTHER

        def run(self, facts: Facts) -> Result:
            time.sleep(0.4)
            return Result.passed("slept")

    checks = [type(f"Slow{i}", (Slow,), {"id": f"slow.n{i}", "title": "s"}) for i in range(6)]
    started = time.monotonic()
    outcomes = run_checks(checks, Facts(RootHost(str(tmp_path))), timeout=5)
    assert all(o.result.status is Status.PASS for o in outcomes)
    assert time.monotonic() - started < 1.5  # six 0.4 s checks, not 2.4 s in a row


def test_json_path_imports_neither_textual_nor_requests(tmp_path: Path) -> None:
    """Nor dataclasses (with inspect), typing or contextlib: gpudoctor.record and
    gpudoctor.TYPE_CHECKING are there to keep them off this path."""
    root = generated(tmp_path / "gen", 2, "amd")
    heavy = ("textual", "requests", "rich", "yaml", "http.client", "psutil", "distro",
             "gpudoctor.fixer", "_strptime", "dataclasses", "inspect", "typing", "contextlib")
    show = ("import json\nprint('LOADED', json.dumps([m for m in "
            f"{heavy!r} if m in sys.modules]), file=sys.stderr)")
    # what the interpreter loads before gpudoctor (the dev venv's editable-install hook
    # imports contextlib) is not gpudoctor's to avoid
    bare = subprocess.run([sys.executable, "-c", f"import sys\n{show}"], capture_output=True,
                          text=True, timeout=60, check=True)
    code = ("import sys\nfrom gpudoctor.cli import main\n"
            f"main(['--json', '--root', sys.argv[1]])\n{show}")
    proc = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True,
                          text=True, timeout=60, check=False)
    before = set(json.loads(bare.stderr.partition("LOADED ")[2]))
    after = set(json.loads(proc.stderr.partition("LOADED ")[2]))
    assert after - before == set(), proc.stderr
    validate_report(json.loads(proc.stdout))


def test_without_a_terminal_plain_gpudoctor_prints_the_text_report(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    run = run_gpudoctor("--root", tmp_path, input="")
    assert run.returncode == 1
    assert "A GPU for containers" in run.stdout
    assert "\x1b[" not in run.stdout  # no TUI escape codes, no colour when piped
    tui = run_gpudoctor("tui", "--root", tmp_path, input="")
    assert tui.returncode == 2
    assert "needs a terminal" in tui.stderr


def test_bad_command_line_is_one_line_and_exit_2() -> None:
    run = run_gpudoctor("--timeout", "soon")
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "'soon' is not a number of seconds" in run.stderr
    run = run_gpudoctor("--timeout", "0", "--json")
    assert run.returncode == 2 and "positive, finite number of seconds" in run.stderr
    run = run_gpudoctor("frobnicate")
    assert run.returncode == 2 and "invalid choice" in run.stderr


def test_live_host_json_report_is_valid() -> None:
    run = run_gpudoctor("--json", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert run.returncode in (0, 1)
    report = validate_report(run.json)
    assert report["host"]["root"] == "/"
    assert report["host"]["kernel"]
    assert check_of(report, "gpu.present")["status"] in ("pass", "fail")


def _check_on_a_terminal(root: Path, **env: str) -> str:
    """`gpudoctor check` with stdout on a real pseudo-terminal, as a person runs it."""
    import os
    import pty

    leader, follower = pty.openpty()
    full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "GPUDOCTOR_DEBUG")}
    full.update(env, TERM="xterm-256color")
    proc = subprocess.Popen([sys.executable, "-m", "gpudoctor", "check", "--root", str(root)],
                            stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, env=full)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=60) == 1
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_on_a_terminal_and_none_with_no_color(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    coloured = _check_on_a_terminal(tmp_path)
    assert "\x1b[31m[✗]\x1b[0m A GPU for containers" in coloured
    plain = _check_on_a_terminal(tmp_path, NO_COLOR="1")
    assert "\x1b[" not in plain
    assert "[✗] A GPU for containers" in plain


def test_checks_and_fixes_install_inside_the_gpudoctor_namespace(unprivileged) -> None:
    """The card's layout: top-level checks/ and fixes/ become gpudoctor.checks/.fixes."""
    site = unprivileged.site
    for name in ("checks", "fixes"):
        installed = site / "gpudoctor" / name
        assert installed.is_dir() and not installed.is_symlink(), installed
        assert (installed / "__init__.py").is_file()
        assert not (site / name).exists(), f"{name} must not be a top-level package"
    assert (site / "gpudoctor/checks/gpu_present.py").is_file()
    assert (site / "gpudoctor/fixes/docker_reload.py").is_file()
    assert (site / "gpudoctor/schema/report.schema.json").is_file()
    assert (site / "gpudoctor/tui/app.tcss").is_file()
    proc = subprocess.run([unprivileged.python, "-m", "gpudoctor", "list", "--json"],
                          env=unprivileged.env(), cwd="/", capture_output=True, text=True,
                          timeout=60, check=False)
    listing = __import__("json").loads(proc.stdout)
    assert {c["id"] for c in listing["checks"]} >= {"gpu.present", "docker.nvidia_runtime"}
    assert {f["id"] for f in listing["fixes"]} >= {"docker.reload", "pciids.update"}
