"""The TUI driven with Textual's Pilot on host roots with known problems: what a person sees in
the rows, the header and the detail pane, and what the keys do (r, d, s, enter, q)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gpudoctor.plugin import Area, Check, Result
from gpudoctor.registry import Registry
from gpudoctor.tui.model import mark
from tests.support import scenarios
from tests.support.cli import check_of, report_for, run_gpudoctor
from tests.support.tui_e2e import (
    detail_text,
    footer_shows,
    highlight,
    make_app,
    modal_lines,
    screen_text,
    table_cells,
    wait_for,
)

SIZE = (100, 30)


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tui-roots")
    return {name: getattr(scenarios, name)(base / name)
            for name in ("nvidia_nouveau", "amd_laptop_field_guide")}


async def run_to_idle(app, pilot) -> None:
    await app.wait_until_idle(60)
    await pilot.pause()


@pytest.mark.parametrize("scenario", ["nvidia_nouveau", "amd_laptop_field_guide"])
async def test_rows_show_every_check_with_its_mark_and_summary(roots, scenario):
    root = roots[scenario]
    report = report_for(root)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_idle(app, pilot)
        cells = table_cells(app)
        screen = screen_text(app)
    # Every check of the report has its row, with the same mark and the summary's start.
    for check in report["checks"]:
        shown_mark, title, summary = cells[check["id"]]
        assert shown_mark == mark(check["status"]), check["id"]
        assert check["title"].startswith(title.rstrip("…")), (title, check["title"])
        assert check["summary"].startswith(summary.rstrip("…")), (summary, check["summary"])
    # Grouped by area: each area's heading comes before its checks, in the report's order.
    keys = list(cells)
    areas = list(dict.fromkeys(c["area"] for c in report["checks"]))
    assert [k for k in keys if k.startswith("area:")] == [f"area:{a}" for a in areas]
    for check in report["checks"]:
        assert keys.index(f"area:{check['area']}") < keys.index(check["id"])
    # The header line names the root, the GPUs and the counts.
    header = screen.splitlines()[0]
    counts = report["summary"]
    assert root.name in header
    assert f"{len(report['gpus'])} GPU" in header
    assert f"✓ {counts['pass']}  ! {counts['warn']}  ✗ {counts['fail']}" in header


async def test_nouveau_root_shows_the_driver_failure_and_exits_1(roots):
    app = make_app(roots["nvidia_nouveau"])
    async with app.run_test(size=SIZE) as pilot:
        await run_to_idle(app, pilot)
        mark_, _, summary = table_cells(app)["kernel.driver"]
        assert mark_ == "✗" and "nouveau" in summary
        screen = screen_text(app)
        assert "Kernel driver" in screen and "✗" in screen
        await pilot.press("q")
    assert app.return_code == 1


async def test_detail_pane_shows_evidence_why_and_what_to_do(roots):
    root = roots["nvidia_nouveau"]
    expected = check_of(report_for(root), "kernel.driver")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_idle(app, pilot)
        await highlight(pilot, "kernel.driver")
        text = detail_text(app)
        lines = text.splitlines()
        assert lines[0].startswith("✗ Kernel driver")
        assert "kernel.driver · failed" in lines[0]
        for heading in ("What was seen", "Why it matters", "What to do"):
            assert heading in lines
        flat = " ".join(text.split())
        for evidence in expected["evidence"]:
            assert " ".join(evidence.split()) in flat
        assert "blacklist-nouveau.conf" in flat  # the remedy's exact file
        # Enter focuses the details (to scroll them); escape goes back to the checks.
        await pilot.press("enter")
        assert app.focused is app.query_one("#details")
        await pilot.press("escape")
        assert app.focused is app.query_one("#checks")


async def test_cursor_starts_on_the_first_failure(roots):
    app = make_app(roots["nvidia_nouveau"])
    async with app.run_test(size=SIZE) as pilot:
        await run_to_idle(app, pilot)
        keys = list(table_cells(app))
        table = app.query_one("#checks")
        # gpu.present and pciids.fresh pass; the driver is the first thing that fails.
        assert keys[table.cursor_row] == "kernel.driver"
        assert "kernel.driver · failed" in detail_text(app)


async def test_cursor_skips_area_headings(roots):
    app = make_app(roots["amd_laptop_field_guide"])
    async with app.run_test(size=SIZE) as pilot:
        await run_to_idle(app, pilot)
        keys = list(table_cells(app))
        table = app.query_one("#checks")
        # Nothing fails here: the cursor stays on the first check, not on "Hardware".
        assert keys[table.cursor_row] == "gpu.present"
        seen = []
        for _ in range(len(keys)):
            await pilot.press("down")
            seen.append(keys[table.cursor_row])
        assert not any(k.startswith("area:") for k in seen)
        assert seen[-1] == keys[-1]


async def test_keys_that_do_not_apply_are_greyed_out(roots):
    app = make_app(roots["amd_laptop_field_guide"])
    async with app.run_test(size=SIZE) as pilot:
        await run_to_idle(app, pilot)
        await highlight(pilot, "gpu.present")
        # Shown, but greyed: a passing check has nothing to fix; docker.smoke decides `s`.
        await footer_shows(pilot, {"f": False, "r": True, "d": True, "q": True,
                                   "s": "docker.smoke" in app.doctor.load().checks})


async def test_r_runs_the_checks_again_and_rows_follow_the_disk(tmp_path):
    root = scenarios.amd_laptop_field_guide(tmp_path / "laptop")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_idle(app, pilot)
        assert table_cells(app)["kernel.driver"][0] == "✓"
        # The host changes under the TUI: amdgpu is unloaded and lets go of the GPU.
        modules = root / "proc" / "modules"
        modules.write_text("".join(line for line in modules.read_text().splitlines(True)
                                   if not line.startswith("amdgpu ")))
        (root / "sys" / "bus" / "pci" / "devices" / "0000:07:00.0" / "driver").unlink()
        await pilot.press("r")
        await run_to_idle(app, pilot)
        mark_, _, summary = table_cells(app)["kernel.driver"]
        assert mark_ == "✗" and "amdgpu" in summary
        await pilot.press("q")
    assert app.return_code == 1


async def test_d_shows_run_args_and_compose_as_gpudoctor_devices_and_copies_them(roots):
    root = roots["amd_laptop_field_guide"]
    args = report_for(root)["docker_run_args"]
    assert args == ["--device=/dev/kfd", "--device=/dev/dri/renderD128", "--group-add=110"]
    devices = run_gpudoctor("devices", "--root", root)
    assert devices.returncode == 0, devices.stderr
    listed = [line.strip() for line in devices.stdout.splitlines()]
    run_line = "docker run --device=/dev/kfd --device=/dev/dri/renderD128 --group-add=110 IMAGE"
    assert run_line in listed
    compose = listed[listed.index("docker compose service fragment:") + 1:]
    compose = compose[:compose.index("")]
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_idle(app, pilot)
        await pilot.press("d")
        await wait_for(lambda: app.screen.__class__.__name__ == "RunArgsScreen", pilot,
                       what="the run-args modal")
        await pilot.pause()
        screen = modal_lines(screen_text(app))
        assert run_line in screen
        start = screen.index("services:")
        assert [line.strip() for line in screen[start:start + len(compose)]] == compose
        # c copies the run line alone (pasted, it runs); m copies the compose fragment.
        await pilot.press("c")
        assert app.clipboard == run_line
        await pilot.press("m")
        assert app.clipboard.startswith("services:\n  app:\n")
        assert [line.strip() for line in app.clipboard.splitlines()] == compose
        assert app.copied == [run_line, app.clipboard]  # printed on quit as well
        assert "Works once" not in " ".join(screen)  # this laptop is ready
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "Screen"


# ----- every check starts at once, and a slow one never holds up `q` ---------------------------
GATE = threading.Event()


class QuickCheck(Check):
    id = "test.quick"
    title = "A quick check"
    area = Area.HARDWARE

    def run(self, facts):
        return Result.passed(f"kernel {facts.kernel_release}")


class GatedCheck(Check):
    id = "test.gated"
    title = "A check that waits for the test"
    area = Area.CONTAINER
    timeout = 30

    def run(self, facts):
        GATE.wait(20)
        return Result.fail("the gate was opened")


def gated_registry() -> Registry:
    return Registry(checks={c.id: c for c in (QuickCheck, GatedCheck)},
                    sources={"test.quick": "built in", "test.gated": "built in"})


async def test_rows_spin_until_their_own_result_arrives(roots):
    GATE.clear()
    app = make_app(roots["amd_laptop_field_guide"], registry=gated_registry())
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(lambda: table_cells(app)["test.quick"][0] == "✓", pilot,
                           what="the quick check")
            mark_, _, summary = table_cells(app)["test.gated"]
            assert mark_ in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏" and summary == "checking…"
            assert "checking 1…" in screen_text(app).splitlines()[0]
            await footer_shows(pilot, {"r": False})  # no re-run while one is running
            await pilot.pause(0.25)
            assert table_cells(app)["test.gated"][0] != mark_  # the spinner turns
            GATE.set()
            await run_to_idle(app, pilot)
            assert table_cells(app)["test.gated"][0] == "✗"
            await footer_shows(pilot, {"r": True})
            assert "checking" not in screen_text(app).splitlines()[0]
    finally:
        GATE.set()


async def test_q_quits_at_once_while_a_check_still_hangs(roots):
    GATE.clear()
    app = make_app(roots["amd_laptop_field_guide"], registry=gated_registry())
    try:
        started = time.monotonic()
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(lambda: table_cells(app)["test.quick"][0] == "✓", pilot,
                           what="the quick check")
            await pilot.press("q")
        assert time.monotonic() - started < 5
        assert app.return_code == 0  # nothing had failed yet
    finally:
        GATE.set()


async def test_an_unknown_theme_falls_back_to_dark_and_says_so(roots):
    app = make_app(roots["amd_laptop_field_guide"], theme="no-such-theme")
    async with app.run_test(size=SIZE) as pilot:
        await run_to_idle(app, pilot)
        assert app.theme == "textual-dark"
        assert any("no-such-theme" in str(n.message) for n in app._notifications)


async def test_every_theme_draws_the_marks(roots):
    """ANSI themes name colours `ansi_green`; every theme must still draw, light or dark."""
    app = make_app(roots["nvidia_nouveau"])
    async with app.run_test(size=SIZE) as pilot:
        await run_to_idle(app, pilot)
        await highlight(pilot, "kernel.driver")
        for name in sorted(app.available_themes):
            app.theme = name
            await pilot.pause()
            screen = screen_text(app)
            assert "✗" in screen.splitlines()[0], name
            assert "kernel.driver · failed" in screen, name
