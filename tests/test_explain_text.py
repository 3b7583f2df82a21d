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


# ----- every row that a host can confirm: where present, and where absent ---------------------
def _edit_host_json(root: Path, change) -> Path:
    path = root / ".gpudoctor/host.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return root


def _user_without_groups(doc: dict) -> None:
    doc["user"]["groups"] = [doc["user"]["gid"]]


def _no_kfd(doc: dict) -> None:
    doc["device_nodes"].pop("/dev/kfd", None)


def _daemon_down(doc: dict) -> None:
    doc["docker"] = {"error": "Cannot connect to the Docker daemon at "
                              "unix:///var/run/docker.sock. Is the docker daemon running?"}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("explain-matrix")
    laptop_nogroups = sc.amd_laptop_field_guide(base / "laptop_nogroups")
    laptop_nokfd = sc.amd_laptop_field_guide(base / "laptop_nokfd")
    (laptop_nokfd / "dev/kfd").unlink(missing_ok=True)
    return {
        "no_toolkit": cr.toolkit_missing(base / "no_toolkit"),
        "good": cr.nvidia_all_good(base / "good"),
        "stale_cdi": cr.stale_cdi_spec(base / "stale"),
        "cdi": cr.cdi_only(base / "cdi"),
        "rootless": cr.rootless_docker(base / "rootless"),
        "rootless_ok": cr.rootless_docker(base / "rootless_ok", no_cgroups=True),
        "nouveau": sc.nvidia_nouveau(base / "nouveau"),
        "vm": sc.vm_no_gpu(base / "vm"),
        "laptop": sc.amd_laptop_field_guide(base / "laptop"),
        "laptop_nogroups": _edit_host_json(laptop_nogroups, _user_without_groups),
        "laptop_nokfd": _edit_host_json(laptop_nokfd, _no_kfd),
        "daemon_down": _edit_host_json(cr.nvidia_all_good(base / "down"), _daemon_down),
    }


#: rule id -> (a root where the cause is present, one where it is absent)
PRESENT_ABSENT = {
    "gpus-driver-not-registered": ("no_toolkit", "good"),
    "nvidia-driver-not-registered": ("no_toolkit", "laptop"),
    "cdi-spec-stale": ("stale_cdi", "cdi"),
    "cdi-unresolvable": ("stale_cdi", "cdi"),
    "runtime-unknown": ("no_toolkit", "good"),
    "runtime-binary-missing": ("no_toolkit", "good"),
    "nvml-library-missing": ("nouveau", "good"),
    "nvml-version-mismatch": ("nouveau", "good"),
    "nvml-driver-not-loaded": ("nouveau", "good"),
    "nvml-insufficient-permissions": ("nouveau", "good"),
    "rootless-device-cgroup": ("rootless", "rootless_ok"),
    "ldconfig-path": ("no_toolkit", "good"),
    "hook-mode-not-legacy": ("no_toolkit", "good"),
    "imex-channel": ("no_toolkit", "good"),
    "kfd-not-permitted": ("laptop_nokfd", "nouveau"),
    "no-gpu-visible": ("nouveau", "good"),
    "nvidia-container-cli": ("no_toolkit", "good"),
    "daemon-permission": ("daemon_down", "good"),
    "daemon-unreachable": ("daemon_down", "good"),
    "rocm-no-device": ("laptop_nokfd", "nouveau"),
    "cuda-no-device": ("nouveau", "laptop"),
}


@pytest.mark.parametrize("rule_id", sorted(PRESENT_ABSENT))
def test_confirmed_where_present_and_ruled_out_where_absent(rule_id: str, matrix) -> None:
    from gpudoctor.explain.judge import judge
    from gpudoctor.facts import Options
    from gpudoctor.host import open_host
    from gpudoctor.report import Doctor

    present, absent = PRESENT_ABSENT[rule_id]
    for root, wanted in ((present, "confirmed"), (absent, "ruled out")):
        doctor = Doctor(host=open_host(str(matrix[root])), options=Options())
        got = [(v.cause.id, v.verdict) for v in judge(doctor, find_causes(TEXTS[rule_id]))]
        assert got == [(rule_id, wanted)], (root, got)


def test_rows_no_host_check_decides_say_so() -> None:
    """Rows about the command, the image or the file: explained from the text alone."""
    from gpudoctor.verify.causes import ERROR_RULES

    text_only = {r.id for r in ERROR_RULES if not r.checks}
    decided = set(PRESENT_ABSENT) | {"device-missing-on-host", "cdi-disabled",
                                     "cuda-requirement", "level-zero-no-device",
                                     "wsl-no-adapters", "hip-no-binary", *PERMISSION}
    assert text_only | decided == {r.id for r in ERROR_RULES}


PERMISSION = ("kfd-permission-denied", "render-node-permission", "hsa-out-of-resources")


@pytest.mark.parametrize("rule_id", PERMISSION)
def test_permission_errors_name_the_groups_the_container_needs(rule_id: str, matrix) -> None:
    from gpudoctor.explain.judge import judge
    from gpudoctor.facts import Options
    from gpudoctor.host import open_host
    from gpudoctor.report import Doctor

    doctor = Doctor(host=open_host(str(matrix["laptop"])), options=Options())
    (verdict,) = judge(doctor, find_causes(TEXTS[rule_id]))
    assert verdict.verdict == "from the text" and "--group-add=110" in verdict.why
    doctor = Doctor(host=open_host(str(matrix["nouveau"])), options=Options())
    (verdict,) = judge(doctor, find_causes(TEXTS[rule_id]))
    if rule_id == "render-node-permission":  # vendor-neutral: nouveau gives no node to judge
        assert verdict.verdict == "cannot tell here"
    else:
        assert verdict.verdict == "ruled out" and "no AMD GPU" in verdict.why
