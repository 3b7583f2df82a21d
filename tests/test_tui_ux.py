"""The TUI's verdict, help, keys and commands, driven with Pilot on host roots: the header says
ready or what blocks, ? and F1 explain every key and mark, ctrl+c quits, the fix plan has the
focus, columns follow a resize, c copies the highlighted check's commands, and run arguments
say what they wait for."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.tui.model import farewell
from tests.support import scenarios
from tests.support.tui_e2e import (
    highlight,
    make_app,
    modal_lines,
    nvidia_laptop_docker_without_runtime,
    rendered_text,
    screen_text,
    wait_for,
)

SIZE = (100, 30)


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tui-ux-roots")
    return {name: getattr(scenarios, name)(base / name)
            for name in ("nvidia_nouveau", "amd_laptop_field_guide", "server_8gpu_bmc")}


async def idle(app, pilot) -> None:
    await app.wait_until_idle(60)
    await pilot.pause()


async def test_header_says_the_verdict_in_words(roots):
    for name, words in (("nvidia_nouveau", "Not ready (3 blocking)"),
                        ("amd_laptop_field_guide", "Ready")):
        app = make_app(roots[name])
        async with app.run_test(size=SIZE) as pilot:
            await idle(app, pilot)
            header = screen_text(app).splitlines()[0]
            assert header.strip().startswith(words + "  ·  "), header
            assert "✗" in header and "✓" in header  # the counts stay


async def test_question_mark_and_f1_open_help_that_explains_keys_and_marks(roots):
    app = make_app(roots["amd_laptop_field_guide"])
    async with app.run_test(size=(100, 40)) as pilot:
        await idle(app, pilot)
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await wait_for(lambda: type(app.screen).__name__ == "HelpScreen", pilot,
                           what="the help screen")
            await pilot.pause()
            text = rendered_text(app.screen.query_one("#help-text"), width=100)
            for expected in ("f  ", "a  ", "c  ", "d  ", "r  ", "s  ", "? F1", "q ctrl+c",
                             "✓ passed", "! warning", "✗ failed", "- skipped",
                             "☠ could not be decided", "stops GPU containers"):
                assert expected in text, expected
            await pilot.press("escape")
            await pilot.pause()
            assert type(app.screen).__name__ == "Screen"


async def test_ctrl_c_quits_with_the_exit_code(roots):
    app = make_app(roots["nvidia_nouveau"])
    async with app.run_test(size=SIZE) as pilot:
        await idle(app, pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_code == 1  # a check failed: report.md's exit code, as q gives
    assert app.farewell().startswith("gpudoctor: Not ready: blocked by kernel.driver")


async def test_fix_plan_scroll_area_has_the_focus(tmp_path: Path):
    root = nvidia_laptop_docker_without_runtime(tmp_path / "laptop")
    app = make_app(root)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(app, pilot)
        await highlight(pilot, "docker.nvidia_runtime")
        await pilot.press("f")
        await wait_for(lambda: type(app.screen).__name__ == "FixScreen", pilot, 60)
        await pilot.pause()
        plan = app.screen.query_one("#fix-plan")
        assert app.focused is plan
        assert plan.max_scroll_y > 0  # the plan is longer than the dialog at 80x24
        await pilot.press("pagedown")
        await pilot.pause()
        assert plan.scroll_y > 0  # the keys scroll it without a click or Tab first
        # No line of the plan is wrapped: the longest (a command or a diff line) is one line
        # of the pane, which scrolls sideways to show the rest.
        text = app.screen.proposal.text
        longest = max(len(line) for line in text.splitlines())
        assert longest > 80
        assert plan.query_one("#fix-plan-text").virtual_size.height == len(
            text.rstrip("\n").splitlines())
        assert plan.max_scroll_x >= longest - 80
        await pilot.press("escape")


async def test_columns_follow_a_resize(roots):
    app = make_app(roots["nvidia_nouveau"])
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(app, pilot)
        table = app.query_one("#checks")

        def total() -> int:
            return sum(col.width for col in table.columns.values())

        narrow = total()
        assert narrow <= 80
        await pilot.resize_terminal(140, 45)
        # Wide: details go beside the checks; the columns fill the checks' new width.
        await wait_for(lambda: abs(total() - (table.size.width - 9)) <= 1, pilot,
                       what="columns laid out for 140 columns")
        await pilot.resize_terminal(80, 24)
        await wait_for(lambda: total() == narrow, pilot, what="columns back at 80")
        assert all(len(line) <= 80 for line in screen_text(app).splitlines())


async def test_c_copies_the_highlighted_checks_commands_and_quit_prints_them(roots):
    app = make_app(roots["server_8gpu_bmc"])
    async with app.run_test(size=SIZE) as pilot:
        await idle(app, pilot)
        assert app.highlighted.id == "nvidia.toolkit"  # the first failure
        commands = list(app.highlighted.outcome.result.commands)
        assert commands and all("\n" not in c for c in commands)
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == "\n".join(commands)
        # The pane shows each command whole on its own line (it scrolls sideways).
        box = rendered_text(app.query_one("#detail-commands"), width=2000)
        shown = [line.strip() for line in box.splitlines()]
        for command in commands:
            assert command in shown
        notes = " ".join(n.message for n in app._notifications)
        assert "OSC 52" in notes and "printed when you quit" in notes
        await highlight(pilot, "gpu.present")  # a passing check has no command
        await pilot.press("q")
    text = app.farewell()
    for command in commands:
        assert f"  {command}\n" in text


async def test_run_args_screen_says_what_the_line_waits_for(roots):
    app = make_app(roots["server_8gpu_bmc"])
    async with app.run_test(size=SIZE) as pilot:
        await idle(app, pilot)
        await pilot.press("d")
        await wait_for(lambda: type(app.screen).__name__ == "RunArgsScreen", pilot)
        await pilot.pause()
        lines = modal_lines(screen_text(app))
        assert "docker run --gpus=all IMAGE" in lines
        assert any("Works once these are fixed: nvidia.toolkit." in line for line in lines)


def test_farewell_is_the_verdict_and_the_run_line():
    from gpudoctor.verdict import verdict_of

    ready = verdict_of({"checks": [{"id": "gpu.present", "status": "pass"}],
                        "docker_run_args": ["--device=/dev/kfd"]})
    assert farewell(ready) == "gpudoctor: Ready: docker run --device=/dev/kfd IMAGE\n"
    blocked = verdict_of({"checks": [{"id": "nvidia.toolkit", "status": "fail",
                                      "fixes": ["nvidia.install_toolkit"]}],
                          "docker_run_args": ["--gpus=all"]})
    assert farewell(blocked).splitlines() == [
        "gpudoctor: Not ready: blocked by nvidia.toolkit. Next: sudo gpudoctor fix "
        "nvidia.install_toolkit",
        "  docker run --gpus=all IMAGE",
        "  Works once these are fixed: nvidia.toolkit."]


async def test_fix_everything_says_first_what_it_cannot_fix(roots):
    app = make_app(roots["nvidia_nouveau"])
    async with app.run_test(size=SIZE) as pilot:
        await idle(app, pilot)
        await pilot.press("a")
        await wait_for(lambda: type(app.screen).__name__ == "FixScreen", pilot, 60)
        await pilot.pause()
        lines = modal_lines(screen_text(app))
        text = " ".join(" ".join(lines).split())
        assert ("Not fixed automatically, whatever you apply here: kernel.driver, "
                "devices.nodes") in text
        assert text.index("Not fixed automatically") < text.index("Plan: ")
        await pilot.press("escape")
