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

from gpudoctor import registry
from gpudoctor.explain.text import find_causes
from gpudoctor.verify.causes import ERROR_RULES
from tests.support import container_roots as cr
from tests.support import scenarios as sc
from tests.support.cli import run_gpudoctor

#: rule id -> the error text as a person gets it
TEXTS = {
    "gpus-driver-not-registered": 'docker: Error response from daemon: could not select device '
                                  'driver "" with capabilities: [[gpu]].',
    "nvidia-driver-not-registered": 'Error response from daemon: could not select device driver '
                                    '"nvidia" with capabilities: [[gpu]]',
    "cdi-disabled": 'docker: Error response from daemon: could not select device driver "cdi" '
                    "with capabilities: [].",
    "cdi-spec-stale": 'Error: failed to create containerd task: CDI: failed to inject devices: '
                      '"/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15": no such file or '
                      "directory",
    "cdi-unresolvable": "docker: Error response from daemon: failed to inject CDI devices: "
                        "unresolvable CDI devices nvidia.com/gpu=all.",
    "runtime-unknown": "docker: Error response from daemon: unknown or invalid runtime name: "
                       "nvidia.",
    "runtime-binary-missing": 'docker: Error response from daemon: failed to create task for '
                              'container: exec: "nvidia-container-runtime": executable file not '
                              "found in $PATH: unknown.",
    "device-missing-on-host": "docker: Error response from daemon: error gathering device "
                              'information while adding custom device "/dev/kfd": no such file '
                              "or directory.",
    "device-not-a-node": "docker: Error response from daemon: error gathering device information "
                         'while adding custom device "/dev/dri/by-path": not a device node.',
    "device-path-with-colon": "docker: Error response from daemon: bad mode specified: "
                              "00.0-render.",
    "group-unknown-in-image": "docker: Error response from daemon: Unable to find group render: "
                              "no matching entries in group file.",
    "compose-group-add-int": "services.app.group_add: 'group_add[0]' expected type 'string', got "
                             "unconvertible type 'int', value: '109'",
    "nvml-library-missing": "nvidia-container-cli: initialization error: load library failed: "
                            "libnvidia-ml.so.1: cannot open shared object file: no such file or "
                            "directory: unknown.",
    "nvml-version-mismatch": "Failed to initialize NVML: Driver/library version mismatch",
    "nvml-driver-not-loaded": "nvidia-container-cli: initialization error: nvml error: driver "
                              "not loaded: unknown.",
    "nvml-insufficient-permissions": "nvidia-container-cli: initialization error: nvml error: "
                                     "insufficient permissions: unknown.",
    "nvml-unknown-error": "Failed to initialize NVML: Unknown Error",
    "rootless-device-cgroup": "nvidia-container-cli: mount error: failed to add device rules: "
                              "unable to find any existing device filters attached to the cgroup:"
                              " bpf_prog_query(BPF_CGROUP_DEVICE) failed: operation not "
                              "permitted: unknown.",
    "cuda-requirement": "nvidia-container-cli: requirement error: unsatisfied condition: "
                        "cuda>=12.8, please update your driver to a newer version, or use an "
                        "earlier cuda container: unknown.",
    "wsl-no-adapters": "nvidia-container-cli: initialization error: WSL environment detected "
                       "but no adapters were found: unknown.",
    "ldconfig-path": "nvidia-container-cli: ldcache error: open failed: /sbin/ldconfig.real: no "
                     "such file or directory: unknown.",
    "hook-mode-not-legacy": "invoking the NVIDIA Container Runtime Hook directly (e.g. specifying "
                            "the docker --gpus flag) is not supported. Please use the NVIDIA "
                            "Container Runtime (e.g. specify the --runtime=nvidia flag) instead."
                            ": unknown.",
    "driver-libs-in-image": "nvidia-container-cli: mount error: file creation failed: "
                            "/var/lib/docker/overlay2/x/merged/usr/lib/x86_64-linux-gnu/"
                            "libnvidia-ml.so.1: file exists: unknown.",
    "imex-channel": "error running hook: unsupported IMEX channel value: all",
    "kfd-permission-denied": "Unable to open /dev/kfd read-write: Permission denied",
    "kfd-not-permitted": "Unable to open /dev/kfd read-write: Operation not permitted",
    "no-gpu-visible": "No devices were found",
    "nvidia-container-cli": "nvidia-container-cli: detection error: open failed: /dev/nvidia0: "
                            "no such device or address: unknown.",
    "image-no-shell": 'OCI runtime create failed: runc create failed: unable to start container '
                      'process: exec: "/bin/sh": stat /bin/sh: no such file or directory: '
                      "unknown.",
    "image-missing": "Error response from daemon: No such image: rocm/pytorch:latest",
    "daemon-permission": "permission denied while trying to connect to the Docker daemon socket "
                         "at unix:///var/run/docker.sock: Get \"http://%2Fvar%2Frun%2Fdocker.sock"
                         "/v1.24/containers/json\": dial unix /var/run/docker.sock: connect: "
                         "permission denied",
    "daemon-unreachable": "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                          "Is the docker daemon running?",
    "hip-no-binary": "hipErrorNoBinaryForGpu: Unable to find code object for all current "
                     "devices!",
    "rocm-no-device": "ggml_cuda_init: failed to initialize ROCm: no ROCm-capable device is "
                      "detected",
    "hsa-out-of-resources": "hsa api call failure at: /long_pathname/rocminfo/rocminfo.cc:1306\n"
                            "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed "
                            "to allocate the necessary resources.",
    "render-node-permission": "libva error: /dev/dri/renderD128: Permission denied",
    "level-zero-no-device": "terminate called after throwing an instance of "
                            "'sycl::_V1::runtime_error'\n  what():  No device of requested type "
                            "available. -1 (PI_ERROR_DEVICE_NOT_FOUND)",
    "cuda-driver-too-old": "RuntimeError: CUDA error: CUDA driver version is insufficient for "
                           "CUDA runtime version",
    "cuda-no-device": "RuntimeError: CUDA error: no CUDA-capable device is detected",
    "cuda-system-not-ready": "RuntimeError: CUDA error: system not yet initialized",
    "compose-v1-gpus": "ERROR: The Compose file './docker-compose.yml' is invalid because:\n"
                       "Unsupported config option for services.app: 'gpus'",
    "compose-capabilities-required": "validating compose.yaml: services.app.deploy.resources."
                                     "reservations.devices.0 capabilities is required",
    "gpus-flag-unknown": "unknown flag: --gpus\nSee 'docker run --help'.",
}


def test_every_rule_has_a_real_text_and_a_source() -> None:
    assert set(TEXTS) == {r.id for r in ERROR_RULES}


@pytest.mark.parametrize("rule_id", sorted(TEXTS))
def test_each_text_is_recognised_as_its_cause(rule_id: str) -> None:
    found = find_causes(TEXTS[rule_id])
    assert [c.cause.id for c in found][:1] == [rule_id]


def test_the_table_names_only_checks_and_fixes_that_exist() -> None:
    reg = registry.load(third_party=False)
    checks = {c.id for c in reg.ordered_checks(include_opt_in=True)}
    for rule in ERROR_RULES:
        assert set(rule.checks) <= checks, rule.id
        assert set(rule.fixes) <= set(reg.fixes), rule.id


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
