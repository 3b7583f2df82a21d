"""End to end, as a person uses it: `gpudoctor --root ROOT` in a real terminal (tmux), keys
sent, the screen read with capture-pane, and what is left after quitting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import scenarios
from tests.support.cli import report_for
from tests.support.tui_e2e import Tmux, child_env, gpudoctor_argv


@pytest.fixture
def tmux():
    session = Tmux(width=100, height=30)
    yield session
    session.kill()


def detail_id(screen: str) -> str | None:
    """The id of the check whose details the screen shows (`... title  kernel.driver ·`)."""
    found = re.findall(r"(?:^|\s)([a-z][a-z0-9_]*\.[a-z0-9_.]+)\s+·(?:\s|$)", screen, re.M)
    return found[-1] if found else None


def test_gpudoctor_on_a_terminal_opens_the_tui_and_q_quits(tmp_path: Path, tmux: Tmux):
    root = scenarios.nvidia_nouveau(tmp_path / "nouveau")
    status = tmp_path / "status"
    # The shell writes gpudoctor's exit status to the status file once it has exited.
    tmux.start(gpudoctor_argv("--root", str(root)), env=child_env(), status_file=status)
    # Every check has answered once the header no longer counts checks still running.
    screen = tmux.wait_for_screen(
        lambda s: "Kernel driver" in s and "checking" not in s.splitlines()[0]
        and "q Quit" in s, timeout=60, what="every result and the footer")
    lines = [line for line in screen.splitlines() if line.strip()]
    # The verdict in words leads; at this width the GPU count gives way to it (the table
    # shows the GPUs), the root's name and the counts stay.
    assert lines[0].strip().startswith("Not ready (3 blocking)  ·  ")
    counts = report_for(root)["summary"]  # the same root through --json: the same counts
    assert counts["pass"] == 2 and counts["fail"] == 3
    assert root.name in lines[0] and lines[0].rstrip().endswith(
        f"✓ 2  ! {counts['warn']}  ✗ 3  - {counts['skip']}")
    driver_row = next(line for line in lines if "Kernel driver" in line)
    assert driver_row.lstrip().startswith("✗") and "nouveau" in driver_row
    assert any(line.lstrip().startswith("✓") and "A GPU for containers" in line
               for line in lines)
    assert "q Quit" in lines[-1] and "r Re-run" in lines[-1]
    # Down past the other Hardware rows and the Kernel heading to the driver row: its
    # details show (how many rows that is depends on the checks installed).
    # Each Down waits until the details show another check (a busy machine may take seconds
    # to draw it), so no key press skips past the driver row (where the cursor may start).
    shown = detail_id(screen)
    for _ in range(8):
        if shown == "kernel.driver":
            break
        tmux.send("Down")
        screen = tmux.wait_for_screen(lambda s, was=shown: detail_id(s) not in (None, was),
                                      timeout=30, what="the next check's details")
        shown = detail_id(screen)
    screen = tmux.wait_for_text("kernel.driver · failed", timeout=10)
    assert "blacklist-nouveau" in screen or "What was seen" in screen
    tmux.send("q")
    tmux.wait_until_gone(timeout=20)
    assert status.read_text().strip() == "1"  # a check failed: report.md's exit code


def test_quitting_leaves_the_verdict_and_run_line_on_the_terminal(tmp_path: Path, tmux: Tmux):
    root = scenarios.amd_laptop_field_guide(tmp_path / "laptop")
    status = tmp_path / "status"
    # The TUI draws on the terminal's alternate screen; after it exits the shell prints a
    # marker on the normal screen: what gpudoctor left behind shows above it.
    argv = gpudoctor_argv("--root", str(root))
    tmux.start(["sh", "-c", " ".join(f"'{a}'" for a in argv)
                + f"; echo \"rc=$?\" > {status}; echo MARKER; sleep 30"],
               env=child_env())
    screen = tmux.wait_for_screen(lambda s: "Ready  ·" in s, timeout=60, what="the verdict")
    assert screen.splitlines()[0].strip().startswith("Ready  ·  ")
    tmux.send("C-c")  # ctrl+c quits as people expect, and leaves the same as q
    screen = tmux.wait_for_text("MARKER", timeout=20)
    assert status.read_text().strip() == "rc=0"
    assert [line for line in screen.splitlines() if line.strip()] == [
        "gpudoctor: Ready: docker run --device=/dev/kfd --device=/dev/dri/renderD128 "
        "--group-add=110 IMAGE",
        "MARKER"]


def test_quitting_a_broken_host_says_what_blocks(tmp_path: Path, tmux: Tmux):
    root = scenarios.server_8gpu_bmc(tmp_path / "server")
    argv = gpudoctor_argv("--root", str(root))
    tmux.start(["sh", "-c", " ".join(f"'{a}'" for a in argv) + "; echo MARKER; sleep 30"],
               env=child_env())
    tmux.wait_for_screen(lambda s: "Not ready (1 blocking)" in s, timeout=60,
                         what="the verdict")
    tmux.send("q")
    screen = tmux.wait_for_text("MARKER", timeout=20)
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines == [
        "gpudoctor: Not ready: blocked by nvidia.toolkit. Next: sudo gpudoctor fix "
        "nvidia.install_toolkit",
        "  docker run --gpus=all IMAGE",
        "  Works once these are fixed: nvidia.toolkit.",
        "MARKER"]
