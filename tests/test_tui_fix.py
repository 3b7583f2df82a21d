"""Fixing from the TUI: the plan shown exactly as `gpudoctor fix` plans it, a confirmed fix on
the real test dockerd that turns the row green, a cancelled one that changes nothing, `a` (one
plan, one confirmation), and the cases where fixes are shown but cannot be applied: a host root,
and a person who is not root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpudoctor import fixer
from gpudoctor.facts import Options
from gpudoctor.report import Doctor
from gpudoctor.tui.app import DoctorApp
from tests.support.cli import run_gpudoctor
from tests.support.dockerd import ensure_busybox_image
from tests.support.standins import install_standins
from tests.support.tui_e2e import (
    REPO,
    detail_text,
    footer_shows,
    gpu_root_live_host,
    highlight,
    make_app,
    nvidia_laptop_docker_without_runtime,
    rendered_text,
    screen_text,
    table_cells,
    wait_for,
)

SIZE = (100, 30)
RUNTIME_FIXES = ["docker.configure_nvidia_runtime", "docker.reload"]


def plan_text_of(app) -> str:
    """The modal's plan, unwrapped (a very wide render), line ends trimmed."""
    return rendered_text(app.screen.query_one("#fix-plan-text"), width=1000) + "\n"


def cli_plan(root: Path | str, fix_ids: list[str]) -> str:
    """What `gpudoctor fix --dry-run --root ROOT [FIX_ID...]` prints, line ends trimmed."""
    run = run_gpudoctor("fix", "--dry-run", "--root", root, *fix_ids)
    assert "Dry run: nothing was changed." in run.stdout, (run.returncode, run.stderr)
    return "\n".join(line.rstrip() for line in run.stdout.splitlines()) + "\n"


async def open_fix_modal(pilot, key: str = "f") -> None:
    await pilot.press(key)
    await wait_for(lambda: pilot.app.screen.__class__.__name__ == "FixScreen", pilot,
                   timeout=60, what="the fix modal")
    await pilot.pause()


@pytest.fixture
def docker_root(tmp_path: Path) -> Path:
    return nvidia_laptop_docker_without_runtime(tmp_path / "nvidia-laptop")


# ----- a host root: the plan is shown, never applied ------------------------------------------
async def test_fix_modal_shows_the_plan_and_diff_of_gpudoctor_fix(docker_root):
    daemon_json = docker_root / "etc" / "docker" / "daemon.json"
    before = daemon_json.read_bytes()
    app = make_app(docker_root)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_until_idle(60)
        await pilot.pause()
        assert table_cells(app)["docker.nvidia_runtime"][0] == "✗"
        await highlight(pilot, "docker.nvidia_runtime")
        await footer_shows(pilot, {"f": True})
        details = " ".join(detail_text(app).split())
        assert "docker.configure_nvidia_runtime:" in details
        assert "is not the machine gpudoctor runs on" in details
        await open_fix_modal(pilot)
        shown = plan_text_of(app)
        assert cli_plan(docker_root, RUNTIME_FIXES).startswith(shown)
        assert shown.startswith("Plan: 2 fixes")
        screen = screen_text(app)
        # The plan as a person sees it: each fix, the diff of daemon.json, the interruption.
        for expected in ("Fix: Docker knows the nvidia runtime", "Plan: 2 fixes",
                         "1. docker.configure_nvidia_runtime", "--- /etc/docker/daemon.json",
                         "+++ /etc/docker/daemon.json", '+  "runtimes": {'):
            assert expected in screen, expected
        assert "interrupts running containers: no" in shown  # further down the scroll
        assert "These fixes are shown but cannot be applied from here" in screen
        blocked = str(app.screen.query_one("#fix-blocked").content)
        assert fixer.root_problem(app.doctor, RUNTIME_FIXES) in blocked
        assert "is not the machine gpudoctor runs on" in blocked
        assert "Apply (y)" not in screen
        await footer_shows(pilot, {"y": None, "escape": True})
        await pilot.press("y")  # not offered: nothing happens
        await pilot.pause()
        assert app.screen.__class__.__name__ == "FixScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "Screen"
        assert table_cells(app)["docker.nvidia_runtime"][0] == "✗"
    assert daemon_json.read_bytes() == before
    assert sorted(p.name for p in daemon_json.parent.iterdir()) == ["daemon.json"]


async def test_a_offers_every_fix_in_one_plan(docker_root):
    app = make_app(docker_root)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_until_idle(60)
        await pilot.pause()
        await highlight(pilot, "gpu.present")  # `a` does not depend on the highlighted row
        await footer_shows(pilot, {"a": True, "f": False})
        await open_fix_modal(pilot, "a")
        shown = plan_text_of(app)
        assert cli_plan(docker_root, []).startswith(shown)
        assert shown.startswith("Plan: 3 fixes")
        for fix_id in ("nvidia.install_toolkit", *RUNTIME_FIXES):
            assert f". {fix_id}: " in shown, fix_id
        assert "Fix everything that can be fixed" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "Screen"


# ----- the live machine with the real test dockerd -------------------------------------------
def start_live(tmp_path: Path, dockerd_factory, monkeypatch: pytest.MonkeyPatch,
               standins: list[str]):
    """A test dockerd without the nvidia runtime, stand-in toolkit programs on its PATH and
    ours, and a live host whose GPU (an RTX 4070 on driver 550) comes from a host root."""
    monkeypatch.setenv("GPUDOCTOR_LOCK_FILE", str(tmp_path / "gpudoctor.lock"))
    bindir = tmp_path / "bin"
    install_standins(bindir, standins)
    daemon = dockerd_factory(config={"log-level": "info"}, extra_path=[bindir])
    hardware = nvidia_laptop_docker_without_runtime(tmp_path / "hardware")
    env = dict(os.environ, DOCKER_HOST=daemon.host,
               PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return daemon, hardware, env


@pytest.fixture
def live_setup(tmp_path: Path, dockerd_factory, monkeypatch: pytest.MonkeyPatch):
    return start_live(tmp_path, dockerd_factory, monkeypatch,
                      ["nvidia-ctk", "nvidia-container-runtime"])


def live_app(hardware: Path, env: dict[str, str], **options) -> DoctorApp:
    return DoctorApp(Doctor(gpu_root_live_host(hardware, env), Options(**options)),
                     theme="textual-dark")


async def test_confirmed_fix_on_the_test_dockerd_turns_the_row_green(live_setup):
    daemon, hardware, env = live_setup
    assert "nvidia" not in daemon.info()["Runtimes"]
    app = live_app(hardware, env)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_until_idle(60)
        await pilot.pause()
        mark_, _, summary = table_cells(app)["docker.nvidia_runtime"]
        assert mark_ == "✗" and "not declared" in summary
        fails_before = app.exit_code()
        await highlight(pilot, "docker.nvidia_runtime")
        await open_fix_modal(pilot)
        assert f"--- {daemon.config_file}" in plan_text_of(app)
        assert "Apply (y)" in screen_text(app)
        await pilot.press("y")
        await wait_for(lambda: app.screen.result is not None, pilot, timeout=90,
                       what="the fix to finish")
        await pilot.pause()
        output = "\n".join(app.screen.query_one("#fix-output").lines)
        assert "$ gpudoctor fix --yes docker.configure_nvidia_runtime docker.reload" in output
        # The fixes' own progress lines, streamed as they ran: the file, then the signal.
        assert output.index(str(daemon.config_file)) < output.index("SIGHUP")
        assert str(daemon.pid) in output
        assert "Applied: docker.configure_nvidia_runtime, docker.reload." in screen_text(app)
        await pilot.press("escape")
        await app.wait_until_idle(90)
        await pilot.pause()
        mark_, _, summary = table_cells(app)["docker.nvidia_runtime"]
        assert mark_ == "✓", summary
        details = " ".join(detail_text(app).split())
        assert f"the nvidia runtime is declared in {daemon.config_file} and loaded" in details
        assert app.exit_code() <= fails_before
    # What changed on the host: the file the daemon reads, and the running daemon.
    config = json.loads(daemon.config_file.read_text())
    assert config["log-level"] == "info"
    assert config["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    assert "nvidia" in daemon.info()["Runtimes"]


async def test_cancelled_fix_changes_nothing(live_setup):
    daemon, hardware, env = live_setup
    before = daemon.config_file.read_bytes()
    listing = sorted(p.name for p in daemon.config_file.parent.iterdir())
    app = live_app(hardware, env)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_until_idle(60)
        await pilot.pause()
        await highlight(pilot, "docker.nvidia_runtime")
        outcome_before = app.rows["docker.nvidia_runtime"].outcome
        await open_fix_modal(pilot)
        assert "Cancel (n)" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "Screen"
        await app.wait_until_idle(30)
        # No re-run: the row still holds the very result it had.
        assert app.rows["docker.nvidia_runtime"].outcome is outcome_before
        assert table_cells(app)["docker.nvidia_runtime"][0] == "✗"
    assert daemon.config_file.read_bytes() == before
    assert sorted(p.name for p in daemon.config_file.parent.iterdir()) == listing
    assert "nvidia" not in daemon.info()["Runtimes"]


NOT_ROOT_DRIVER = """
import asyncio, json, os, sys
from gpudoctor.facts import Options
from gpudoctor.report import Doctor
from gpudoctor.tui.app import DoctorApp
from tests.support.tui_e2e import gpu_root_live_host, highlight, screen_text, wait_for

async def main():
    host = gpu_root_live_host(sys.argv[1], dict(os.environ))
    app = DoctorApp(Doctor(host, Options()), theme="textual-dark")
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_until_idle(60)
        await pilot.pause()
        await highlight(pilot, "docker.nvidia_runtime")
        await pilot.press("f")
        await wait_for(lambda: type(app.screen).__name__ == "FixScreen", pilot, 60)
        await pilot.pause()
        modal = screen_text(app)
        blocked = str(app.screen.query_one("#fix-blocked").content)
        await pilot.press("y")
        await pilot.pause(0.5)
        await pilot.press("c")
        await pilot.pause()
        print(json.dumps({"euid": os.geteuid(), "modal": modal, "blocked": blocked,
                          "clipboard": app.clipboard,
                          "after_y": type(app.screen).__name__}))

asyncio.run(main())
"""


def test_not_root_the_modal_gives_the_sudo_command_instead(live_setup, tmp_path):
    """As a person who is not root (a user namespace maps this process to uid 1000)."""
    daemon, hardware, env = live_setup
    before = daemon.config_file.read_bytes()
    driver = tmp_path / "driver.py"
    driver.write_text(NOT_ROOT_DRIVER)
    env = dict(env, PYTHONPATH=str(REPO), NO_COLOR="1")
    proc = subprocess.run(["unshare", "--user", "--map-user=1000", "--map-group=1000",
                           sys.executable, str(driver), str(hardware)],
                          capture_output=True, text=True, env=env, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["euid"] == 1000
    assert "need root" in seen["blocked"]
    command = seen["blocked"].split("Run this instead:\n  ", 1)[1].strip()
    # Seen from a user namespace, the root-owned dockerd looks rootless, so gpudoctor may add
    # nvidia.rootless_no_cgroups; the runtime's own fixes are always in the command.
    assert command.startswith("sudo --preserve-env=DOCKER_HOST gpudoctor fix ")
    assert command.endswith(" ".join(RUNTIME_FIXES))
    assert f"`{command}`" in seen["blocked"]  # the same command the fixer gave
    assert "These fixes are shown but cannot be applied from here" in seen["modal"]
    assert "Apply (y)" not in seen["modal"] and "Copy command (c)" in seen["modal"]
    assert seen["after_y"] == "FixScreen"  # y did nothing
    assert seen["clipboard"] == command
    assert daemon.config_file.read_bytes() == before
    assert "nvidia" not in daemon.info()["Runtimes"]


# ----- `s`: the opt-in smoke check starts a real container ------------------------------------
async def test_s_runs_the_smoke_check_in_a_real_container(tmp_path, dockerd_factory,
                                                          monkeypatch):
    # The toolkit's hook is on dockerd's PATH at start, so `--gpus` works (stand-ins).
    daemon, hardware, env = start_live(tmp_path, dockerd_factory, monkeypatch,
                                       ["nvidia-ctk", "nvidia-container-runtime",
                                        "nvidia-container-runtime-hook"])
    image = ensure_busybox_image(daemon)
    app = live_app(hardware, env, image=image)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_until_idle(60)
        await pilot.pause()
        assert "docker.smoke" not in table_cells(app)  # opt-in: never run unasked
        await footer_shows(pilot, {"s": True})
        await pilot.press("s")
        assert table_cells(app)["docker.smoke"][1] == "A container really gets the GPUs"
        await app.wait_until_idle(200)
        await pilot.pause()
        mark_, _, summary = table_cells(app)["docker.smoke"]
        assert mark_ == "✓", summary
        await highlight(pilot, "docker.smoke")
        details = " ".join(detail_text(app).split())
        assert f"with {image}: --gpus=all" in details
        assert "nvidia-smi lists 1 GPU(s) as root" in details
    assert daemon.docker("ps", "-aq").stdout.strip() == ""  # its container was removed


async def test_s_on_a_host_root_explains_why_no_container_starts(docker_root):
    app = make_app(docker_root)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_until_idle(60)
        await pilot.press("s")
        await app.wait_until_idle(60)
        await pilot.pause()
        mark_, _, summary = table_cells(app)["docker.smoke"]
        assert mark_ == "-" and summary.startswith("docker.smoke starts a container")
