"""The error table of `gpudoctor verify`: each row, fed the exact text users see, names its cause.

The texts come from shared/reference/nvidia-container-stack.md §2.3/§4 and
amd-container-stack.md §5/§7; those marked "real" were printed by the test suite's dockerd 20.10
and docker CLIs.
"""

from __future__ import annotations

import pytest

from gpudoctor.host.base import CommandResult
from gpudoctor.verify import ERROR_RULES, daemon_message, map_error

# (rule id, exact text, a fragment the cause's summary must contain)
SAMPLES: list[tuple[str, str, str]] = [
    ("gpus-driver-not-registered",
     'docker: Error response from daemon: could not select device driver "" with capabilities: '
     "[[gpu]].", "--gpus"),
    ("nvidia-driver-not-registered",  # the NVIDIA field guide's `docker compose up`
     'Error response from daemon: could not select device driver "nvidia" with capabilities: '
     "[[gpu]]", "`nvidia`"),
    ("nvidia-driver-not-registered",  # Docker >= 29.2 with a forced driver
     'could not select device driver "nvidia.runtime-hook" with capabilities: [[gpu]]',
     "`nvidia.runtime-hook`"),
    ("cdi-disabled", 'could not select device driver "cdi" with capabilities: []', "CDI"),
    ("cdi-spec-stale",
     "Error response from daemon: CDI device injection failed: failed to inject devices: "
     'failed to stat CDI host device "/usr/lib/x86_64-linux-gnu/libEGL_nvidia.so.535.161.07": '
     "no such file or directory", "/usr/lib/x86_64-linux-gnu/libEGL_nvidia.so.535.161.07"),
    ("cdi-spec-stale", "…libEGL_nvidia.so.535.161.07: No such file or directory",
     "libEGL_nvidia.so.535.161.07"),
    ("cdi-unresolvable", "CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=all",
     "nvidia.com/gpu=all"),
    ("cdi-unresolvable",
     "error modifying OCI spec: failed to inject CDI devices: unresolvable CDI devices "
     "nvidia.com/gpu=all", "nvidia.com/gpu=all"),
    ("runtime-unknown",
     "docker: Error response from daemon: unknown or invalid runtime name: nvidia.",
     "runtime named `nvidia`"),
    ("runtime-unknown", "Error response from daemon: Unknown runtime specified nvidia",  # real
     "runtime named `nvidia`"),
    ("runtime-binary-missing",
     "docker: Error response from daemon: OCI runtime create failed: unable to retrieve OCI "
     "runtime error (open /run/containerd/io.containerd.runtime.v2.task/moby/0123/log.json: no "
     'such file or directory): exec: "nvidia-container-runtime": executable file not found in '
     "$PATH: unknown.", "`nvidia-container-runtime`"),
    ("device-missing-on-host",
     "docker: Error response from daemon: error gathering device information while adding "
     'custom device "/dev/kfd": no such file or directory.', "/dev/kfd"),
    ("device-not-a-node",  # real
     "Error response from daemon: error gathering device information while adding custom "
     'device "/etc/hosts": not a device node', "/etc/hosts"),
    ("device-path-with-colon", "docker: bad mode specified: 00.0-render", "colon"),  # real
    ("group-unknown-in-image",  # real
     "Error response from daemon: Unable to find group nosuch: no matching entries in group "
     "file", "`nosuch`"),
    ("group-unknown-in-image", "unable to find group render: no matching entries in group file",
     "`render`"),
    ("compose-group-add-int",
     "'group_add[0]' expected type 'string', got unconvertible type 'int', value: '109'",
     "quoted"),
    ("nvml-library-missing",
     "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: "
     "cannot open shared object file: no such file or directory: unknown", "libnvidia-ml.so.1"),
    ("nvml-version-mismatch",
     "nvidia-container-cli: initialization error: nvml error: driver/library version mismatch: "
     "unknown", "different versions"),
    ("nvml-version-mismatch", "Failed to initialize NVML: Driver/library version mismatch",
     "different versions"),
    ("nvml-driver-not-loaded",
     "nvidia-container-cli: initialization error: nvml error: driver not loaded: unknown",
     "not loaded"),
    ("nvml-insufficient-permissions",
     "nvidia-container-cli: initialization error: nvml error: insufficient permissions: unknown",
     "/dev/nvidia*"),
    ("nvml-insufficient-permissions", "Failed to initialize NVML: Insufficient Permissions",
     "/dev/nvidia*"),
    ("nvml-unknown-error", "Failed to initialize NVML: Unknown Error", "lost"),
    ("rootless-device-cgroup",
     "nvidia-container-cli: mount error: failed to add device rules: unable to find any existing "
     "device filters attached to the cgroup: bpf_prog_query(BPF_CGROUP_DEVICE) failed: operation "
     "not permitted: unknown", "rootless"),
    ("rootless-device-cgroup",
     "nvidia-container-cli: mount error: open failed: "
     "/sys/fs/cgroup/devices/user.slice/devices.allow: permission denied: unknown", "rootless"),
    ("cuda-requirement",
     "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8, please update "
     "your driver to a newer version, or use an earlier cuda container: unknown", "cuda>=12.8"),
    ("wsl-no-adapters",
     "nvidia-container-cli: initialization error: WSL environment detected but no adapters were "
     "found: unknown", "WSL"),
    ("ldconfig-path",
     "nvidia-container-cli: ldcache error: open failed: /sbin/ldconfig.real: no such file or "
     "directory: unknown", "ldconfig"),
    ("ldconfig-path",
     "nvidia-container-cli: ldcache error: process /sbin/ldconfig.real failed with error code: "
     "1: unknown", "ldconfig"),
    ("hook-mode-not-legacy",
     "stderr: Using requested mode 'cdi'\ninvoking the NVIDIA Container Runtime Hook directly "
     "(e.g. specifying the docker --gpus flag) is not supported. Please use the NVIDIA Container "
     "Runtime (e.g. specify the --runtime=nvidia flag) instead.: unknown", "CDI/CSV mode"),
    ("driver-libs-in-image",
     "nvidia-container-cli: mount error: file creation failed: "
     "/var/lib/docker/overlay2/0123/merged/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1: file "
     "exists: unknown", "collide"),
    ("imex-channel",
     "nvidia-container-cli: error parsing IMEX info: unsupported IMEX channel value: all",
     "1.17.0"),
    ("kfd-permission-denied", "Unable to open /dev/kfd read-write: Permission denied",
     "/dev/kfd"),
    ("kfd-permission-denied", "sh: can't create /dev/kfd: Permission denied", "/dev/kfd"),
    ("kfd-not-permitted", "Unable to open /dev/kfd read-write: Operation not permitted",
     "device cgroup"),
    ("no-gpu-visible", "No devices were found", "no GPU"),
    ("nvidia-container-cli",
     "nvidia-container-cli: detection error: nvml error: unknown error: unknown",
     "detection error"),
    ("image-no-shell",  # real (an image without a shell)
     "Error response from daemon: failed to create shim task: OCI runtime create failed: runc "
     'create failed: unable to start container process: exec: "/bin/sh": stat /bin/sh: no such '
     "file or directory: unknown", "/bin/sh"),
    ("image-missing", "Error: No such image: nosuch:tag", "nosuch:tag"),
    ("image-missing", "Unable to find image 'nosuch:latest' locally", "nosuch:latest"),
    ("image-missing",
     "pull access denied for nosuch, repository does not exist or may require 'docker login'",
     "nosuch"),
    ("daemon-permission",
     "Got permission denied while trying to connect to the Docker daemon socket at "
     'unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/info": dial '
     "unix /var/run/docker.sock: connect: permission denied", "socket"),
    ("daemon-unreachable",
     "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon "
     "running?", "no Docker daemon"),
    ("daemon-unreachable", "no Docker socket at /var/run/docker.sock (is the daemon running?)",
     "no Docker daemon"),
    ("gpus-flag-unknown", "unknown flag: --gpus", "19.03"),
    ("hip-no-binary",
     "hipErrorNoBinaryForGpu: Unable to find code object for all current "
                     "devices!",
     "gfx target"),
    ("rocm-no-device",
     "ggml_cuda_init: failed to initialize ROCm: no ROCm-capable device is "
                      "detected",
     "ROCm"),
    ("hsa-out-of-resources",
     "hsa api call failure at: /long_pathname/rocminfo/rocminfo.cc:1306\n"
                            "Call returned HSA_STATUS_ERROR_OUT_OF_RESOURCES: The runtime failed "
                            "to allocate the necessary resources.",
     "HSA"),
    ("render-node-permission",
     "libva error: /dev/dri/renderD128: Permission denied",
     "/dev/dri/renderD128"),
    ("level-zero-no-device",
     "terminate called after throwing an instance of "
                            "'sycl::_V1::runtime_error'\n  what():  No device of requested type "
                            "available. -1 (PI_ERROR_DEVICE_NOT_FOUND)",
     "Level Zero"),
    ("cuda-driver-too-old",
     "RuntimeError: CUDA error: CUDA driver version is insufficient for "
                           "CUDA runtime version",
     "newer than the host driver"),
    ("cuda-no-device",
     "RuntimeError: CUDA error: no CUDA-capable device is detected",
     "no GPU"),
    ("cuda-system-not-ready",
     "RuntimeError: CUDA error: system not yet initialized",
     "802"),
    ("compose-v1-gpus",
     "ERROR: The Compose file './docker-compose.yml' is invalid because:\n"
                       "Unsupported config option for services.app: 'gpus'",
     "service app"),
    ("compose-capabilities-required",
     "validating compose.yaml: services.app.deploy.resources."
                                     "reservations.devices.0 capabilities is required",
     "capabilities"),
]


@pytest.mark.parametrize(("rule_id", "text", "fragment"), SAMPLES,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SAMPLES)])
def test_each_row_maps_its_exact_text(rule_id: str, text: str, fragment: str) -> None:
    cause = map_error(text)
    assert cause is not None, f"no rule matched: {text}"
    assert cause.id == rule_id
    assert fragment in cause.summary
    assert cause.remedy and cause.details
    assert "$" not in cause.summary.replace("$PATH", "")  # every placeholder was filled
    # the matched text is the line a person would search the web for
    assert cause.matched and cause.matched in text


def test_every_row_has_a_sample_and_a_source() -> None:
    assert [r.id for r in ERROR_RULES if not r.source] == []
    covered = {rule_id for rule_id, _, _ in SAMPLES}
    assert [r.id for r in ERROR_RULES if r.id not in covered] == []


def test_rows_point_at_real_checks_and_fixes() -> None:
    from gpudoctor import registry

    reg = registry.load(third_party=False)
    checks = {c.id for c in reg.ordered_checks(include_opt_in=True)}
    fixes = set(reg.fixes)
    for rule in ERROR_RULES:
        assert set(rule.checks) <= checks, rule.id
        assert set(rule.fixes) <= fixes, rule.id


def test_hook_rows_offer_install_then_restart() -> None:
    for text in ('could not select device driver "" with capabilities: [[gpu]]',
                 'could not select device driver "nvidia" with capabilities: [[gpu]]'):
        cause = map_error(text)
        assert cause is not None
        assert cause.fixes == ("nvidia.install_toolkit", "docker.reload")
        assert "restart" in cause.remedy and "reload is not enough" in cause.remedy


def test_specific_nvml_rows_win_over_the_catch_all() -> None:
    text = ("docker: Error response from daemon: OCI runtime create failed: container_linux.go:"
            "380: starting container process caused: process_linux.go:545: container init "
            "caused: Running hook #0:: error running hook: exit status 1, stdout: , stderr: "
            "Auto-detected mode as 'legacy'\nnvidia-container-cli: initialization error: nvml "
            "error: driver not loaded: unknown.")
    cause = map_error(text)
    assert cause is not None and cause.id == "nvml-driver-not-loaded"
    assert cause.matched.startswith("nvidia-container-cli: initialization error")


def test_unknown_text_maps_to_nothing() -> None:
    assert map_error("") is None
    assert map_error("everything is fine") is None


def test_daemon_message_keeps_the_daemons_words_only() -> None:
    start = CommandResult(("docker", "start", "x"), 1, "",
                          'Error response from daemon: could not select device driver "" with '
                          "capabilities: [[gpu]]\nError: failed to start containers: x\n")
    assert daemon_message(start) == ('Error response from daemon: could not select device '
                                     'driver "" with capabilities: [[gpu]]')
    compose_v1 = CommandResult(
        ("docker-compose", "up"), 1, "",
        "Creating gpudoctor-verify-1 ... \nCreating gpudoctor-verify-1 ... error\n\nERROR: for "
        "gpudoctor-verify-1  Cannot start service verify: could not select device driver "
        '"nvidia" with capabilities: [[gpu]]\n\nERROR: for verify  Cannot start service verify: '
        'could not select device driver "nvidia" with capabilities: [[gpu]]\nEncountered errors '
        "while bringing up the project.\n")
    assert daemon_message(compose_v1) == ('Cannot start service verify: could not select device '
                                          'driver "nvidia" with capabilities: [[gpu]]')
    hung = CommandResult(("docker", "start", "x"), None, timed_out=True, timeout=90.0)
    assert daemon_message(hung) == "`docker start x` did not finish within 90 s"
