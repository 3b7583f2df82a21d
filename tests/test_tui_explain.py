"""The TUI's explain screen (e): paste an error, see the same explanation as `gpudoctor explain`.

Driven with Textual's Pilot on host roots: the NVIDIA field guide's error on its host (no
toolkit) is confirmed with the fix; the same text on a healthy host is ruled out; the main
screen's results are left as they were.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static, TextArea

from gpudoctor.tui.explain import ExplainScreen
from tests.support import container_roots as cr
from tests.support.tui_e2e import make_app, table_cells, wait_for

SIZE = (120, 40)
ERROR = ('Error response from daemon: could not select device driver "nvidia" with '
         "capabilities: [[gpu]]")


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tui-explain")
    return {"no_toolkit": cr.toolkit_missing(base / "no_toolkit"),
            "good": cr.nvidia_all_good(base / "good")}


async def explain_in_tui(root: Path, text: str) -> tuple[str, dict]:
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_until_idle(60)
        await pilot.pause()
        before = table_cells(app)
        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, ExplainScreen), pilot, what="the screen")
        app.screen.query_one("#explain-input", TextArea).text = text
        await pilot.press("ctrl+s")
        result = app.screen.query_one("#explain-result", Static)
        await wait_for(lambda: "Recognised" in str(result.content)
                       or "does not recognise" in str(result.content), pilot, 60,
                       "the explanation")
        shown = str(result.content)
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, ExplainScreen), pilot)
        assert table_cells(app) == before  # the main screen's results are untouched
        await pilot.press("q")
    return shown, before


async def test_the_field_guides_error_is_confirmed_with_its_fix(roots) -> None:
    shown, _ = await explain_in_tui(roots["no_toolkit"], ERROR)
    assert "confirmed: Docker has no `nvidia` device driver" in shown
    assert "sudo gpudoctor fix nvidia.install_toolkit docker.reload" in shown


async def test_the_same_error_on_a_healthy_host_is_ruled_out(roots) -> None:
    shown, _ = await explain_in_tui(roots["good"], ERROR)
    assert "ruled out" in shown and "confirmed" not in shown


async def test_unknown_text_is_not_guessed_at(roots) -> None:
    shown, _ = await explain_in_tui(roots["good"], "Segmentation fault")
    assert "does not recognise" in shown
