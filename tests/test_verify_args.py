"""What verify makes of the person's `docker run` options, the compose file it writes, and the
probe's output. Pure functions; the real-daemon tests are in test_verify_docker.py."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from gpudoctor.errors import UserError
from gpudoctor.verify import (
    LABEL,
    NONROOT_USER,
    compose_service,
    compose_text,
    nonroot_user,
    parse_gpus,
    parse_probe,
    parse_run_args,
)
from tests.support.cli import run_gpudoctor

#: The Compose Specification schema as shipped by Debian's docker-compose 1.29; Compose v2
#: (compose-go) validates files against the same specification.
COMPOSE_SPEC = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")


def test_long_short_and_clustered_options() -> None:
    parsed = parse_run_args([
        "--device=/dev/kfd", "--device", "/tmp/n/renderD128:/dev/dri/renderD128",
        "--group-add", "993", "--group-add=44", "-e", "A=1", "-eB=2", "-u", "1000:1000",
        "--gpus", "all", "--runtime=nvidia", "--security-opt", "seccomp=unconfined",
        "-it", "--rm", "--name", "mine", "-p", "8080:80", "--net=host",
    ])
    assert [(d.host, d.container) for d in parsed.devices] == [
        ("/dev/kfd", "/dev/kfd"), ("/tmp/n/renderD128", "/dev/dri/renderD128")]
    assert parsed.group_add == ["993", "44"] and parsed.numeric_groups == [993, 44]
    assert parsed.env == {"A": "1", "B": "2"}
    assert parsed.user == "1000:1000" and parsed.runtime == "nvidia"
    assert parsed.gpus is not None and parsed.gpus.count == -1
    assert parsed.network  # --net is --network
    # verify names, detaches and removes the container itself; ports are not needed
    assert parsed.dropped == ["--interactive", "--tty", "--rm", "--name=mine",
                              "--publish=8080:80"]
    assert parsed.tokens == [
        "--device=/dev/kfd", "--device=/tmp/n/renderD128:/dev/dri/renderD128",
        "--group-add=993", "--group-add=44", "--env=A=1", "--env=B=2", "--user=1000:1000",
        "--gpus=all", "--runtime=nvidia", "--security-opt=seccomp=unconfined", "--network=host"]


@pytest.mark.parametrize(("argv", "message"), [
    (["busybox"], "is not a docker run option"),
    (["--device"], "--device needs a value"),
    (["-x"], "-x is not a docker run option"),
    (["--device=/dev/dri/by-path/pci-0000:07:00.0-render"], "by-path name has colons"),
    (["--gpus", "most"], "neither `all`"),
    (["--", "--gpus=all"], "second `--`"),
])
def test_bad_arguments_are_one_line_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UserError) as excinfo:
        parse_run_args(argv)
    assert message in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_bad_arguments_exit_2_from_the_command_line() -> None:
    run = run_gpudoctor("verify", "--", "--device=/dev/kfd", "rocm/pytorch")
    assert run.returncode == 2
    assert run.stderr.startswith("gpudoctor: error: `rocm/pytorch` is not a docker run option")
    assert len(run.stderr.strip().splitlines()) == 1
    with_root = run_gpudoctor("verify", "--root", "/nonexistent", "--", "--gpus=all")
    assert with_root.returncode == 2 and "cannot verify a host root" in with_root.stderr


def test_gpus_values_like_the_docker_cli() -> None:
    assert parse_gpus("all").count == -1 and parse_gpus("all").wanted is None
    assert parse_gpus("2").wanted == 2
    ids = parse_gpus('"device=0,2"')
    assert ids.device_ids == ["0", "2"] and ids.wanted == 2
    caps = parse_gpus('count=1,"capabilities=compute,utility",driver=nvidia.cdi')
    assert (caps.count, caps.capabilities, caps.driver) == (1, ["compute", "utility"],
                                                           "nvidia.cdi")


def test_cdi_names_and_permissions_in_device_values() -> None:
    parsed = parse_run_args(["--device=nvidia.com/gpu=all", "--device=/dev/kfd:rw",
                             "--device=/dev/dri/renderD129:/dev/dri/renderD128:rwm"])
    cdi, kfd, render = parsed.devices
    assert cdi.cdi and parsed.cdi_devices == ["nvidia.com/gpu=all"]
    assert (kfd.container, kfd.perms) == ("/dev/kfd", "rw")
    assert (render.host, render.container, render.perms) == (
        "/dev/dri/renderD129", "/dev/dri/renderD128", "rwm")


def test_nonroot_user_is_the_persons_own_when_given() -> None:
    assert nonroot_user(parse_run_args([])) == NONROOT_USER == "65534:65534"
    assert nonroot_user(parse_run_args(["--user=root"])) == NONROOT_USER
    assert nonroot_user(parse_run_args(["-u", "1000:44"])) == "1000:44"


def _compose_doc(argv: list[str], v1: bool = False) -> tuple[str, dict]:
    service = compose_service(parse_run_args(argv), "busybox:latest", "gpudoctor-verify-ab12",
                              "ab12", tool_is_v1=v1)
    text = compose_text(service)
    return text, yaml.safe_load(text)


def test_compose_file_is_valid_compose_spec_with_quoted_gids() -> None:
    text, doc = _compose_doc([
        "--device=/dev/kfd", "--device=/dev/dri/renderD128", "--group-add=993",
        "--group-add=44", "--gpus=all", "--security-opt=seccomp=unconfined", "-e", "X=it's"])
    schema = json.loads(COMPOSE_SPEC.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    validator.validate(doc)
    # the schema really constrains services (so the validation above means something)
    assert not validator.is_valid({"services": {"verify": {"group_add": {"a": 1}}}})
    assert not validator.is_valid({"services": {"verify": {"no_such_key": 1}}})
    service = doc["services"]["verify"]
    # Compose v2 rejects YAML integers in group_add: every GID must be a string.
    assert service["group_add"] == ["993", "44"]
    assert "- '993'" in text
    assert service["devices"] == ["/dev/kfd", "/dev/dri/renderD128"]
    # --gpus=all becomes the field guide's reservation (driver: nvidia), which compose 1.29
    # turns into the Engine API's DeviceRequests.
    assert service["deploy"] == {"resources": {"reservations": {"devices": [
        {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]}}}
    assert service["network_mode"] == "none"
    assert service["environment"] == ["X=it's"]
    assert service["labels"][LABEL] == "ab12"
    assert service["container_name"] == "gpudoctor-verify-ab12"
    assert service["entrypoint"] == ["/bin/sh"]
    # no `version:` key: Compose v2 warns that it is obsolete; 1.29 reads the spec without it
    assert "version" not in doc


def test_compose_file_carries_runtime_user_and_device_ids() -> None:
    _, doc = _compose_doc(['--gpus="device=0,1"', "--runtime=nvidia", "--user=1000"])
    service = doc["services"]["verify"]
    assert service["runtime"] == "nvidia" and service["user"] == "1000"
    assert service["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "device_ids": ["0", "1"], "capabilities": ["gpu"]}]
    jsonschema.Draft201909Validator(json.loads(COMPOSE_SPEC.read_text())).validate(doc)


def test_compose_refuses_what_it_cannot_express() -> None:
    with pytest.raises(UserError) as excinfo:
        _compose_doc(["--memory=1g"])
    assert "cannot carry --memory=1g" in str(excinfo.value)
    with pytest.raises(UserError) as cdi:
        _compose_doc(["--device=nvidia.com/gpu=all"], v1=True)
    assert "docker-compose 1.29 cannot pass CDI devices" in str(cdi.value)
    _, doc = _compose_doc(["--device=nvidia.com/gpu=all"], v1=False)
    assert doc["services"]["verify"]["devices"] == ["nvidia.com/gpu=all"]


def test_probe_output_is_parsed() -> None:
    text = "\n".join([
        "gdv\tuid\t65534", "gdv\tgids\t65534 4242",
        "gdv\tdev\trw\t/dev/kfd\t660 0 4242 1 3",
        "gdv\tdev\tdenied\t/dev/dri/renderD128\t660 0 4243 e2 80\tsh: can't create "
        "/dev/dri/renderD128: Permission denied",
        "gdv\tdev\tmissing\t/dev/dri/renderD129",
        "gdv\tdri\t/dev/dri/renderD128\te2 80",
        "gdv\tnvdev\t/dev/nvidia0", "gdv\tnvenv\tall", "gdv\tnvcaps\t<unset>",
        "gdv\tsmi\t0\t/usr/bin/nvidia-smi", "gdv\tsmiout\tGPU 0: NVIDIA H100 (UUID: GPU-1)",
        "gdv\tend", "noise that is not the probe's"])
    out = parse_probe("65534:65534", text)
    assert out.complete and out.uid == 65534 and out.gids == [65534, 4242]
    kfd = out.devices["/dev/kfd"]
    assert (kfd.state, kfd.mode, kfd.gid, kfd.major, kfd.minor) == ("rw", 0o660, 4242, 1, 3)
    render = out.devices["/dev/dri/renderD128"]
    assert (render.state, render.major, render.minor) == ("denied", 226, 128)
    assert "Permission denied" in render.error
    assert out.devices["/dev/dri/renderD129"].state == "missing"
    assert out.dri == [("/dev/dri/renderD128", 226, 128)]
    assert out.nvidia_nodes == ["/dev/nvidia0"]
    assert (out.nvidia_env, out.nvidia_caps) == ("all", None)
    assert (out.smi_state, out.smi_lines) == ("0", ["GPU 0: NVIDIA H100 (UUID: GPU-1)"])
    assert not parse_probe("root", "gdv\tuid\t0\n").complete  # cut short: no end line


def test_no_daemon_is_a_failure_with_its_cause(tmp_path: Path) -> None:
    from tests.support.verify_support import verify_doc

    run = run_gpudoctor("verify", "--json", "--", "--gpus=all",
                        env={"DOCKER_HOST": f"unix://{tmp_path}/docker.sock"})
    assert run.returncode == 1
    doc = verify_doc(run)
    assert doc["verdict"] == "fail" and doc["container"] is None and doc["commands"] == []
    assert doc["cause"]["id"] == "daemon-unreachable"
    assert doc["error"] == f"no Docker socket at {tmp_path}/docker.sock (is the daemon running?)"
