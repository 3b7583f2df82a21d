"""What the TUI writes, tested as text: the header line, the detail pane, which checks a fix
makes re-run, and the theme chosen for the terminal."""

from __future__ import annotations

from gpudoctor.plugin import Result
from gpudoctor.runner import Outcome
from gpudoctor.tui.model import (
    FixOffer,
    HostSummary,
    Row,
    affected_checks,
    choose_theme,
    fixable_ids,
)
from tests.support.tui_text import detail_text, header_text


def outcome(check_id: str, result: Result, area: str = "Container stack") -> Outcome:
    return Outcome(check_id, check_id, area, result)


def test_header_names_the_root_gpus_and_counts():
    host = HostSummary(where="/srv/roots/laptop", gpus_found=2, gpus_selected=1)
    tally = {"pass": 5, "warn": 1, "fail": 2, "skip": 1, "error": 0, "pending": 0}
    assert header_text(host, tally) == (
        "/srv/roots/laptop  ·  2 GPUs found, 1 selected  ·  ✓ 5  ! 1  ✗ 2  - 1")


def test_header_keeps_the_end_of_a_long_root_and_says_what_is_still_running():
    host = HostSummary(where="/very/long/" + "x" * 80 + "/nvidia_nouveau", gpus_found=1,
                       gpus_selected=1)
    tally = {"pass": 1, "warn": 0, "fail": 0, "skip": 0, "error": 1, "pending": 3}
    text = header_text(host, tally, width=80)
    assert len(text) <= 80
    assert text.startswith("…") and "/nvidia_nouveau  ·  1 GPU found, 1 selected" in text
    assert text.endswith("✓ 1  ! 0  ✗ 0  ☠ 1  checking 3…")


def test_detail_text_has_evidence_why_what_to_do_and_fixes():
    row = Row("docker.nvidia_runtime", "Docker knows the nvidia runtime", "Container stack",
              outcome("docker.nvidia_runtime", Result.fail(
                  "the daemon has no nvidia runtime",
                  details="Without it `--runtime=nvidia` fails.",
                  evidence=['/etc/docker/daemon.json: {"log-driver": "json-file"}'],
                  remedy="sudo nvidia-ctk runtime configure --runtime=docker",
                  fixes=["docker.configure_nvidia_runtime", "docker.reload"])))
    offers = [FixOffer("docker.configure_nvidia_runtime", "Declare the nvidia runtime"),
              FixOffer("docker.reload", "docker.reload", registered=False)]
    text = detail_text(row, offers, "host roots are read-only")
    assert text.splitlines()[0] == (
        "✗ Docker knows the nvidia runtime  (docker.nvidia_runtime, failed)")
    for expected in ("What was seen", '  /etc/docker/daemon.json: {"log-driver": "json-file"}',
                     "Why it matters", "  Without it `--runtime=nvidia` fails.", "What to do",
                     "  sudo nvidia-ctk runtime configure --runtime=docker", "Fixes offered",
                     "  docker.configure_nvidia_runtime: Declare the nvidia runtime",
                     "  docker.reload: docker.reload (not installed in this gpudoctor)",
                     "  Press f to see the plan. host roots are read-only"):
        assert expected in text.splitlines(), expected


def test_a_passing_check_offers_nothing_to_fix():
    row = Row("groups.render", "Render groups", "Devices and permissions",
              outcome("groups.render", Result.passed("ok", fixes=["groups.add_user_render"])))
    assert not row.fixable
    assert "Nothing to fix now" in detail_text(row, [FixOffer("groups.add_user_render", "x")],
                                               None)
    assert fixable_ids([row]) == []


def test_affected_checks_are_the_offering_ones_and_their_dependents():
    rows = [
        Row("docker.daemon", "d", "Container stack",
            outcome("docker.daemon", Result.passed("ok"))),
        Row("docker.nvidia_runtime", "n", "Container stack",
            outcome("docker.nvidia_runtime", Result.fail(
                "no", fixes=["docker.configure_nvidia_runtime", "docker.reload"]))),
        Row("docker.cdi", "c", "Container stack", outcome("docker.cdi", Result.skip("dep"))),
        Row("docker.smoke", "s", "Container stack", outcome("docker.smoke", Result.skip("dep"))),
        Row("pciids.fresh", "p", "Hardware",
            outcome("pciids.fresh", Result.warn("old", fixes=["pciids.update"]))),
    ]
    requires = {"docker.cdi": ("docker.daemon",), "docker.smoke": ("docker.cdi",
                                                                   "docker.nvidia_runtime")}
    assert affected_checks(["docker.reload"], rows, requires) == [
        "docker.nvidia_runtime", "docker.smoke"]
    assert affected_checks(["pciids.update"], rows, requires) == ["pciids.fresh"]
    assert fixable_ids(rows) == ["docker.configure_nvidia_runtime", "docker.reload",
                                 "pciids.update"]


def test_theme_follows_the_terminal_background_unless_told():
    assert choose_theme({}) == "textual-dark"
    assert choose_theme({"COLORFGBG": "0;15"}) == "textual-light"
    assert choose_theme({"COLORFGBG": "15;default;0"}) == "textual-dark"
    assert choose_theme({"COLORFGBG": "0;15", "GPUDOCTOR_THEME": "nord"}) == "nord"
