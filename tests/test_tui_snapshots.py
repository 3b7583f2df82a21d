"""Snapshots of the TUI (pytest-textual-snapshot) on fixed host roots.

Deterministic by construction: the roots are rebuilt at fixed paths (the header shows the
path), every check has finished before the picture is taken, nothing on screen tells the time,
and no widget on these screens blinks. Regenerate after a deliberate change with
`pytest tests/test_tui_snapshots.py --snapshot-update`, look at the SVGs, then commit them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import scenarios
from tests.support.tui_e2e import (
    highlight,
    make_app,
    nvidia_laptop_docker_without_runtime,
    wait_for,
)

#: Literal, not tempfile.gettempdir(): the header shows the path, and TMPDIR differs between
#: machines.
SNAPSHOT_ROOTS = Path("/tmp/gpudoctor-tui-snapshots")

#: The roots are rebuilt at those fixed paths: under xdist these tests share one worker.
pytestmark = pytest.mark.xdist_group("tui-snapshots")


def fixed_root(name: str) -> Path:
    """Scenario `name` built afresh at a path that is the same on every run."""
    root = SNAPSHOT_ROOTS / name
    shutil.rmtree(root, ignore_errors=True)
    if name == "nvidia_laptop_docker_without_runtime":
        return nvidia_laptop_docker_without_runtime(root)
    return getattr(scenarios, name)(root)


def settle(check_id: str | None = None, *keys: str):
    async def run_before(pilot) -> None:
        await pilot.app.wait_until_idle(60)
        await pilot.pause()
        if check_id:
            await highlight(pilot, check_id)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.app.wait_until_idle(60)
        await pilot.pause()
    return run_before


def test_main_screen_dark_100x30(snap_compare):
    app = make_app(fixed_root("nvidia_nouveau"), theme="textual-dark")
    assert snap_compare(app, terminal_size=(100, 30), run_before=settle("kernel.driver"))


def test_main_screen_light_80x24(snap_compare):
    app = make_app(fixed_root("amd_laptop_field_guide"), theme="textual-light")
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle("gpu.present"))


def test_main_screen_no_color_80x24(snap_compare, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(fixed_root("nvidia_nouveau"), theme="textual-dark")
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle("kernel.driver"))


def test_wide_screen_puts_details_beside_the_checks(snap_compare):
    app = make_app(fixed_root("nvidia_nouveau"), theme="textual-dark")
    assert snap_compare(app, terminal_size=(160, 30), run_before=settle("kernel.driver"))


def test_run_args_modal(snap_compare):
    app = make_app(fixed_root("amd_laptop_field_guide"), theme="textual-dark")
    assert snap_compare(app, terminal_size=(100, 30), run_before=settle(None, "d"))


def open_fix_modal(check_id: str, key: str = "f"):
    async def run_before(pilot) -> None:
        await pilot.app.wait_until_idle(60)
        await pilot.pause()
        await highlight(pilot, check_id)
        await pilot.press(key)
        await wait_for(lambda: type(pilot.app.screen).__name__ == "FixScreen", pilot, 60,
                       what="the fix modal")
        await pilot.pause()
    return run_before


def test_fix_modal_on_a_host_root(snap_compare):
    app = make_app(fixed_root("nvidia_laptop_docker_without_runtime"), theme="textual-dark")
    assert snap_compare(app, terminal_size=(100, 30),
                        run_before=open_fix_modal("docker.nvidia_runtime"))


def test_fix_everything_modal_light_80x24(snap_compare):
    app = make_app(fixed_root("nvidia_laptop_docker_without_runtime"), theme="textual-light")
    assert snap_compare(app, terminal_size=(80, 24),
                        run_before=open_fix_modal("gpu.present", "a"))


def test_help_screen(snap_compare):
    app = make_app(fixed_root("amd_laptop_field_guide"), theme="textual-dark")
    assert snap_compare(app, terminal_size=(100, 30), run_before=settle(None, "question_mark"))


def test_run_args_modal_on_a_host_that_is_not_ready(snap_compare):
    app = make_app(fixed_root("server_8gpu_bmc"), theme="textual-dark")
    assert snap_compare(app, terminal_size=(100, 30), run_before=settle(None, "d"))


def test_main_screen_shows_a_checks_commands(snap_compare):
    app = make_app(fixed_root("server_8gpu_bmc"), theme="textual-dark")
    assert snap_compare(app, terminal_size=(160, 50), run_before=settle("nvidia.toolkit"))
