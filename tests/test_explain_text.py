"""`gpudoctor explain TEXT`: every row of the cause table, with the text as the tools print it.

The table-driven part asserts which cause each real error text is recognised as (texts from the
tools' sources, documentation or tracker issues: each rule's `source`). The host part asserts
the verdict where the cause is present and where it is absent: the same text is never blamed on
a cause the host does not have.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpudoctor.explain.text import find_causes
from tests.support import container_roots as cr
from tests.support import scenarios as sc
from tests.support.cli import run_gpudoctor
from tests.test_verify_errors import SAMPLES

#: rule id -> the first sample text of test_verify_errors (as the tools print it)
TEXTS = {rule_id: text for rule_id, text, _ in reversed(SAMPLES)}


@pytest.mark.parametrize("rule_id", sorted(TEXTS))
def test_each_text_is_recognised_as_its_cause(rule_id: str) -> None:
    found = find_causes(TEXTS[rule_id])
    assert [c.cause.id for c in found][:1] == [rule_id]


def test_a_compose_log_with_noise_gives_each_cause_once() -> None:
    log = ("\x1b[1A\x1b[2K[+] Running 0/1\r ⠼ Container llamafactory  Starting   0.5s\n"
           + TEXTS["nvidia-driver-not-registered"] + "\nsome unrelated line\n"
           + TEXTS["nvidia-driver-not-registered"] + "\n" + TEXTS["cuda-requirement"] + "\n")
    assert [c.cause.id for c in find_causes(log)] == ["nvidia-driver-not-registered",
                                                     "cuda-requirement"]


def test_unknown_lines_are_not_guessed_at() -> None:
    assert find_causes("Segmentation fault (core dumped)\nKilled\n") == []


# ----- verdicts on host roots -------------------------------------------------------------------
@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("explain")
    return {
        "no_toolkit": cr.toolkit_missing(base / "no_toolkit"),
        "after_daemon": cr.toolkit_installed_after_daemon(base / "after"),
        "good": cr.nvidia_all_good(base / "good"),
        "laptop": sc.amd_laptop_field_guide(base / "laptop"),
    }


def explain(root: Path, text: str) -> tuple[int, dict]:
    run = run_gpudoctor("explain", "--json", "--root", root, "-", input=text)
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(run.stdout)


def verdicts(doc: dict) -> list[tuple[str, str]]:
    return [(c["cause"]["id"], c["verdict"]) for c in doc["causes"]]


def test_the_field_guides_error_is_confirmed_where_the_toolkit_is_missing(roots) -> None:
    code, doc = explain(roots["no_toolkit"], TEXTS["nvidia-driver-not-registered"])
    assert code == 1 and verdicts(doc) == [("nvidia-driver-not-registered", "confirmed")]
    cause = doc["causes"][0]
    assert cause["checks"][0]["id"] == "nvidia.toolkit"
    assert cause["checks"][0]["status"] == "fail"
    assert "nvidia.install_toolkit" in cause["cause"]["fixes"]


def test_installed_after_the_daemon_needs_only_a_restart(roots) -> None:
    code, doc = explain(roots["after_daemon"], TEXTS["gpus-driver-not-registered"])
    assert code == 1 and verdicts(doc) == [("gpus-driver-not-registered", "confirmed")]
    assert doc["causes"][0]["cause"]["fixes"] == ["docker.reload"]
    assert "started before it was there" in doc["causes"][0]["cause"]["summary"]


def test_the_same_error_on_a_healthy_host_is_ruled_out(roots) -> None:
    code, doc = explain(roots["good"], TEXTS["gpus-driver-not-registered"])
    assert code == 0 and verdicts(doc) == [("gpus-driver-not-registered", "ruled out")]


def test_an_nvidia_error_on_an_amd_host_is_ruled_out(roots) -> None:
    code, doc = explain(roots["laptop"], TEXTS["nvidia-driver-not-registered"])
    assert code == 0 and verdicts(doc) == [("nvidia-driver-not-registered", "ruled out")]
    assert "no NVIDIA GPU" in doc["causes"][0]["why"]


def test_a_device_the_host_lacks_is_confirmed_and_one_it_has_ruled_out(roots) -> None:
    text = TEXTS["device-missing-on-host"].replace("/dev/kfd", "/dev/dri/renderD129")
    assert verdicts(explain(roots["laptop"], text)[1]) == [("device-missing-on-host",
                                                            "ruled out")]
    text = text.replace("renderD129", "renderD140")
    code, doc = explain(roots["laptop"], text)
    assert code == 1 and verdicts(doc) == [("device-missing-on-host", "confirmed")]
    assert "/dev/kfd, /dev/dri/renderD128" in doc["causes"][0]["why"]


def test_unknown_text_says_so_and_runs_the_whole_diagnosis(roots) -> None:
    run = run_gpudoctor("explain", "--root", roots["laptop"], "Segmentation fault")
    assert "does not recognise" in run.stdout and "never guesses" in run.stdout
    assert "gpu.present" in run.stdout or "A GPU for containers" in run.stdout
    run = run_gpudoctor("explain", "--json", "--root", roots["laptop"], "Killed")
    doc = json.loads(run.stdout)
    assert doc["recognised"] is False and doc["report"]["schema"] == "gpudoctor.report/1"


def test_text_output_names_the_cause_the_evidence_and_the_fix(roots) -> None:
    run = run_gpudoctor("explain", "--root", roots["no_toolkit"],
                        TEXTS["nvidia-driver-not-registered"])
    assert run.returncode == 1
    assert "confirmed: Docker has no `nvidia` device driver" in run.stdout
    assert "seen: Error response from daemon" in run.stdout
    assert "gpudoctor can fix it: sudo gpudoctor fix nvidia.install_toolkit" in run.stdout


def test_empty_input_is_a_one_line_error(roots) -> None:
    run = run_gpudoctor("explain", "--root", roots["laptop"], "-", input="")
    assert run.returncode == 2 and run.stderr.count("\n") == 1
